package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Issue 19, "fail safe", as a user meets it: processes killed with
// SIGKILL in the middle of a disclosure or a capture, and the commands
// that follow. To stop a process exactly where the test wants it, a file
// it reads is replaced by a named pipe the test feeds: the process blocks
// in its read, mid-way, until the test kills it. No sleep, no timing.

// killSetup is a data directory with a generated key, and the command
// line around the binary.
type killSetup struct {
	bin, dir, data string
	env            []string
}

func newKillSetup(t *testing.T, config string) *killSetup {
	t.Helper()
	s := &killSetup{bin: custosBinary(t), dir: t.TempDir()}
	s.data = filepath.Join(s.dir, "data")
	cfg := filepath.Join(s.dir, "custos.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = []string{"CUSTOS_DATA_DIR=" + s.data, "CUSTOS_CONFIG=" + cfg, "CUSTOS_ACTOR=custodian@example.net",
		"CUSTOS_KEY_PASSPHRASE=kill test passphrase", "CUSTOS_LOG_CHECKPOINT_INTERVAL=200ms"}
	s.run(t, "keys", "generate")
	return s
}

func (s *killSetup) command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), s.env...)
	return cmd
}

// run runs custos and returns its standard output, failing the test if
// it fails.
func (s *killSetup) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := s.command(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("custos %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// addOrder receives an order and returns its id.
func (s *killSetup) addOrder(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(s.run(t, "order", "add", "--reference", "LE-19", "--authority", "Court", "--requesting-state", "DE",
		"--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:alice@example.net", "--categories", "content"))
}

// startKilled starts custos ARGS, waits until it has opened the named
// pipe fifo for reading and taken feed from it, and kills it with
// SIGKILL; the process is then blocked in a read of the pipe. A process
// that ends before it opens the pipe fails the test.
func (s *killSetup) startKilled(t *testing.T, fifo string, feed []byte, check func(), args ...string) {
	t.Helper()
	cmd, out, done := s.start(t, args...)
	opened := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // returns once the reader has opened it
		if err != nil {
			t.Error(err)
		}
		opened <- w
	}()
	var w *os.File
	select {
	case w = <-opened:
	case err := <-done:
		// Let the opener go, then fail.
		if r, oerr := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); oerr == nil {
			(<-opened).Close()
			r.Close()
		}
		t.Fatalf("custos %s ended before it read the pipe: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	defer w.Close()
	if _, err := w.Write(feed); err != nil { // returns once the reader took all but a pipe's buffer of it
		t.Fatal(err)
	}
	check()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done //nolint:errcheck // killed: its status says so
}

// evidence is 8 MiB that differ by block, none of it zeros.
func evidence() []byte {
	b := make([]byte, 8<<20)
	for i := 0; i < len(b); i += 1 << 16 {
		copy(b[i:], fmt.Sprintf("block %d of the kill test's evidence, which must not outlive a killed disclosure\n", i>>16))
	}
	return b
}

// privateTree fails the test for any file or directory under root that
// others may read, and returns whether any file holds needle.
func privateTree(t *testing.T, root string, needle []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if p != root && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read it", p, fi.Mode().Perm())
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			found = found || bytes.Contains(b, needle)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return found
}

// TestDiscloseKilledLeavesNoReadableCopy: `custos disclose` killed with
// SIGKILL while it copies an 8 MiB item into its package. At that moment
// nothing it wrote may be read by others, and nothing is beside --out;
// the next command (a reader) removes what it left, the next writer logs
// disclosure.abandoned, and a disclosure then succeeds and verifies.
func TestDiscloseKilledLeavesNoReadableCopy(t *testing.T) {
	s := newKillSetup(t, "actor: custodian@example.net\n")
	content := evidence()
	export := filepath.Join(s.dir, "export", "evidence.bin")
	if err := os.MkdirAll(filepath.Dir(export), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(export, content, 0o600); err != nil {
		t.Fatal(err)
	}
	id := s.addOrder(t)
	s.run(t, "capture", "--source", "file://"+export, id)
	s.run(t, "order", "verify-requester", "--method", "callback", "--result", "confirmed", "--note", "called the authority back", id)

	// The stored item becomes a pipe the test feeds.
	sum := sha256.Sum256(content)
	obj := filepath.Join(s.data, "store", "objects", "orders", id, "items", hex.EncodeToString(sum[:]))
	mode := mustMode(t, obj)
	if err := os.Remove(obj); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(obj, 0o600); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(s.dir, "out")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(s.data, "work")
	needle := content[1<<20 : 1<<20+4096] // well inside what the pipe has passed on
	s.startKilled(t, obj, content[:4<<20], func() {
		inWork := privateTree(t, work, needle)
		besideOut := privateTree(t, outDir, needle)
		if !inWork && !besideOut {
			t.Fatal("no copy of the evidence was being written: the test did not stop the disclosure where it meant to")
		}
		if besideOut {
			t.Error("a copy of the evidence is beside --out while the disclosure runs")
		}
	}, "disclose", "--out", filepath.Join(outDir, "pkg.zip"), id)

	if err := os.Remove(obj); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(obj, content, mode); err != nil {
		t.Fatal(err)
	}
	s.run(t, "order", "list") // the next command, a reader
	if privateTree(t, work, needle) || privateTree(t, outDir, needle) {
		t.Fatal("a copy of the evidence outlived the next command")
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Errorf("beside --out after the next command: %v", entries)
	}
	s.run(t, "log", "note", "--order", id, "after the kill") // the next writer
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("work left after the next writer: %v", entries)
	}
	if log := s.run(t, "log", "show", "--order", id); strings.Count(log, "disclosure.abandoned") != 1 || strings.Contains(log, "disclosure.created") {
		t.Fatalf("the order's events after the kill:\n%s", log)
	}
	pkg := filepath.Join(outDir, "pkg.zip")
	s.run(t, "disclose", "--out", pkg, id)
	s.run(t, "verify", "--key", filepath.Join(s.data, "keys", "custos.key.vkey"), pkg)
	if m := mustMode(t, pkg).Perm(); m&0o077 != 0 {
		t.Errorf("the package has mode %v", m)
	}
}

func mustMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// TestCaptureKilledIsRecordedAtTheNextStart: `custos capture` killed with
// SIGKILL while its source runs leaves capture.started alone in the log.
// A reader's start cannot write and records nothing; the next writer's
// start, whatever its command, records capture.failed (interrupted), once.
func TestCaptureKilledIsRecordedAtTheNextStart(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "export.pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newKillSetup(t, "actor: custodian@example.net\nsources:\n  slow:\n    type: command\n    categories: [content]\n"+
		"    argv: [/bin/cat, "+fifo+"]\n")
	id := s.addOrder(t)
	s.startKilled(t, fifo, []byte("half of an export\n"), func() {}, "capture", "--source", "slow", id)

	s.run(t, "order", "show", id)
	if log := s.run(t, "log", "show", "--order", id); !strings.Contains(log, "capture.started") || strings.Contains(log, "capture.failed") {
		t.Fatalf("before a writer starts:\n%s", log)
	}
	s.run(t, "log", "note", "--order", id, "after the kill")
	s.run(t, "log", "note", "--order", id, "and again")
	log := s.run(t, "log", "show", "--order", id)
	if strings.Count(log, "capture.failed") != 1 || !strings.Contains(log, "interrupted") {
		t.Fatalf("after the next writer's start:\n%s", log)
	}
	if strings.Index(log, "capture.failed") > strings.Index(log, "after the kill") {
		t.Fatalf("capture.failed was not recorded at the start, before the command's own event:\n%s", log)
	}
}

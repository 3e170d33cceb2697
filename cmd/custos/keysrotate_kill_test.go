package main

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/witnesstest"
)

// TestKeysRotateKilled kills `custos keys rotate` with SIGKILL right
// after the log's key.rotated event is durable: the witness holds the
// request that carries the checkpoint signed by both keys, and the test
// kills the process while it waits for the answer. The log then refuses
// other writers, saying what to do, and changes nothing; `custos keys
// rotate` run again finishes the rotation (the checkpoint both keys sign,
// cosigned by the witness; the new key installed; the certificate
// written), and the log and packages from before and after the rotation
// verify with the old key and with the new.
func TestKeysRotateKilled(t *testing.T) {
	s := newKillSetup(t, "")
	oldVKey := filepath.Join(s.dir, "old.vkey")
	line := mustRead(t, filepath.Join(s.data, "keys", "custos.key.vkey"))
	if err := os.WriteFile(oldVKey, line, 0o644); err != nil {
		t.Fatal(err)
	}
	trust := vkeyTrust(t, oldVKey)
	w, err := witnesstest.New("ed.witness.test", witnesstest.Ed25519, trust.Note)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	policy := filepath.Join(s.dir, "witnesses.policy")
	if err := os.WriteFile(policy, witnesstest.Policy(1, w), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "CUSTOS_LOG_WITNESSES="+policy, "CUSTOS_LOG_WITNESS_FAIL_OPEN=false",
		"CUSTOS_NEW_KEY_PASSPHRASE=new kill test passphrase")
	writeTree(t, s.dir, map[string]string{"export/mail/a.eml": "From: alice\nhi\n"})
	id := s.addOrder(t)
	s.run(t, "capture", "--source", "file://"+filepath.Join(s.dir, "export"), "--category", "content", id)
	s.run(t, "order", "verify-requester", "--method", "callback", "--result", "confirmed", "--note", "called the authority back", id)
	pkgBefore := filepath.Join(s.dir, "pkg-before")
	s.run(t, "disclose", "--out", pkgBefore, id)

	// The witness holds the first checkpoint signed by two keys.
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	defer releaseAll()
	w.BeforeAnswer(func(cp []byte) {
		if bytes.Count(cp, []byte("\n— ")) >= 2 {
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
		}
	})
	killRotateAtDualCheckpoint(t, s, held)
	releaseAll()
	w.BeforeAnswer(nil)

	logDir := filepath.Join(s.data, "log")
	pending, err := chain.PendingRotation(t.Context(), os.DirFS(logDir))
	if err != nil || pending == nil {
		t.Fatalf("after the kill: pending rotation %v, %v; want the key.rotated entry", pending, err)
	}
	if got := mustRead(t, filepath.Join(s.data, "keys", "custos.key.vkey")); !bytes.Equal(got, line) {
		t.Fatal("the key file changed though the rotation was killed")
	}
	if _, err := os.Stat(filepath.Join(s.data, "keys", "custos.key.next")); err != nil {
		t.Fatalf("the staged new key: %v", err)
	}

	// Another writer is refused, says what to do, and changes nothing.
	before := logFiles(t, logDir)
	code, out := s.exit(t, "log", "note", "--order", id, "after the kill")
	if code != exitError || !strings.Contains(out, "unfinished") || !strings.Contains(out, "run custos keys rotate again") {
		t.Fatalf("log note beside an unfinished rotation: exit %d\n%s", code, out)
	}
	if !maps.Equal(logFiles(t, logDir), before) {
		t.Fatal("the refused writer changed the log")
	}

	// keys rotate again without the staged key: refused, saying where
	// the key must be, and nothing changes.
	staged := filepath.Join(s.data, "keys", "custos.key.next")
	aside := filepath.Join(s.dir, "staged.key")
	if err := os.Rename(staged, aside); err != nil {
		t.Fatal(err)
	}
	code, out = s.exit(t, "keys", "rotate")
	if code != exitUsage || !strings.Contains(out, "staged at "+staged+", is missing") {
		t.Fatalf("keys rotate without the staged key: exit %d\n%s", code, out)
	}
	if !maps.Equal(logFiles(t, logDir), before) {
		t.Fatal("keys rotate without the staged key changed the log")
	}
	if err := os.Rename(aside, staged); err != nil {
		t.Fatal(err)
	}

	out = s.run(t, "keys", "rotate")
	m := regexp.MustCompile(`(?m)^checkpoint: +size ([0-9]+), signed by both keys$`).FindStringSubmatch(out)
	if !strings.Contains(out, "finished:") || m == nil {
		t.Fatalf("keys rotate run again:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(logDir, chain.CosignaturesDir, m[1])); err != nil {
		t.Fatalf("the checkpoint both keys signed was not cosigned: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.data, "keys", "custos.key.next")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the staged key was not installed: %v", err)
	}
	newVKey := filepath.Join(s.data, "keys", "custos.key.vkey")
	newTrust := vkeyTrust(t, newVKey)
	// The witness's operator learns the new key, as after any rotation.
	w.TrustLogKey(newTrust.Note)
	certs, err := filepath.Glob(filepath.Join(s.data, "keys", "rotations", "*.rotation"))
	if err != nil || len(certs) != 1 {
		t.Fatalf("rotation certificates: %v, %v", certs, err)
	}

	s.env = append(s.env, "CUSTOS_KEY_PASSPHRASE=new kill test passphrase")
	// Disclosed at once, the package's checkpoint is the one both keys
	// signed, with the witness's cosignature.
	pkgRot := filepath.Join(s.dir, "pkg-rot")
	s.run(t, "disclose", "--out", pkgRot, id)
	if cp := mustRead(t, filepath.Join(pkgRot, "custody", "checkpoint")); bytes.Count(cp, []byte("\n— ")) != 3 || !bytes.Contains(cp, []byte("\n— "+w.Name+" ")) {
		t.Fatalf("the package disclosed after the rotation does not carry the checkpoint both keys signed, cosigned:\n%s", cp)
	}
	s.run(t, "log", "note", "--order", id, "after the rotation")
	pkgAfter := filepath.Join(s.dir, "pkg-after")
	s.run(t, "disclose", "--out", pkgAfter, id)
	for _, key := range []string{oldVKey, newVKey} {
		if out := s.run(t, "log", "verify", "--key", key); !strings.Contains(out, "signed by both") {
			t.Fatalf("log verify --key %s names no rotation:\n%s", key, out)
		}
		for _, pkg := range []string{pkgBefore, pkgRot, pkgAfter} {
			s.run(t, "verify", "--key", key, "--rotation", certs[0], "--witness-policy", policy, pkg)
		}
	}
}

// killRotateAtDualCheckpoint starts custos keys rotate, waits until held
// says its checkpoint signed by both keys reached the witness, and kills
// it with SIGKILL.
func killRotateAtDualCheckpoint(t *testing.T, s *killSetup, held <-chan struct{}) {
	t.Helper()
	cmd, out, done := s.start(t, "keys", "rotate")
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("keys rotate ended before its checkpoint reached the witness: %v\n%s", err, out.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("keys rotate never sent its checkpoint signed by both keys")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done //nolint:errcheck // killed: its status says so
}

// start starts custos ARGS and returns it, its output (standard output
// and error) and a channel that gets the result of its Wait.
func (s *killSetup) start(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, <-chan error) {
	t.Helper()
	cmd := s.command(args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, out, done
}

// exit runs custos and returns its exit code and output.
func (s *killSetup) exit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := s.command(args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatal(err)
	}
	return 0, string(out)
}

// logFiles returns the content of every file under dir, by path.
func logFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	fsys := os.DirFS(dir)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			var b []byte
			b, err = fs.ReadFile(fsys, p)
			files[p] = string(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

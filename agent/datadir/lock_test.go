package datadir

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// helperEnv makes the test binary, re-executed, hold a lock for the
// parent test: CUSTOS_LOCK_HELPER=ex:DIR or sh:DIR. The helper prints
// "locked" once it holds the lock and keeps it until its stdin closes.
const helperEnv = "CUSTOS_LOCK_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(holdLock(spec))
	}
	os.Exit(m.Run())
}

func holdLock(spec string) int {
	if len(spec) < 4 {
		fmt.Fprintln(os.Stderr, "bad helper spec", spec)
		return 2
	}
	l, err := Lock(spec[3:], spec[:3] == "ex:")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := l.Unlock(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startHolder runs a child process holding dir's lock and returns once it
// holds it; the returned func releases it and waits for the child.
func startHolder(t *testing.T, dir string, exclusive bool) (pid int, release func()) {
	t.Helper()
	mode := "sh:"
	if exclusive {
		mode = "ex:"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("lock holder did not take the lock: %q, %v", line, err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("lock holder: %v", err)
		}
	}
	t.Cleanup(release)
	return cmd.Process.Pid, release
}

func TestLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	pid, release := startHolder(t, dir, true)

	for _, exclusive := range []bool{true, false} {
		_, err := Lock(dir, exclusive)
		want := "data directory " + dir + " is locked by pid " + strconv.Itoa(pid)
		if err == nil || err.Error() != want {
			t.Fatalf("exclusive=%v while a writer holds it: got %v, want %q", exclusive, err, want)
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("error %v does not match ErrLocked", err)
		}
	}

	release()
	l, err := Lock(dir, true)
	if err != nil {
		t.Fatalf("lock after the writer left: %v", err)
	}
	b, err := os.ReadFile(dir + "/" + LockFile)
	if err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("lock file holds %q, %v; want this pid", b, err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + "/" + LockFile); len(b) != 0 {
		t.Fatalf("lock file holds %q after unlock, want it empty", b)
	}
}

func TestReadersShare(t *testing.T) {
	dir := t.TempDir()
	// A writer has used the directory before: the lock file exists.
	w0, err := Lock(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w0.Unlock(); err != nil {
		t.Fatal(err)
	}
	_, release := startHolder(t, dir, false)

	r, err := Lock(dir, false)
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	_, err = Lock(dir, true)
	want := "data directory " + dir + " is locked by a reader"
	if err == nil || err.Error() != want {
		t.Fatalf("writer while readers hold it: got %v, want %q", err, want)
	}
	if err := r.Unlock(); err != nil {
		t.Fatal(err)
	}
	release()
	w, err := Lock(dir, true)
	if err != nil {
		t.Fatalf("writer after the readers left: %v", err)
	}
	if err := w.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestReaderOfReadOnlyCopy(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	l, err := Lock(dir, false)
	if err != nil {
		t.Fatalf("reader of a read-only directory: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir, true); err == nil {
		t.Fatal("writer took a lock in a read-only directory")
	}
}

func TestLockMissingDir(t *testing.T) {
	dir := t.TempDir() + "/nope"
	_, err := Lock(dir, true)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

// A reader writes nothing: on a directory no writer has used it creates no
// lock file.
func TestReaderWritesNothing(t *testing.T) {
	dir := t.TempDir()
	r, err := Lock(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Unlock(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a reader left %v in %s", ents, dir)
	}
}

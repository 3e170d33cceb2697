package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/storage"
)

func TestMain(m *testing.M) {
	// No test reads the configuration file of the user running the tests
	// (custos init writes one under XDG_CONFIG_HOME). The scripts' custos
	// runs this binary again, with HOME /no-home from testscript and the
	// marker from Setup: its environment is the script's.
	if os.Getenv("CUSTOS_TEST_SCRIPT") == "" {
		if dir, err := os.MkdirTemp("", "custos-test-config-"); err == nil {
			os.Setenv("XDG_CONFIG_HOME", dir)
		}
	}
	testscript.Main(m, map[string]func(){
		"custos": main, // the binary as users run it
	})
}

// testPassphrase encrypts the keys the scripts generate.
const testPassphrase = "correct horse battery staple"

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("CUSTOS_TEST_SCRIPT", "1")
			env.Setenv("CUSTOS_KEY_PASSPHRASE", testPassphrase)
			env.Setenv("CUSTOS_DATA_DIR", env.WorkDir+"/data")
			env.Setenv("CUSTOS_LOG_CHECKPOINT_INTERVAL", "100ms")
			// One origin the scripts can name; log_origin.txtar unsets it
			// to see the default (HOST/custos-XXXXXXXX, or an existing log's).
			env.Setenv("CUSTOS_AGENT_ID", "custos-agent")
			repo, err := filepath.Abs("../..")
			if err != nil {
				return err
			}
			env.Setenv("CUSTOS_TEST_REPO", repo)
			env.Values[lockKey{}] = &heldLocks{}
			return s3Env(env)
		},
		Condition: func(cond string) (bool, error) {
			if cond == "s3" {
				return os.Getenv("CUSTOS_TEST_S3_ENDPOINT") != "", nil
			}
			if name, ok := strings.CutPrefix(cond, "tool:"); ok {
				return toolCondition(name)
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":        cmdExits,
			"flipbyte":     cmdFlipByte,
			"swapentries":  cmdSwapEntries,
			"flipsig":      cmdFlipSig,
			"truncate":     cmdTruncate,
			"holdlock":     cmdHoldLock,
			"releaselock":  cmdReleaseLock,
			"storeput":     cmdStorePut,
			"stdoutvar":    cmdStdoutVar,
			"tsas":         cmdTSAs,
			"tsrfile":      cmdTSRFile,
			"flipgentime":  cmdFlipGenTime,
			"sleep":        cmdSleep,
			"reportschema": cmdReportSchema,
		},
	})
}

// exits N PROG [ARGS...] runs PROG like exec and checks that it exits
// with status N; stdout and stderr are then checked as after exec.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// stdoutvar NAME sets the environment variable NAME to the last command's
// standard output, trimmed: the id `order add` printed. stdoutvar NAME
// REGEXP sets it to the first group of REGEXP (multi-line) in the output
// instead: a store key a command printed among other lines.
func cmdStdoutVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: stdoutvar NAME [REGEXP]")
	}
	out := ts.ReadFile("stdout")
	if len(args) == 2 {
		m := regexp.MustCompile("(?m)" + args[1]).FindStringSubmatch(out)
		if len(m) < 2 || m[1] == "" {
			ts.Fatalf("stdout has no match of %q with a group", args[1])
		}
		ts.Setenv(args[0], m[1])
		return
	}
	v := strings.TrimSpace(out)
	if v == "" || strings.Contains(v, "\n") {
		ts.Fatalf("stdout is not one value: %q", v)
	}
	ts.Setenv(args[0], v)
}

// flipbyte FILE OFFSET flips the low bit of the byte at OFFSET (negative:
// from the end).
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	file := ts.MkAbs(args[0])
	b, err := os.ReadFile(file)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("offset %s outside %s (%d bytes)", args[1], args[0], len(b))
	}
	b[off] ^= 1
	ts.Check(os.WriteFile(file, b, 0o644))
}

// swapentries FILE I J swaps entries I and J of a tlog-tiles entry bundle
// (each entry is a 2-byte big-endian length and that many bytes).
func cmdSwapEntries(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: swapentries FILE I J")
	}
	file := ts.MkAbs(args[0])
	b, err := os.ReadFile(file)
	ts.Check(err)
	var entries [][]byte
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
			ts.Fatalf("%s is not an entry bundle", args[0])
		}
		n := 2 + int(binary.BigEndian.Uint16(b))
		entries = append(entries, b[:n])
		b = b[n:]
	}
	i, err := strconv.Atoi(args[1])
	ts.Check(err)
	j, err := strconv.Atoi(args[2])
	ts.Check(err)
	if i < 0 || j < 0 || i >= len(entries) || j >= len(entries) || i == j {
		ts.Fatalf("cannot swap entries %d and %d of %d", i, j, len(entries))
	}
	entries[i], entries[j] = entries[j], entries[i]
	var out []byte
	for _, e := range entries {
		out = append(out, e...)
	}
	ts.Check(os.WriteFile(file, out, 0o644))
}

// flipsig FILE changes one base64 character of the first signature line
// ("— name base64") of a signed note, keeping it valid base64.
func cmdFlipSig(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: flipsig FILE")
	}
	file := ts.MkAbs(args[0])
	lines := strings.Split(ts.ReadFile(args[0]), "\n")
	for n, l := range lines {
		if !strings.HasPrefix(l, "— ") {
			continue
		}
		sp := strings.LastIndexByte(l, ' ')
		sig := []byte(l[sp+1:])
		// A character in the middle of the signature, past the key hash.
		k := len(sig) / 2
		if sig[k] == 'A' {
			sig[k] = 'B'
		} else {
			sig[k] = 'A'
		}
		if _, err := base64.StdEncoding.DecodeString(string(sig)); err != nil {
			ts.Fatalf("changed signature is not base64: %v", err)
		}
		lines[n] = l[:sp+1] + string(sig)
		ts.Check(os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644))
		return
	}
	ts.Fatalf("%s has no signature line", args[0])
}

// storeput DIR KEY FILE puts FILE under KEY in the local store in DIR,
// write-once, as another writer of the store would.
func cmdStorePut(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: storeput DIR KEY FILE")
	}
	s, err := storage.NewLocal(ts.MkAbs(args[0]), nil)
	ts.Check(err)
	data := ts.ReadFile(args[2])
	sum := sha256.Sum256([]byte(data))
	_, err = s.Put(context.Background(), args[1], strings.NewReader(data), storage.PutOptions{SHA256: hex.EncodeToString(sum[:])})
	ts.Check(err)
}

// truncate FILE SIZE cuts FILE to SIZE bytes.
func cmdTruncate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: truncate FILE SIZE")
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	ts.Check(os.Truncate(ts.MkAbs(args[0]), n))
}

type lockKey struct{}

// heldLocks are the data-directory locks a script holds.
type heldLocks struct{ locks []*datadir.DirLock }

// holdlock DIR takes DIR's lock exclusively in the test process, as a
// running custos would, and sets $LOCKPID to this process's pid.
func cmdHoldLock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdlock DIR")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o700))
	l, err := datadir.Lock(dir, true)
	ts.Check(err)
	h := ts.Value(lockKey{}).(*heldLocks)
	h.locks = append(h.locks, l)
	ts.Defer(func() { _ = l.Unlock() })
	ts.Setenv("LOCKPID", fmt.Sprint(os.Getpid()))
}

// releaselock releases every lock holdlock took.
func cmdReleaseLock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: releaselock")
	}
	h := ts.Value(lockKey{}).(*heldLocks)
	for _, l := range h.locks {
		ts.Check(l.Unlock())
	}
	h.locks = nil
}

// s3Env gives scripts the test S3 server (see scripts/with-minio.sh) as
// S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY and a fresh bucket name
// S3_BUCKET; scripts that need it start with [!s3] skip.
// Under CI=true a missing server fails every script.
func s3Env(env *testscript.Env) error {
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			return errors.New("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		return nil
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	env.Setenv("S3_ENDPOINT", ep)
	env.Setenv("S3_ACCESS_KEY", os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"))
	env.Setenv("S3_SECRET_KEY", os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"))
	env.Setenv("S3_TLS", strconv.FormatBool(os.Getenv("CUSTOS_TEST_S3_TLS") == "true"))
	env.Setenv("S3_BUCKET", "custos-cli-"+hex.EncodeToString(b))
	return nil
}

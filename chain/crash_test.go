package chain_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

const crashDirEnv = "CUSTOS_TEST_CRASH_DIR"

// TestCrashChild is the child of TestCrashSafety: it appends until killed,
// printing "index hash" for every append once Append has returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only run as the child of TestCrashSafety")
	}
	ctx := context.Background()
	l := openLog(t, dir, testSigner(t, 5))
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	orders := []string{"", orderA, orderB, "01J9Z3K4M5N6P7Q8R9S0T1V2W5"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				r, err := l.Append(ctx, noteEvent(orders[(g+i)%len(orders)], g*1_000_000+i))
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(out, "%d %s\n", r.Index, chain.EventHash(r.Encoded))
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashSafety kills a child appending in a loop with SIGKILL at random
// moments. After every kill the log verifies and every index the child saw
// returned is in the log with the event it appended.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs 25 child processes")
	}
	dir := t.TempDir()
	s := testSigner(t, 5)
	v, err := mustKey(t, s).NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	returned := map[uint64]string{}
	const kills = 25
	for k := range kills {
		lines := runAndKill(t, dir, time.Duration(20+rand.IntN(400))*time.Millisecond)
		for _, l := range lines {
			f := strings.Fields(l)
			idx, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil || len(f) != 2 {
				t.Fatalf("child printed %q", l)
			}
			if old, ok := returned[idx]; ok && old != f[1] {
				t.Fatalf("index %d returned twice for different events", idx)
			}
			returned[idx] = f[1]
		}
		ctx := context.Background()
		rep, err := chain.VerifyLog(ctx, os.DirFS(dir), v)
		if err != nil {
			t.Fatalf("kill %d: log does not verify: %v", k, err)
		}
		size := rep.CheckpointSize + rep.Unsealed
		found := 0
		for r, err := range chain.Entries(ctx, os.DirFS(dir), 0, size) {
			if err != nil {
				t.Fatalf("kill %d: %v", k, err)
			}
			if h, ok := returned[r.Index]; ok {
				if h != chain.EventHash(r.Encoded) {
					t.Fatalf("kill %d: entry %d is not the event returned for it", k, r.Index)
				}
				found++
			}
		}
		if found != len(returned) {
			t.Fatalf("kill %d: %d of %d returned indexes are in the log of size %d", k, found, len(returned), size)
		}
		t.Logf("kill %d: %d entries returned, log size %d (%d not yet sealed)", k, len(returned), size, rep.Unsealed)
	}
	if len(returned) < kills {
		t.Fatalf("only %d appends returned over %d runs", len(returned), kills)
	}
	// Every start after a kill that left entries unsealed says so in the
	// log: a log.recovered event naming the entries it adopted.
	recovered := 0
	rep, err := chain.VerifyLog(context.Background(), os.DirFS(dir), v)
	if err != nil {
		t.Fatal(err)
	}
	for r, err := range chain.Entries(context.Background(), os.DirFS(dir), 0, rep.CheckpointSize+rep.Unsealed) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Event.Type == chain.LogRecovered {
			recovered++
			if r.Event.Details["first_unsealed"] == "" || r.Event.Details["last_unsealed"] == "" {
				t.Fatalf("log.recovered at %d names no range: %s", r.Index, r.Encoded)
			}
		}
	}
	if recovered == 0 {
		t.Fatal("no start after a kill recorded a log.recovered event")
	}
	t.Logf("%d starts adopted unsealed entries and recorded log.recovered", recovered)
}

// runAndKill starts the child, lets it append for d after its first
// returned append, kills it with SIGKILL and returns the complete lines.
func runAndKill(t *testing.T, dir string, d time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []string // read by this goroutine only after done
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if got = append(got, sc.Text()); len(got) == 1 {
				close(first)
			}
		}
	}()
	select {
	case <-first:
	case <-done:
		t.Fatal("child exited before appending")
	case <-time.After(30 * time.Second):
		t.Fatal("child did not append within 30s")
	}
	time.Sleep(d) // not synchronisation: the random moment of the kill
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	_ = cmd.Wait()
	// A line cut by the kill has no hash; bufio only yields it at EOF.
	out := got[:0]
	for _, l := range got {
		if f := strings.Fields(l); len(f) == 2 && len(f[1]) == 64 {
			out = append(out, l)
		}
	}
	return out
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSubmitRunSucceeds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs")
	type params struct {
		Path string `json:"path"`
	}
	var seen atomic.Value
	q := openQueue(t, dir, map[string]Runner{
		"capture": func(ctx context.Context, j *Job, progress func(int64, int64)) (any, error) {
			seen.Store(string(j.Params))
			progress(1, 3)
			progress(3, 3)
			return map[string]int{"items": 3}, nil
		},
	})
	j := submit(t, q, "capture", "ORDER1", params{Path: "/evidence"})
	if j.State != Queued || j.Attempts != 0 || j.Identity != "tester" || j.MaxAttempts != 5 {
		t.Fatalf("submitted job = %+v", j)
	}
	if f := readJobFile(t, dir, j.ID); f.State != Queued {
		t.Fatalf("on disk before Run: state %s, want queued", f.State)
	}
	runQueue(t, q)
	got := waitJob(t, q, j.ID)
	if got.State != Succeeded || got.Attempts != 1 || got.Error != "" {
		t.Errorf("job = %+v, want succeeded after 1 attempt", got)
	}
	if string(got.Result) != `{"items":3}` {
		t.Errorf("result = %s", got.Result)
	}
	if got.Progress != (Progress{Done: 3, Total: 3}) {
		t.Errorf("progress = %+v", got.Progress)
	}
	if p := seen.Load(); p != `{"path":"/evidence"}` {
		t.Errorf("runner saw params %v", p)
	}
	if f := readJobFile(t, dir, j.ID); f.State != Succeeded || string(f.Result) != `{"items":3}` {
		t.Errorf("on disk: %+v", f)
	}
	checkMode(t, dir, 0o700)
	checkMode(t, filepath.Join(dir, j.ID+".json"), 0o600)
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

var errFlaky = errors.New("store unreachable")

func TestRunOutcomes(t *testing.T) {
	errNoRetry := errors.New("not worth retrying")
	tests := []struct {
		name         string
		attempt      func(n int) (any, error) // what the n-th run returns
		maxAttempts  int
		wantState    State
		wantAttempts int
		wantError    string // substring
		wantResult   string
	}{
		{name: "success", attempt: func(int) (any, error) { return "ok", nil },
			wantState: Succeeded, wantAttempts: 1, wantResult: `"ok"`},
		{name: "nil result", attempt: func(int) (any, error) { return nil, nil },
			wantState: Succeeded, wantAttempts: 1},
		{name: "permanent failure", attempt: func(int) (any, error) { return nil, Permanent(errors.New("bad params")) },
			wantState: Failed, wantAttempts: 1, wantError: "bad params"},
		{name: "retry then success", attempt: func(n int) (any, error) {
			if n < 3 {
				return nil, errFlaky
			}
			return n, nil
		}, wantState: Succeeded, wantAttempts: 3, wantResult: "3"},
		{name: "retries exhausted", attempt: func(int) (any, error) { return nil, errFlaky },
			maxAttempts: 3, wantState: Failed, wantAttempts: 3, wantError: "store unreachable"},
		{name: "not retryable", attempt: func(int) (any, error) { return nil, fmt.Errorf("wrapped: %w", errNoRetry) },
			wantState: Failed, wantAttempts: 1, wantError: "not worth retrying"},
		{name: "panic", attempt: func(int) (any, error) { panic("index out of range") },
			wantState: Failed, wantAttempts: 1, wantError: "panic: index out of range"},
		{name: "result cannot be encoded", attempt: func(int) (any, error) { return make(chan int), nil },
			wantState: Failed, wantAttempts: 1, wantError: "encode result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			run := func(ctx context.Context, j *Job, _ func(int64, int64)) (any, error) { return tt.attempt(j.Attempts) }
			q := openQueue(t, dir, map[string]Runner{"fixity": run}, func(c *Config) {
				c.MaxAttempts = tt.maxAttempts
				c.Retryable = func(err error) bool { return !errors.Is(err, errNoRetry) }
			})
			runQueue(t, q)
			j := waitJob(t, q, submit(t, q, "fixity", "", nil).ID)
			if j.State != tt.wantState || j.Attempts != tt.wantAttempts {
				t.Errorf("state %s after %d attempts, want %s after %d", j.State, j.Attempts, tt.wantState, tt.wantAttempts)
			}
			if !strings.Contains(j.Error, tt.wantError) || (tt.wantError == "") != (j.Error == "") {
				t.Errorf("error %q, want %q", j.Error, tt.wantError)
			}
			if string(j.Result) != tt.wantResult {
				t.Errorf("result %s, want %s", j.Result, tt.wantResult)
			}
			if f := readJobFile(t, dir, j.ID); f.State != tt.wantState || f.Attempts != tt.wantAttempts {
				t.Errorf("on disk: state %s after %d attempts", f.State, f.Attempts)
			}
		})
	}
}

// TestRetryWaitsForBackoff checks that a failed attempt sets NotBefore at
// least half a backoff after it and that the next attempt waits for it.
func TestRetryWaitsForBackoff(t *testing.T) {
	const base = 20 * time.Millisecond
	var failedAt time.Time
	type second struct {
		start     time.Time
		notBefore time.Time
	}
	seconds := make(chan second, 1)
	run := func(ctx context.Context, j *Job, _ func(int64, int64)) (any, error) {
		if j.Attempts == 1 {
			failedAt = time.Now() // read after the job is requeued, via the channel below
			return nil, errFlaky
		}
		seconds <- second{start: time.Now(), notBefore: j.NotBefore}
		return nil, nil
	}
	q := openQueue(t, t.TempDir(), map[string]Runner{"capture": run}, func(c *Config) {
		c.BaseBackoff, c.MaxBackoff = base, time.Second
	})
	runQueue(t, q)
	j := submit(t, q, "capture", "", nil)
	s := recv(t, seconds)
	if s.notBefore.IsZero() {
		t.Fatal("second attempt has no NotBefore")
	}
	if s.notBefore.Before(failedAt.Add(base / 2)) {
		t.Errorf("NotBefore %v is less than half a backoff after the failure at %v", s.notBefore, failedAt)
	}
	if s.start.Before(s.notBefore) {
		t.Errorf("second attempt started at %v, before NotBefore %v", s.start, s.notBefore)
	}
	if got := waitJob(t, q, j.ID); got.State != Succeeded || got.Attempts != 2 || got.Error != "" {
		t.Errorf("job = %+v", got)
	}
}

func TestBackoff(t *testing.T) {
	q := &Queue{cfg: Config{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}}
	tests := []struct {
		attempt int
		ceiling time.Duration // the wait is in [ceiling/2, ceiling]
	}{
		{1, 10 * time.Millisecond},
		{2, 20 * time.Millisecond},
		{3, 40 * time.Millisecond},
		{4, 40 * time.Millisecond},
		{1000, 40 * time.Millisecond},
	}
	for _, tt := range tests {
		for range 100 {
			if d := q.backoff(tt.attempt); d < tt.ceiling/2 || d > tt.ceiling {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", tt.attempt, d, tt.ceiling/2, tt.ceiling)
			}
		}
	}
}

// TestConcurrencyBounded fills the pool with runners that hold until
// released, then cancels the other jobs one by one: each Cancel gives an
// idle worker a chance to start a job beyond the pool's bound.
func TestConcurrencyBounded(t *testing.T) {
	const workers, n = 3, 12
	var cur, peak atomic.Int32
	started := make(chan string, n)
	release := make(chan struct{})
	run := func(ctx context.Context, j *Job, _ func(int64, int64)) (any, error) {
		c := cur.Add(1)
		defer cur.Add(-1)
		for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
		}
		started <- j.ID
		<-release
		return nil, nil
	}
	q := openQueue(t, t.TempDir(), map[string]Runner{"fixity": run}, func(c *Config) { c.Workers = workers })
	for range n {
		submit(t, q, "fixity", "", nil)
	}
	runQueue(t, q)
	releaseAll := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseAll) // before Run is stopped, if the test ends early
	running := map[string]bool{}
	for range workers {
		running[recv(t, started)] = true
	}
	for _, j := range q.List("") {
		if running[j.ID] {
			continue
		}
		c, err := q.Cancel(context.Background(), j.ID)
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		if c.State != Cancelled {
			t.Errorf("job %s was %s when cancelled, want queued: a worker beyond the bound took it", j.ID, c.State)
		}
	}
	if queued, run := q.Depth(); queued != 0 || run != workers {
		t.Errorf("Depth = %d queued, %d running; want 0, %d", queued, run, workers)
	}
	releaseAll()
	for id := range running {
		if j := waitJob(t, q, id); j.State != Succeeded {
			t.Errorf("job %s: %s", id, j.State)
		}
	}
	if p := peak.Load(); p != workers {
		t.Errorf("at most %d runners at once, want %d", p, workers)
	}
}

func TestOldestFirst(t *testing.T) {
	order := make(chan string, 3)
	run := func(ctx context.Context, j *Job, _ func(int64, int64)) (any, error) {
		order <- j.ID
		return nil, nil
	}
	q := openQueue(t, t.TempDir(), map[string]Runner{"fixity": run}, func(c *Config) { c.Workers = 1 })
	var ids []string
	for range 3 {
		ids = append(ids, submit(t, q, "fixity", "", nil).ID)
	}
	runQueue(t, q)
	for i, want := range ids {
		if got := recv(t, order); got != want {
			t.Errorf("run %d: job %s, want %s", i, got, want)
		}
	}
}

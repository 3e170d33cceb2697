package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/oklog/ulid/v2"
)

func noop(context.Context, *Job, func(int64, int64)) (any, error) { return nil, nil }

func TestCancelQueued(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, map[string]Runner{"capture": noop}) // not running: the job stays queued
	j := submit(t, q, "capture", "", nil)
	c, err := q.Cancel(context.Background(), j.ID)
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if c.State != Cancelled || !c.CancelRequested || c.Attempts != 0 {
		t.Errorf("cancelled job = %+v", c)
	}
	if f := readJobFile(t, dir, j.ID); f.State != Cancelled {
		t.Errorf("on disk: %s", f.State)
	}
	if got := waitJob(t, q, j.ID); got.State != Cancelled {
		t.Errorf("Wait: %s", got.State)
	}
	if _, err := q.Cancel(context.Background(), j.ID); !errors.Is(err, ErrFinished) || !strings.Contains(err.Error(), j.ID) {
		t.Errorf("second Cancel: %v, want ErrFinished naming the job", err)
	}
}

func TestCancelRunning(t *testing.T) {
	tests := []struct {
		name       string
		ret        func(ctx context.Context) (any, error) // what the runner returns once cancelled
		wantResult string
	}{
		{name: "returns context error", ret: func(ctx context.Context) (any, error) { return nil, ctx.Err() }},
		{name: "returns other error", ret: func(context.Context) (any, error) { return nil, errFlaky }},
		{name: "finishes anyway", ret: func(context.Context) (any, error) { return "done", nil }, wantResult: `"done"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			started := make(chan string, 1)
			run := func(ctx context.Context, j *Job, _ func(int64, int64)) (any, error) {
				started <- j.ID
				<-ctx.Done()
				if !errors.Is(context.Cause(ctx), errCancelled) {
					t.Errorf("runner cancelled with cause %v", context.Cause(ctx))
				}
				return tt.ret(ctx)
			}
			q := openQueue(t, dir, map[string]Runner{"capture": run})
			runQueue(t, q)
			j := submit(t, q, "capture", "", nil)
			recv(t, started)
			c, err := q.Cancel(context.Background(), j.ID)
			if err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			if c.State != Running || !c.CancelRequested {
				t.Errorf("Cancel returned state %s, cancel requested %v", c.State, c.CancelRequested)
			}
			got := waitJob(t, q, j.ID)
			if got.State != Cancelled || got.Attempts != 1 || string(got.Result) != tt.wantResult {
				t.Errorf("job = %+v", got)
			}
			if f := readJobFile(t, dir, j.ID); f.State != Cancelled {
				t.Errorf("on disk: %s", f.State)
			}
		})
	}
}

func TestShutdownRequeuesAndReopenResumes(t *testing.T) {
	dir := t.TempDir()
	started := make(chan string, 1)
	q := openQueue(t, dir, map[string]Runner{"capture": blockUntilCancelled(started)})
	waitRun := runQueue(t, q)
	j := submit(t, q, "capture", "ORDER", map[string]int{"n": 1})
	recv(t, started)

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: cancel the running job at once
	if err := q.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want context.Canceled", err)
	}
	if err := waitRun(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	f := readJobFile(t, dir, j.ID)
	if f.State != Queued || f.Attempts != 0 || f.CancelRequested {
		t.Fatalf("on disk after shutdown: %+v, want queued with no attempt counted", f)
	}
	if _, err := q.Submit(context.Background(), "capture", "", nil, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Shutdown: %v, want ErrClosed", err)
	}
	if err := q.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Shutdown: %v, want ErrClosed", err)
	}

	q2 := openQueue(t, dir, map[string]Runner{"capture": func(ctx context.Context, j *Job, _ func(int64, int64)) (any, error) {
		return string(j.Params), nil
	}})
	runQueue(t, q2)
	got := waitJob(t, q2, j.ID)
	if got.State != Succeeded || got.Attempts != 1 || string(got.Result) != `"{\"n\":1}"` {
		t.Errorf("resumed job = %+v", got)
	}
}

func TestShutdownDrains(t *testing.T) {
	started := make(chan string, 1)
	release := make(chan struct{})
	run := func(ctx context.Context, j *Job, _ func(int64, int64)) (any, error) {
		started <- j.ID
		<-release
		return nil, ctx.Err() // nil unless cancelled
	}
	q := openQueue(t, t.TempDir(), map[string]Runner{"capture": run})
	runQueue(t, q)
	j := submit(t, q, "capture", "", nil)
	recv(t, started)
	done := make(chan error, 1)
	go func() { done <- q.Shutdown(context.Background()) }()
	close(release)
	if err := recv(t, done); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got, _ := q.Get(j.ID); got.State != Succeeded {
		t.Errorf("job = %+v, want succeeded", got)
	}
}

func TestRunCancelledRequeues(t *testing.T) {
	dir := t.TempDir()
	started := make(chan string, 1)
	q := openQueue(t, dir, map[string]Runner{"capture": blockUntilCancelled(started)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	j := submit(t, q, "capture", "", nil)
	recv(t, started)
	cancel()
	if err := recv(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if f := readJobFile(t, dir, j.ID); f.State != Queued || f.Attempts != 0 {
		t.Errorf("on disk after Run stopped: %+v", f)
	}
}

func TestOpenResumesRunning(t *testing.T) {
	tests := []struct {
		name         string
		cancel       bool
		wantOpen     State
		wantFinal    State
		wantAttempts int
	}{
		{name: "running", wantOpen: Queued, wantFinal: Succeeded, wantAttempts: 2},
		{name: "running with cancel requested", cancel: true, wantOpen: Cancelled, wantFinal: Cancelled, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			now := time.Now()
			j := &Job{ID: ulid.Make().String(), Kind: "capture", State: Running, Attempts: 1, MaxAttempts: 5,
				Created: now, Updated: now, CancelRequested: tt.cancel}
			if err := writeJob(dir, j); err != nil {
				t.Fatal(err)
			}
			q := openQueue(t, dir, map[string]Runner{"capture": noop})
			got, err := q.Get(j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.wantOpen || (tt.wantOpen == Queued && !strings.HasPrefix(got.Error, "interrupted")) {
				t.Errorf("after Open: %+v", got)
			}
			if f := readJobFile(t, dir, j.ID); f.State != tt.wantOpen {
				t.Errorf("on disk after Open: %s", f.State)
			}
			runQueue(t, q)
			if got := waitJob(t, q, j.ID); got.State != tt.wantFinal || got.Attempts != tt.wantAttempts {
				t.Errorf("final: %s after %d attempts, want %s after %d", got.State, got.Attempts, tt.wantFinal, tt.wantAttempts)
			}
		})
	}
}

func TestOpenRejectsBadFiles(t *testing.T) {
	id := ulid.Make().String()
	tests := []struct {
		name, file, content, wantErr string
	}{
		{name: "not json", file: id + ".json", content: "{not json", wantErr: "invalid character"},
		{name: "truncated", file: id + ".json", content: `{"id":"` + id + `","kind":"capture"`, wantErr: "unexpected end"},
		{name: "other id inside", file: id + ".json", content: `{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","kind":"capture","state":"queued","max_attempts":5}`, wantErr: "holds job"},
		{name: "unknown state", file: id + ".json", content: `{"id":"` + id + `","kind":"capture","state":"paused","max_attempts":5}`, wantErr: "unknown state"},
		{name: "no kind", file: id + ".json", content: `{"id":"` + id + `","state":"queued","max_attempts":5}`, wantErr: "no kind"},
		{name: "name not an id", file: "notes.json", content: "{}", wantErr: "name is not a job id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), Config{Dir: dir, Runners: map[string]Runner{"capture": noop}})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open: %v, want an error naming %s and saying %q", err, path, tt.wantErr)
			}
		})
	}
}

func TestOpenRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, datadir.TempPrefix+"123")
	if err := os.WriteFile(tmp, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	openQueue(t, dir, nil)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temp file: %v", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	q := openQueue(t, t.TempDir(), map[string]Runner{"capture": noop})
	real := submit(t, q, "capture", "", nil).ID
	tests := []struct{ name, id string }{
		{"empty", ""},
		{"dot dot", "../x"},
		{"path", "../../etc/passwd"},
		{"garbage", "garbage"},
		{"lower case", strings.ToLower(real)},
		{"with suffix", real + ".json"},
		{"with path", real + "/../" + real},
		{"overflowing ulid", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"},
		{"unknown", ulid.Make().String()},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := q.Get(tt.id); !errors.Is(err, ErrNoJob) {
				t.Errorf("Get: %v", err)
			}
			if _, err := q.Cancel(ctx, tt.id); !errors.Is(err, ErrNoJob) {
				t.Errorf("Cancel: %v", err)
			}
			if _, err := q.Wait(ctx, tt.id); !errors.Is(err, ErrNoJob) {
				t.Errorf("Wait: %v", err)
			}
		})
	}
}

func TestSubmitErrors(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, map[string]Runner{"capture": noop})
	ctx := context.Background()
	if _, err := q.Submit(ctx, "shred", "", nil, ""); !errors.Is(err, ErrUnknownKind) || !strings.Contains(err.Error(), "shred") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := q.Submit(ctx, "capture", "", make(chan int), ""); err == nil {
		t.Error("params that cannot be encoded: no error")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed submits left %d files", len(entries))
	}
}

func TestListDepthAndCopies(t *testing.T) {
	q := openQueue(t, t.TempDir(), map[string]Runner{"capture": noop, "fixity": noop})
	a := submit(t, q, "capture", "ORDER-A", map[string]string{"k": "v"})
	b := submit(t, q, "fixity", "ORDER-B", nil)
	c := submit(t, q, "capture", "ORDER-A", nil)
	if _, err := q.Cancel(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	ids := func(js []*Job) (out []string) {
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	tests := []struct {
		order string
		want  []string
	}{
		{"", []string{a.ID, b.ID, c.ID}},
		{"ORDER-A", []string{a.ID, c.ID}},
		{"ORDER-B", []string{b.ID}},
		{"ORDER-C", nil},
	}
	for _, tt := range tests {
		if got := ids(q.List(tt.order)); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("List(%q) = %v, want %v", tt.order, got, tt.want)
		}
	}
	if queued, running := q.Depth(); queued != 2 || running != 0 {
		t.Errorf("Depth = %d, %d; want 2, 0", queued, running)
	}
	got, _ := q.Get(a.ID)
	got.Params[0] = 'X'
	got.State = Failed
	if again, _ := q.Get(a.ID); string(again.Params) != `{"k":"v"}` || again.State != Queued {
		t.Errorf("changing a copy changed the queue: %+v", again)
	}
}

func TestIDsMonotonic(t *testing.T) {
	dir := t.TempDir()
	fixed := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func(t time.Time) func(*Config) { return func(c *Config) { c.Now = func() time.Time { return t } } }
	q := openQueue(t, dir, map[string]Runner{"capture": noop}, clock(fixed))
	last := ""
	for range 50 {
		id := submit(t, q, "capture", "", nil).ID
		if id <= last {
			t.Fatalf("id %s after %s", id, last)
		}
		last = id
	}
	// A clock that went back does not make ids that sort before the old ones.
	q2 := openQueue(t, dir, map[string]Runner{"capture": noop}, clock(fixed.Add(-time.Hour)))
	if id := submit(t, q2, "capture", "", nil).ID; id <= last {
		t.Errorf("after reopening with an earlier clock: id %s after %s", id, last)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{}},
		{"negative workers", Config{Dir: "x", Workers: -1}},
		{"negative backoff", Config{Dir: "x", BaseBackoff: -time.Second}},
		{"base above max", Config{Dir: "x", BaseBackoff: time.Hour, MaxBackoff: time.Minute}},
	}
	for _, tt := range tests {
		if _, err := Open(context.Background(), tt.cfg); err == nil {
			t.Errorf("%s: Open succeeded", tt.name)
		}
	}
}

func TestSweepForgetsFinishedJobsPastRetention(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	opts := func(c *Config) { c.Now, c.Retention = clock, 7*24*time.Hour }
	noop := func(context.Context, *Job, func(int64, int64)) (any, error) { return "done", nil }
	q := openQueue(t, dir, map[string]Runner{"capture": noop}, opts)
	old := submit(t, q, "capture", "", nil)
	runQueue(t, q)
	waitJob(t, q, old.ID)
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A job that is not finished is kept however old; a finished one is
	// kept until the retention has passed since it ended.
	q = openQueue(t, dir, map[string]Runner{"capture": noop}, opts)
	queued := submit(t, q, "capture", "", nil)
	advance(7*24*time.Hour - time.Minute)
	if n, err := q.Sweep(); n != 0 || err != nil {
		t.Fatalf("sweep within the retention: %d, %v", n, err)
	}
	advance(2 * time.Minute)
	if n, err := q.Sweep(); n != 1 || err != nil {
		t.Fatalf("sweep past the retention: %d, %v", n, err)
	}
	if _, err := q.Get(old.ID); !errors.Is(err, ErrNoJob) {
		t.Fatalf("forgotten job: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, old.ID+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("forgotten job's file: %v", err)
	}
	if j, err := q.Get(queued.ID); err != nil || j.State != Queued {
		t.Fatalf("queued job: %+v %v", j, err)
	}

	// Open forgets what ended too long ago while the agent was down.
	runQueue(t, q)
	waitJob(t, q, queued.ID)
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	advance(8 * 24 * time.Hour)
	q = openQueue(t, dir, map[string]Runner{"capture": noop}, opts)
	if jobs := q.List(""); len(jobs) != 0 {
		t.Fatalf("jobs after reopening: %+v", jobs)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("job directory after reopening: %v %v", entries, err)
	}
}

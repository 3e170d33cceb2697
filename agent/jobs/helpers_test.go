package jobs

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testTimeout bounds every wait in the tests; a test that hits it fails.
const testTimeout = 30 * time.Second

// openQueue opens a queue in dir with fast backoff and the runners given.
func openQueue(t *testing.T, dir string, runners map[string]Runner, mod ...func(*Config)) *Queue {
	t.Helper()
	cfg := Config{Dir: dir, Runners: runners, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	q, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return q
}

// runQueue runs q until the test ends (or Shutdown), and checks that Run
// returns nil. The function it returns waits for Run to return.
func runQueue(t *testing.T, q *Queue) (wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var err error
	go func() {
		err = q.Run(ctx)
		close(done)
	}()
	wait = func() error {
		recv(t, done)
		return err
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return wait
}

// submit submits a job of kind and fails the test on error.
func submit(t *testing.T, q *Queue, kind, order string, params any) *Job {
	t.Helper()
	j, err := q.Submit(context.Background(), kind, order, params, "tester")
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return j
}

// waitJob waits for the job id to finish.
func waitJob(t *testing.T, q *Queue, id string) *Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	j, err := q.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return j
}

// recv receives from ch, failing the test if nothing comes.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting on a channel")
	}
	var zero T
	return zero
}

// readJobFile reads the job file of id in dir.
func readJobFile(t *testing.T, dir, id string) *Job {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatalf("job file %s: %v", id, err)
	}
	return &j
}

// blockUntilCancelled is a runner that says it started and then waits for
// its context to be cancelled.
func blockUntilCancelled(started chan<- string) Runner {
	return func(ctx context.Context, j *Job, _ func(int64, int64)) (any, error) {
		started <- j.ID
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

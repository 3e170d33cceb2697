package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// The causes with which the queue cancels a runner's context.
var (
	errCancelled = errors.New("job cancelled on request")
	errShutdown  = errors.New("job queue shutting down")
)

// run is an attempt in progress: how to stop it and how far it has come.
type run struct {
	cancel context.CancelCauseFunc

	mu   sync.Mutex // guards prog alone, so that progress never waits for a disk write
	prog Progress
}

// report is the progress callback given to the runner.
func (r *run) report(done, total int64) {
	r.mu.Lock()
	r.prog = Progress{Done: done, Total: total}
	r.mu.Unlock()
}

func (r *run) progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prog
}

// attempt is one run of a job handed to a worker.
type attempt struct {
	job    *Job // the runner's own copy
	ctx    context.Context
	run    *run
	runner Runner
}

// pause tells an idle worker what to wait for.
type pause struct {
	stop    bool            // the worker is done
	changed <-chan struct{} // closed at the next change
	delay   time.Duration   // until the earliest backoff ends; 0 if none
}

// Run runs jobs with Config.Workers workers until ctx is done or Shutdown
// is called, oldest first among the jobs whose backoff has passed. When
// ctx is done, running jobs are cancelled and queued again, as by
// Shutdown. Run returns nil when stopped, and an error only when the queue
// could not record a job's state on disk, after which it must not be used.
func (q *Queue) Run(ctx context.Context) error {
	if err := q.start(); err != nil {
		return err
	}
	defer q.stop()
	g, gctx := errgroup.WithContext(ctx)
	defer context.AfterFunc(gctx, func() { q.cancelRuns(errShutdown) })()
	for range q.cfg.Workers {
		g.Go(func() error { return q.worker(gctx) })
	}
	return g.Wait()
}

func (q *Queue) start() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return fmt.Errorf("run: %w", ErrClosed)
	case q.running:
		return errors.New("run: the job queue is already running")
	}
	q.running = true
	return nil
}

func (q *Queue) stop() {
	q.mu.Lock()
	q.running = false
	q.mu.Unlock()
}

// Shutdown stops Run from starting jobs and waits for the running ones to
// finish until ctx is done. Then it cancels them and waits for them to
// return: each goes back to Queued, its attempt not counted, to resume on
// the next Open. A Runner that ignores its context holds Shutdown up.
// Submit fails with ErrClosed from now on.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.stopping)
	}
	q.mu.Unlock()
	if q.waitIdle(ctx) == nil {
		return nil
	}
	q.cancelRuns(errShutdown)
	_ = q.waitIdle(context.Background())
	return fmt.Errorf("shutdown: running jobs cancelled and queued again: %w", ctx.Err())
}

// waitIdle waits until no attempt is in progress or ctx is done.
func (q *Queue) waitIdle(ctx context.Context) error {
	for {
		q.mu.Lock()
		n, changed := len(q.runs), q.changed
		q.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// cancelRuns cancels the context of every attempt in progress.
func (q *Queue) cancelRuns(cause error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range q.runs {
		r.cancel(cause)
	}
}

// worker runs jobs one at a time until the queue stops.
func (q *Queue) worker(ctx context.Context) error {
	for {
		a, p, err := q.claim(ctx)
		if err != nil {
			return err
		}
		if a != nil {
			if err := q.execute(a); err != nil {
				return err
			}
			continue
		}
		if !q.idle(ctx, p) {
			return nil
		}
	}
}

// idle waits for a change, the end of a backoff or the end of the queue,
// and reports whether the worker should look for work again.
func (q *Queue) idle(ctx context.Context, p pause) bool {
	if p.stop {
		return false
	}
	var timer <-chan time.Time
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-q.stopping:
		return false
	case <-p.changed:
	case <-timer:
	}
	return true
}

// claim marks the oldest job that may start now Running, on disk, and
// returns its attempt; or, if there is none, what to wait for.
func (q *Queue) claim(ctx context.Context) (*attempt, pause, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || ctx.Err() != nil {
		return nil, pause{stop: true}, nil
	}
	now := q.cfg.Now()
	j, delay := q.next(now)
	if j == nil {
		return nil, pause{changed: q.changed, delay: delay}, nil
	}
	n := j.clone()
	n.State, n.Updated, n.Progress = Running, now, Progress{} // NotBefore stays, to show the backoff kept
	n.Attempts++
	if err := q.commit(n); err != nil {
		return nil, pause{}, fmt.Errorf("start: %w", err)
	}
	jctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	r := &run{cancel: cancel}
	q.runs[n.ID] = r
	return &attempt{job: n.clone(), ctx: jctx, run: r, runner: q.cfg.Runners[n.Kind]}, pause{}, nil
}

// next returns the oldest queued job that may start at now, or else how
// long until one may (0 if none is waiting out a backoff); q.mu is held.
func (q *Queue) next(now time.Time) (*Job, time.Duration) {
	var delay time.Duration
	for _, id := range q.ids {
		j := q.jobs[id]
		if j.State != Queued {
			continue
		}
		wait := j.NotBefore.Sub(now)
		if wait <= 0 {
			return j, 0
		}
		if delay == 0 || wait < delay {
			delay = wait
		}
	}
	return nil, delay
}

// execute runs an attempt and records how it ended.
func (q *Queue) execute(a *attempt) error {
	q.log.Info("job started", "job", a.job.ID, "kind", a.job.Kind, "attempt", a.job.Attempts)
	res, err := q.call(a)
	return q.finish(a, res, err)
}

// call runs the runner, turning a panic into a permanent error.
func (q *Queue) call(a *attempt) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("job runner panicked", "job", a.job.ID, "kind", a.job.Kind, "panic", p, "stack", string(debug.Stack()))
			res, err = nil, Permanent(fmt.Errorf("panic: %v", p))
		}
	}()
	if a.runner == nil { // a job loaded from disk whose kind is no longer configured
		return nil, Permanent(fmt.Errorf("no runner for kind %q", a.job.Kind))
	}
	return a.runner(a.ctx, a.job, a.run.report)
}

// finish records the end of an attempt. If the record cannot be written,
// the job changes in memory all the same (the file still says running, so
// the job runs again after a restart) and the error stops the queue.
func (q *Queue) finish(a *attempt, res any, runErr error) error {
	cause := context.Cause(a.ctx)
	a.run.cancel(nil)
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.runs, a.job.ID)
	n := q.jobs[a.job.ID].clone()
	n.Progress, n.Updated = a.run.progress(), q.cfg.Now()
	q.settle(n, res, runErr, cause)
	err := writeJob(q.cfg.Dir, n)
	q.install(n)
	q.logEnd(n)
	if err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	return nil
}

// settle sets the state of n from how its attempt ended: the runner's
// result and error, and the cause its context was cancelled with.
func (q *Queue) settle(n *Job, res any, runErr error, cause error) {
	switch {
	case n.CancelRequested: // whatever the runner returned
		n.State = Cancelled
		if raw, err := encodeJSON(res); runErr == nil && err == nil {
			n.Result = raw // it finished all the same: keep what it did
		}
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			n.Error = runErr.Error()
		}
	case runErr == nil:
		q.succeed(n, res)
	case errors.Is(cause, errShutdown):
		n.State = Queued
		n.Attempts-- // cut short by us: not a failed attempt
	default:
		q.fail(n, runErr)
	}
}

// succeed marks n Succeeded with res as its result, or Failed if res
// cannot be encoded.
func (q *Queue) succeed(n *Job, res any) {
	raw, err := encodeJSON(res)
	if err != nil {
		n.State, n.Error = Failed, fmt.Sprintf("encode result: %v", err)
		return
	}
	n.State, n.Result, n.Error = Succeeded, raw, ""
}

// fail queues n again after a backoff if err is worth retrying and
// attempts remain, and otherwise marks it Failed.
func (q *Queue) fail(n *Job, err error) {
	n.Error = err.Error()
	if q.retryable(err) && n.Attempts < n.MaxAttempts {
		n.State = Queued
		n.NotBefore = n.Updated.Add(q.backoff(n.Attempts))
		return
	}
	n.State = Failed
}

func (q *Queue) retryable(err error) bool {
	return !IsPermanent(err) && (q.cfg.Retryable == nil || q.cfg.Retryable(err))
}

// backoff is the wait after the attempt-th failed run: BaseBackoff doubled
// attempt-1 times, capped at MaxBackoff, with equal jitter (between half
// of that and all of it).
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.cfg.BaseBackoff
	for i := 1; i < attempt && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, q.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// logEnd logs how an attempt of n ended.
func (q *Queue) logEnd(n *Job) {
	attrs := []any{"job", n.ID, "kind", n.Kind, "state", n.State, "attempts", n.Attempts}
	switch {
	case n.State == Failed:
		q.log.Error("job failed", append(attrs, "error", n.Error)...)
	case n.State == Queued && !n.NotBefore.IsZero():
		q.log.Warn("job attempt failed, will retry", append(attrs, "error", n.Error, "not_before", n.NotBefore)...)
	default:
		q.log.Info("job attempt ended", attrs...)
	}
}

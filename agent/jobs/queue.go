package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/oklog/ulid/v2"
)

// Config configures a Queue. Zero values take the documented defaults.
type Config struct {
	Dir         string            // one JSON file per job: <Dir>/<id>.json; created 0700
	Workers     int               // jobs run at once; 0 => 2
	MaxAttempts int               // runs of a job before it fails; 0 => 5
	BaseBackoff time.Duration     // wait after the first failed run, doubling after each; 0 => 1s
	MaxBackoff  time.Duration     // cap on the wait; 0 => 1m
	Now         func() time.Time  // the clock; nil => time.Now
	Logger      *slog.Logger      // nil => discard
	Runners     map[string]Runner // by Kind; Submit of another kind is an error
	// Retryable says whether an error is worth retrying; nil => every error
	// not wrapped with Permanent is. Permanent errors are never retried.
	Retryable func(error) bool
	// Retention is how long a finished job (succeeded, failed, cancelled)
	// is kept after it ended: Open and Sweep forget older ones, removing
	// their files. 0 => kept for ever.
	Retention time.Duration
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Dir == "":
		return c, errors.New("jobs config: no directory")
	case c.Workers < 0 || c.MaxAttempts < 0:
		return c, fmt.Errorf("jobs config: negative workers %d or max attempts %d", c.Workers, c.MaxAttempts)
	case c.BaseBackoff < 0 || c.MaxBackoff < 0:
		return c, fmt.Errorf("jobs config: negative backoff %v or %v", c.BaseBackoff, c.MaxBackoff)
	case c.Retention < 0:
		return c, fmt.Errorf("jobs config: negative retention %v", c.Retention)
	}
	c.Workers = cmp.Or(c.Workers, 2)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 5)
	c.BaseBackoff = cmp.Or(c.BaseBackoff, time.Second)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, time.Minute)
	if c.BaseBackoff > c.MaxBackoff {
		return c, fmt.Errorf("jobs config: base backoff %v exceeds max backoff %v", c.BaseBackoff, c.MaxBackoff)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Runners = maps.Clone(c.Runners) // the caller's map may change; ours does not
	return c, nil
}

// Queue is the durable job queue. Its methods are safe for concurrent use.
type Queue struct {
	cfg Config
	log *slog.Logger

	// mu guards everything below. Jobs in the map are replaced, never
	// changed in place, and each change is on disk before it is in the map:
	// the file write happens under mu, which keeps writes of one job in order.
	mu       sync.Mutex
	jobs     map[string]*Job // by id
	ids      []string        // every id, oldest first
	runs     map[string]*run // attempts in progress, by job id
	changed  chan struct{}   // closed and replaced on every change
	last     ulid.ULID       // the newest id, so that new ids sort after it
	entropy  io.Reader       // monotonic within a millisecond
	running  bool            // Run is running
	closed   bool            // Shutdown was called
	stopping chan struct{}   // closed by Shutdown
}

// Open opens the queue kept in cfg.Dir, creating the directory if need be.
// It loads every job file: one that cannot be read is an error naming it.
// Jobs that were running when the process stopped are queued again, their
// attempt counted; a live job whose cancellation was requested is cancelled.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("job directory: %w", err)
	}
	if err := datadir.SyncDir(filepath.Dir(cfg.Dir)); err != nil { // a directory just made
		return nil, fmt.Errorf("job directory: %w", err)
	}
	loaded, err := loadDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		cfg:      cfg,
		log:      cfg.Logger,
		jobs:     make(map[string]*Job, len(loaded)),
		runs:     make(map[string]*run),
		changed:  make(chan struct{}),
		entropy:  ulid.Monotonic(rand.Reader, 0),
		stopping: make(chan struct{}),
	}
	for _, j := range loaded {
		if err := q.restore(j); err != nil {
			return nil, err
		}
	}
	slices.Sort(q.ids)
	if _, err := q.Sweep(); err != nil {
		// The jobs are forgotten; their files are tried again next time.
		q.log.Warn("finished jobs past their retention not all removed", "error", err)
	}
	return q, nil
}

// Sweep forgets the jobs that ended longer than Config.Retention ago,
// removing their files, and returns how many it forgot. A file it cannot
// remove is an error; the job is gone from the queue all the same, and
// the next Open tries again.
func (q *Queue) Sweep() (int, error) {
	if q.cfg.Retention == 0 {
		return 0, nil
	}
	q.mu.Lock()
	cutoff := q.cfg.Now().Add(-q.cfg.Retention)
	var gone []string
	q.ids = slices.DeleteFunc(q.ids, func(id string) bool {
		j := q.jobs[id]
		if !j.State.Terminal() || !j.Updated.Before(cutoff) {
			return false
		}
		delete(q.jobs, id)
		gone = append(gone, id)
		return true
	})
	q.mu.Unlock()
	if len(gone) == 0 {
		return 0, nil
	}
	var errs []error
	for _, id := range gone { // finished jobs are never written again
		if err := os.Remove(jobPath(q.cfg.Dir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, datadir.SyncDir(q.cfg.Dir))
	q.log.Info("finished jobs forgotten", "count", len(gone), "retention", q.cfg.Retention.String())
	if err := errors.Join(errs...); err != nil {
		return len(gone), fmt.Errorf("forget finished jobs: %w", err)
	}
	return len(gone), nil
}

// restore adds a job loaded by Open, settling one that a stopped process
// left live.
func (q *Queue) restore(j *Job) error {
	switch {
	case !j.State.Terminal() && j.CancelRequested:
		j.State, j.Updated = Cancelled, q.cfg.Now()
	case j.State == Running:
		j.State, j.Updated = Queued, q.cfg.Now()
		j.Error = "interrupted: the agent stopped during this attempt"
		q.log.Warn("job interrupted, queued again", "job", j.ID, "kind", j.Kind, "attempts", j.Attempts)
	default:
		q.install(j)
		return nil
	}
	return q.commit(j)
}

// Submit adds a job of a kind with a Runner, for an order (may be empty),
// with params encoded as JSON, on behalf of identity. The job is on disk
// when Submit returns.
func (q *Queue) Submit(ctx context.Context, kind, order string, params any, identity string) (*Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, ok := q.cfg.Runners[kind]; !ok {
		return nil, fmt.Errorf("submit %q job: %w", kind, ErrUnknownKind)
	}
	raw, err := encodeJSON(params)
	if err != nil {
		return nil, fmt.Errorf("submit %s job: params: %w", kind, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, fmt.Errorf("submit %s job: %w", kind, ErrClosed)
	}
	now := q.cfg.Now()
	id, err := q.newID(now)
	if err != nil {
		return nil, fmt.Errorf("submit %s job: %w", kind, err)
	}
	j := &Job{ID: id, Kind: kind, Order: order, Params: raw, Identity: identity,
		State: Queued, MaxAttempts: q.cfg.MaxAttempts, Created: now, Updated: now}
	if err := q.commit(j); err != nil {
		return nil, err
	}
	q.log.Info("job submitted", "job", id, "kind", kind, "order", order, "identity", identity)
	return j.clone(), nil
}

// encodeJSON encodes v, giving nil for nil or JSON null.
func encodeJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil, err
	}
	return b, nil
}

// newID returns a job id for a job made at now, after every id so far
// even if the clock went back.
func (q *Queue) newID(now time.Time) (string, error) {
	ts := max(ulid.Timestamp(now), q.last.Time())
	id, err := ulid.New(ts, q.entropy)
	if err == nil && id.Compare(q.last) <= 0 { // a loaded id in the same millisecond
		id, err = ulid.New(ts+1, q.entropy)
	}
	if err != nil {
		return "", fmt.Errorf("new job id: %w", err)
	}
	q.last = id
	return id.String(), nil
}

// Get returns a copy of the job id. An id that is not a job id, or names
// no job, is ErrNoJob.
func (q *Queue) Get(id string) (*Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, err := q.lookup(id)
	if err != nil {
		return nil, err
	}
	return q.view(j), nil
}

// List returns copies of every job, or of the jobs of one order when order
// is not empty, oldest first.
func (q *Queue) List(order string) []*Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*Job
	for _, id := range q.ids {
		if j := q.jobs[id]; order == "" || j.Order == order {
			out = append(out, q.view(j))
		}
	}
	return out
}

// Depth returns how many jobs are queued (including those waiting out a
// backoff) and how many are running.
func (q *Queue) Depth() (queued, running int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range q.jobs {
		switch j.State {
		case Queued:
			queued++
		case Running:
			running++
		}
	}
	return queued, running
}

// Cancel cancels the job id. A queued job is cancelled at once. A running
// job has its runner's context cancelled and is marked CancelRequested; it
// ends Cancelled when the runner returns. A finished job is ErrFinished.
func (q *Queue) Cancel(ctx context.Context, id string) (*Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j, err := q.lookup(id)
	switch {
	case err != nil:
		return nil, err
	case j.State.Terminal():
		return nil, fmt.Errorf("cancel job %s: %s: %w", id, j.State, ErrFinished)
	case j.CancelRequested:
		return q.view(j), nil
	}
	n := j.clone()
	n.CancelRequested, n.Updated = true, q.cfg.Now()
	if n.State == Queued {
		n.State = Cancelled
	}
	if err := q.commit(n); err != nil {
		return nil, fmt.Errorf("cancel: %w", err)
	}
	if r := q.runs[id]; r != nil {
		r.cancel(errCancelled)
	}
	q.log.Info("job cancel requested", "job", id, "state", n.State)
	return q.view(n), nil
}

// Wait blocks until the job id is in a terminal state, and returns a copy
// of it, or until ctx is done.
func (q *Queue) Wait(ctx context.Context, id string) (*Job, error) {
	for {
		j, changed, err := q.poll(id)
		if err != nil || j != nil {
			return j, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for job %s: %w", id, ctx.Err())
		}
	}
}

// poll returns a copy of the job id if it is finished, else the channel
// that is closed at the next change.
func (q *Queue) poll(id string) (*Job, <-chan struct{}, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, err := q.lookup(id)
	if err != nil {
		return nil, nil, err
	}
	if j.State.Terminal() {
		return j.clone(), nil, nil
	}
	return nil, q.changed, nil
}

// lookup returns the job id; q.mu is held.
func (q *Queue) lookup(id string) (*Job, error) {
	if !validID(id) {
		return nil, fmt.Errorf("job %q: %w", id, ErrNoJob)
	}
	j, ok := q.jobs[id]
	if !ok {
		return nil, fmt.Errorf("job %s: %w", id, ErrNoJob)
	}
	return j, nil
}

// view returns a copy of j with the progress of its running attempt;
// q.mu is held.
func (q *Queue) view(j *Job) *Job {
	c := j.clone()
	if r := q.runs[j.ID]; r != nil {
		c.Progress = r.progress()
	}
	return c
}

// commit writes j to disk and then installs it; q.mu is held.
func (q *Queue) commit(j *Job) error {
	if err := writeJob(q.cfg.Dir, j); err != nil {
		return err
	}
	q.install(j)
	return nil
}

// install puts j in the queue in place of its old version and wakes
// everyone waiting for a change; q.mu is held.
func (q *Queue) install(j *Job) {
	if _, ok := q.jobs[j.ID]; !ok {
		q.ids = append(q.ids, j.ID)
		if u, err := ulid.ParseStrict(j.ID); err == nil && u.Compare(q.last) > 0 {
			q.last = u
		}
	}
	q.jobs[j.ID] = j
	close(q.changed)
	q.changed = make(chan struct{})
}

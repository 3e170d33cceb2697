package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"
)

// State is where a job is in its life.
type State string

// The states of a job. Queued and Running jobs are live; the others are
// terminal and never change again.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Terminal reports whether a job in state s is finished for good.
func (s State) Terminal() bool {
	return s == Succeeded || s == Failed || s == Cancelled
}

// valid reports whether s is one of the states above.
func (s State) valid() bool {
	return s == Queued || s == Running || s.Terminal()
}

// Progress is how far the current attempt has come, as its runner last
// reported it: Done of Total units (bytes, items), Total 0 when unknown.
type Progress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

// Job is one unit of work and its record: what to run, for whom, and what
// has happened to it. Get and List hand out copies.
type Job struct {
	ID              string          `json:"id"`   // a ULID; ids sort in submission order
	Kind            string          `json:"kind"` // which Runner: "capture", "fixity"
	Order           string          `json:"order,omitempty"`
	Params          json.RawMessage `json:"params,omitempty"`
	Identity        string          `json:"identity,omitempty"` // who submitted it
	State           State           `json:"state"`
	Attempts        int             `json:"attempts"` // runs started
	MaxAttempts     int             `json:"max_attempts"`
	Error           string          `json:"error,omitempty"` // the last error
	Progress        Progress        `json:"progress"`
	Result          json.RawMessage `json:"result,omitempty"`
	Created         time.Time       `json:"created"`
	Updated         time.Time       `json:"updated"`
	NotBefore       time.Time       `json:"not_before,omitzero"` // earliest start of the next attempt (backoff)
	CancelRequested bool            `json:"cancel_requested,omitempty"`
}

// clone returns a copy of j that shares no memory with it.
func (j *Job) clone() *Job {
	c := *j
	c.Params = bytes.Clone(j.Params)
	c.Result = bytes.Clone(j.Result)
	return &c
}

// Runner runs one attempt of a job. It must stop when ctx is cancelled and
// be idempotent: an attempt cut short by a crash or a shutdown runs again.
// progress may be called often; it only records the numbers in memory.
// The result is stored as JSON.
type Runner func(ctx context.Context, j *Job, progress func(done, total int64)) (result any, err error)

// Errors a caller may branch on.
var (
	// ErrNoJob is returned for an id that names no job, including one that
	// is not a well-formed job id.
	ErrNoJob = errors.New("no such job")
	// ErrFinished is returned by Cancel for a job already in a terminal state.
	ErrFinished = errors.New("job already finished")
	// ErrClosed is returned by Submit and Run once Shutdown has been called.
	ErrClosed = errors.New("job queue is shut down")
	// ErrUnknownKind is returned by Submit for a kind with no Runner.
	ErrUnknownKind = errors.New("unknown job kind")
)

// permanentError marks an error that retrying cannot cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the queue fails the job at once instead of
// retrying it: bad parameters, an illegal transition. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, came from Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

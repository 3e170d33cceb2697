package scheduler

import (
	"context"
	"errors"
	"io"
	"math"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/storage"
)

// maxBurst bounds the bytes the rate limit lets through at once.
const maxBurst = 1 << 20

// bucket is a token bucket of bytes: it fills at rate bytes per second up
// to burst, and each read through it pays for its bytes, waiting until
// the bucket is no longer in debt. A read asks for at most burst bytes, so
// over any interval of length T the reads take at most 2*burst + rate*T
// bytes. Its time is the scheduler's clock.
type bucket struct {
	rate   float64
	burst  int
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

func newBucket(rate int64, now func() time.Time, sleep func(context.Context, time.Duration) error) *bucket {
	return &bucket{rate: float64(rate), burst: int(min(max(rate, 1), maxBurst)), now: now, sleep: sleep}
}

func (b *bucket) refill() {
	now := b.now()
	switch {
	case b.last.IsZero():
		b.tokens = float64(b.burst)
	case now.After(b.last):
		b.tokens = math.Min(float64(b.burst), b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
}

// take takes n bytes read, and waits until the bucket is out of debt.
func (b *bucket) take(ctx context.Context, n int) error {
	b.refill()
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return nil
	}
	wait := time.Duration(math.Ceil(-b.tokens / b.rate * float64(time.Second)))
	return b.sleep(ctx, wait)
}

// pacedReader reads through a bucket (b nil: unlimited), and stops when
// ctx is done, so that a large item does not hold up a shutdown.
type pacedReader struct {
	ctx context.Context
	rc  io.ReadCloser
	b   *bucket
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.b == nil {
		return r.rc.Read(p)
	}
	if len(p) > r.b.burst {
		p = p[:r.b.burst]
	}
	n, err := r.rc.Read(p)
	if n > 0 {
		if werr := r.b.take(r.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

func (r *pacedReader) Close() error { return r.rc.Close() }

// auditStore is the store as the fixity rounds read it: each item is
// opened before capture.Fixity asks for it, so that a store that does not
// answer pauses the round instead of being logged as a failed check, and
// reads go through the rate limit (b nil: unlimited). One goroutine uses
// it at a time (a Step).
type auditStore struct {
	store capture.FixityStore
	b     *bucket
	ahead *opened // the item open opened, for the Get that follows
}

type opened struct {
	key  string
	rc   io.ReadCloser
	info *storage.ObjectInfo
	err  error
}

// errStoreDown marks a store that did not answer: the round waits.
var errStoreDown = errors.New("the store did not answer")

// open opens key for the next Get. A store that does not answer (or ctx
// done) is its error; any other outcome, a missing object included, is
// for capture.Fixity to judge and record.
func (a *auditStore) open(ctx context.Context, key string) error {
	a.discard()
	rc, info, err := a.store.Get(ctx, key)
	if err != nil && (errors.Is(err, storage.ErrUnavailable) || ctx.Err() != nil) {
		return errors.Join(errStoreDown, err)
	}
	a.ahead = &opened{key: key, rc: rc, info: info, err: err}
	return nil
}

// discard closes what open opened and no Get took.
func (a *auditStore) discard() {
	if a.ahead != nil && a.ahead.rc != nil {
		_ = a.ahead.rc.Close()
	}
	a.ahead = nil
}

// Get returns what open opened for key, or opens it.
func (a *auditStore) Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error) {
	o := a.ahead
	a.ahead = nil
	if o == nil || o.key != key {
		if o != nil && o.rc != nil {
			_ = o.rc.Close()
		}
		o = &opened{key: key}
		o.rc, o.info, o.err = a.store.Get(ctx, key)
	}
	if o.err != nil {
		return nil, nil, o.err
	}
	return &pacedReader{ctx: ctx, rc: o.rc, b: a.b}, o.info, nil
}

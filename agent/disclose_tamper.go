package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// tamperWatch notes the items a disclosure finds altered or missing as it
// reads them, so that each is logged as fixity.failed, as a read through
// the API logs it: the outcome of finding tampering does not depend on
// the path that found it. It is safe for concurrent use.
type tamperWatch struct {
	mu    sync.Mutex
	found []tamperedItem
	seen  map[string]bool
}

type tamperedItem struct {
	digest chain.Digest
	key    string
	err    error
}

// open wraps the Open of the item dg stored under key: a failure to open
// it, or a read error, that is tampering is noted.
func (t *tamperWatch) open(dg chain.Digest, key string, open func(context.Context) (io.ReadCloser, error)) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		rc, err := open(ctx)
		if err != nil {
			t.note(dg, key, err)
			return nil, err
		}
		return &watchedReader{ReadCloser: rc, note: func(err error) { t.note(dg, key, err) }}, nil
	}
}

func (t *tamperWatch) note(dg chain.Digest, key string, err error) {
	if !errors.Is(err, chain.ErrTamper) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[key] {
		return
	}
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	t.seen[key] = true
	t.found = append(t.found, tamperedItem{digest: dg, key: key, err: err})
}

// watchedReader passes reads through, noting an error that is tampering.
type watchedReader struct {
	io.ReadCloser
	note func(error)
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.ReadCloser.Read(p)
	if err != nil {
		w.note(err) // io.EOF is not tampering: note passes over it
	}
	return n, err
}

// recordTampered logs fixity.failed for each item the disclosure of o
// found altered or missing (via: disclose), even if the disclosure's
// context has ended.
func (r *Registry) recordTampered(ctx context.Context, o *order.Order, t *tamperWatch) error {
	t.mu.Lock()
	found := append([]tamperedItem(nil), t.found...)
	t.mu.Unlock()
	var errs []error
	for _, f := range found {
		e := chain.Event{
			Type: chain.FixityFailed, Time: r.now(), Order: o.ID, Actor: r.Agent, Agent: r.Agent, Host: r.Host,
			Authority: o.LegalBasis, Items: []chain.Digest{f.digest}, Reason: f.err.Error(),
			Details: map[string]string{"key": f.key, "via": "disclose"},
		}
		if _, err := r.Log.Append(context.WithoutCancel(ctx), e); err != nil {
			errs = append(errs, fmt.Errorf("item %s found altered, its fixity.failed not logged: %w", f.key, err))
		}
	}
	return errors.Join(errs...)
}

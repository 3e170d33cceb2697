package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/source"
)

type blockingSource struct{ started, release chan struct{} }

func (b *blockingSource) Kind() string { return "blocking" }
func (b *blockingSource) Capture(ctx context.Context, _ source.Request, _ source.Emit) (source.Summary, error) {
	close(b.started)
	<-b.release // a long export: minutes to hours
	return source.Summary{}, nil
}

// A step waiting for an order's turn ends with its context: a cancelled
// request (or the scheduler on SIGTERM) does not wait for a whole capture.
func TestStepWaitingForATurnEndsWithItsContext(t *testing.T) {
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	src := &blockingSource{started: make(chan struct{}), release: make(chan struct{})}
	capDone := make(chan error, 1)
	go func() {
		_, err := f.reg.Capture(context.Background(), o.ID, CaptureOptions{Sources: []capture.NamedSource{{Name: "b", Source: src}}, Actor: "c", CutOff: time.Now()})
		capDone <- err
	}()
	<-src.started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	relDone := make(chan error, 1)
	go func() { _, err := f.reg.Release(ctx, o.ID, "expired", "scheduler"); relDone <- err }()
	select {
	case err := <-relDone:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("release waiting for its turn: %v, want its context's end", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("Release with a context cancelled long ago still waits for the order's turn")
	}
	close(src.release)
	if err := <-capDone; err != nil {
		t.Fatal(err)
	}
}

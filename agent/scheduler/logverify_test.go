package scheduler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/scheduler"
	"github.com/custos-evidence/custos/chain"
)

// A scheduled verification of the log that finds tampering is logged at
// Error, not as a duty to retry, and the log refuses writes from then on.
func TestHookFindingTamperingIsAnError(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0)
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			if _, err := f.log.Append(ctx, chain.Event{Type: chain.CustodyNote, Time: t0, Actor: "custodian@example.net",
				Agent: "agent-1", Reason: fmt.Sprintf("note %d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := f.log.Verify(ctx, false); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(f.dir, "log", "tile/entries/000")
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"note `))
	b[i+6] = '1' + (b[i+6]-'0'+1)%9
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	cfg.Hooks = []scheduler.Hook{{Name: "log verification", Every: time.Minute, Run: func(ctx context.Context) error {
		_, err := f.log.Verify(ctx, false)
		return err
	}}}
	rep := step(t, f.scheduler(t, cfg))
	if len(rep.Errors) != 1 || !errors.Is(rep.Errors[0], chain.ErrTamper) {
		t.Fatalf("step errors: %v", rep.Errors)
	}
	lines := f.logs.lines(t, "scheduled duty found tampering")
	if len(lines) != 1 || lines[0]["level"] != "ERROR" || lines[0]["hook"] != "log verification" ||
		!strings.Contains(fmt.Sprint(lines[0]["error"]), "tile/0/000") {
		t.Fatalf("log lines: %v", lines)
	}
	if _, err := f.log.Append(ctx, chain.Event{Type: chain.CustodyNote, Time: t0, Actor: "a", Agent: "agent-1", Reason: "after"}); !errors.Is(err, chain.ErrLogFailed) {
		t.Fatalf("append after the failed verification: %v", err)
	}
}

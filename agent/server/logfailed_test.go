package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// fillBundle appends custody notes "note 0" ... "note n-1" at once, so
// that the log holds a full entry bundle.
func fillBundle(t *testing.T, l *chain.Log, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := l.Append(context.Background(), chain.Event{Type: chain.CustodyNote, Time: time.Now().UTC(),
				Actor: "custodian@example.net", Agent: "agent-1", Reason: fmt.Sprintf("note %d", i)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A verification that finds an entry bundle altered turns the daemon
// unready and stops every write with 503 (reads go on), flags the metric,
// and names the entry.
func TestTamperedLogTurnsTheServerUnready(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	fillBundle(t, f.log, 300)
	id := f.createOrder(t, "intake", "LE-0", false)
	if _, err := f.log.Verify(ctx, false); err != nil {
		t.Fatal(err)
	}
	f.must(t, http.StatusOK, "", "GET", "/readyz", nil)
	bundle := filepath.Join(f.dir, "log", "tile/entries/000")
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"note `)) // in a full bundle, below what was verified
	if i < 0 {
		t.Fatal("no note in bundle 000")
	}
	b[i+6] = '1' + (b[i+6]-'0'+1)%9 // another digit, never a leading zero
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Verify(ctx, false); err == nil {
		t.Fatal("the verification after the change passed")
	}

	r := f.must(t, http.StatusServiceUnavailable, "", "GET", "/readyz", nil)
	if !strings.Contains(string(r.body), `"log":"failing"`) {
		t.Fatalf("readyz: %s", r.body)
	}
	r = f.must(t, http.StatusServiceUnavailable, "intake", "POST", "/v1/notes", map[string]string{"note": "after the change"})
	if code := r.errorCode(t); code != "log_failed" || !strings.Contains(string(r.body), "tile/0/000") || !strings.Contains(string(r.body), "custos log restore") {
		t.Fatalf("note on a failed log: %s", r.body)
	}
	r = f.must(t, http.StatusServiceUnavailable, "intake", "POST", "/v1/orders", anOrder("LE-1", false))
	if code := r.errorCode(t); code != "log_failed" {
		t.Fatalf("order on a failed log: %s", r.body)
	}
	// A capture is refused at once, not queued as a job that would fail.
	r = f.must(t, http.StatusServiceUnavailable, "custodian", "POST", "/v1/orders/"+id+"/captures", map[string]any{"sources": []string{"mail"}})
	if code := r.errorCode(t); code != "log_failed" {
		t.Fatalf("capture on a failed log: %s", r.body)
	}
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/orders/"+id, nil)
	m := f.must(t, http.StatusOK, "auditor", "GET", "/metrics", nil)
	if !strings.Contains(string(m.body), "\ncustos_log_failed 1\n") {
		t.Fatalf("metrics do not flag the failed log:\n%s", m.body)
	}
}

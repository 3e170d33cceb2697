package chain_test

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

	"github.com/custos-evidence/custos/chain"
	"github.com/transparency-dev/tessera/api/layout"
)

// grownLog is a closed log of n entries: buildLog's ten notes of two
// orders, then notes of no order appended at once, so that it is quick
// to build.
func grownLog(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	dir, _ := buildLog(t, 10)
	l, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 11; i < n; i++ {
		wg.Go(func() {
			if _, err := l.Append(ctx, noteEvent("", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

// flipNote changes one digit of the first note in the full entry bundle
// 000 and returns the entry's index: the entry stays a canonical event,
// only its leaf hash no longer matches the hash tile.
func flipNote(t *testing.T, dir string) int {
	t.Helper()
	p := filepath.Join(dir, "tile/entries/000")
	es := readBundle(t, p)
	for i, e := range es {
		if j := bytes.Index(e, []byte(`"note `)); j >= 0 {
			e[j+6] = '1' + (e[j+6]-'0'+1)%9 // another digit, never a leading zero
			writeBundle(t, p, es)
			return i
		}
	}
	t.Fatal("no note in bundle 000")
	return 0
}

// wantLogFailed checks that err is the refusal of a tampered log naming
// the entry and what to do.
func wantLogFailed(t *testing.T, what string, err error, entry int) {
	t.Helper()
	var lf *chain.LogFailedError
	if !errors.Is(err, chain.ErrTamper) || !errors.Is(err, chain.ErrLogFailed) || !errors.As(err, &lf) {
		t.Fatalf("%s: %v; want a *LogFailedError matching ErrTamper and ErrLogFailed", what, err)
	}
	for _, s := range []string{fmt.Sprintf("tile/0/000: entry %d: ", entry), "custos log verify", "custos log restore"} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: %q does not say %q", what, err, s)
		}
	}
}

func openAt(t *testing.T, dir string) (*chain.Log, error) {
	t.Helper()
	return chain.Open(context.Background(), chain.Config{Dir: dir, Origin: testOrigin, Signer: testSigner(t, 3),
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond})
}

func reopen(t *testing.T, dir string) {
	t.Helper()
	l, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, dir string, names ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

// An entry bundle altered after it was verified stops the next writer
// before it writes anything, though start-up reads only what is new.
func TestOpenRefusesABundleAlteredAfterItWasVerified(t *testing.T) {
	dir := grownLog(t, 601) // bundles 000 and 001 full, 002 partial
	reopen(t, dir)          // verifies the whole log and records it
	if _, err := os.Stat(filepath.Join(dir, ".verified")); err != nil {
		t.Fatalf("no verified record after an open: %v", err)
	}
	entry := flipNote(t, dir)
	before := readAll(t, dir, "checkpoint", ".state/treeState", ".verified")
	sizes, _ := chain.KeptCheckpointSizes(os.DirFS(dir))
	l, err := openAt(t, dir)
	if err == nil {
		_ = l.Close(context.Background())
	}
	wantLogFailed(t, "open", err, entry)
	after := readAll(t, dir, "checkpoint", ".state/treeState", ".verified")
	for n := range before {
		if !bytes.Equal(before[n], after[n]) {
			t.Fatalf("a refused open changed %s", n)
		}
	}
	if now, _ := chain.KeptCheckpointSizes(os.DirFS(dir)); len(now) != len(sizes) {
		t.Fatalf("a refused open signed a checkpoint: %v, then %v", sizes, now)
	}
}

// A writer verifies only what no verification covered: after a full
// verification, an incremental one reads only the partial tail bundle.
func TestVerifyIsIncremental(t *testing.T) {
	ctx := context.Background()
	dir := grownLog(t, 601)
	l, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	if size, full := l.Verified(); size != 512 || time.Since(full) > time.Minute {
		t.Fatalf("after open: verified %d entries, fully at %v; want 512, now", size, full)
	}
	rep, err := l.Verify(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 601-512 || rep.Orders != 0 {
		t.Fatalf("incremental verification read %d entries and followed %d orders; want %d and 0", rep.Entries, rep.Orders, 601-512)
	}
	rep, err = l.Verify(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 601 || rep.Orders != 2 || rep.CheckpointsVerified < 2 {
		t.Fatalf("full verification: %+v", rep)
	}
}

// A log altered while it is open is stopped by the next Verify: nothing
// more is appended or signed, and Close publishes nothing.
func TestVerifyStopsATamperedLog(t *testing.T) {
	ctx := context.Background()
	dir := grownLog(t, 601)
	l, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, false); err != nil {
		t.Fatal(err)
	}
	entry := flipNote(t, dir)
	_, err = l.Verify(ctx, false) // the bundle's stamp changed: all is read again
	wantLogFailed(t, "verify", err, entry)
	if l.Failed() == nil {
		t.Fatal("the log did not fail")
	}
	sizes, _ := chain.KeptCheckpointSizes(os.DirFS(dir))
	_, err = l.Append(ctx, noteEvent(orderA, 1000))
	wantLogFailed(t, "append", err, entry)
	_, err = l.Checkpoint(ctx)
	wantLogFailed(t, "checkpoint", err, entry)
	_, err = l.Verify(ctx, true)
	wantLogFailed(t, "verify again", err, entry)
	if err := l.Close(ctx); err != nil {
		t.Fatalf("close of a failed log: %v", err)
	}
	if now, _ := chain.KeptCheckpointSizes(os.DirFS(dir)); len(now) != len(sizes) {
		t.Fatalf("a failed log signed a checkpoint: %v, then %v", sizes, now)
	}
}

// Verifications while the log grows and publishes see one consistent
// state each: no false alarm.
func TestVerifyWhileAppending(t *testing.T) {
	ctx := context.Background()
	dir, _ := buildLog(t, 10)
	l, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	done := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if _, err := l.Append(ctx, noteEvent("", w*1000+i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	for full := false; ; full = !full {
		if _, err := l.Verify(ctx, full); err != nil {
			t.Fatalf("verify (full %v) while appending: %v", full, err)
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-done:
			if _, err := l.Verify(ctx, false); err != nil {
				t.Fatal(err)
			}
			if size, _ := l.Verified(); size != 811-811%256 {
				t.Fatalf("verified %d entries of 811", size)
			}
			return
		default:
		}
	}
}

// A damaged or missing record costs a full verification, not a refusal.
func TestDamagedVerifiedRecord(t *testing.T) {
	dir := grownLog(t, 301)
	reopen(t, dir)
	mutate(t, filepath.Join(dir, ".verified"), func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
	reopen(t, dir)
	raw, err := os.ReadFile(filepath.Join(dir, ".verified"))
	if err != nil || !strings.HasPrefix(string(raw), "custos log verified v1\nsize 256\n") {
		t.Fatalf("record after a damaged one: %q, %v", raw, err)
	}
	if err := os.Remove(filepath.Join(dir, ".verified")); err != nil {
		t.Fatal(err)
	}
	flipNote(t, dir)
	if _, err := openAt(t, dir); !errors.Is(err, chain.ErrLogFailed) {
		t.Fatalf("open of a tampered log without its record: %v", err)
	}
}

// A full verification by the writer (the daemon's, every
// log.verify_every) checks the older partial versions kept for older
// checkpoints, as custos log verify does: one altered stops the log.
func TestFullVerifyChecksOlderPartials(t *testing.T) {
	ctx := context.Background()
	dir, _ := buildLog(t, 300)
	sizes, err := chain.KeptCheckpointSizes(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	var older string
	for _, size := range sizes[:len(sizes)-1] {
		b := size / layout.EntryBundleWidth
		p := layout.PartialTileSize(0, b, size)
		if _, err := os.Stat(filepath.Join(dir, layout.EntriesPath(b, p))); p > 0 && err == nil {
			older = layout.EntriesPath(b, p)
		}
	}
	if older == "" {
		t.Fatalf("no older partial bundle kept (checkpoints %v)", sizes)
	}
	l, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	if _, err := l.Verify(ctx, true); err != nil {
		t.Fatalf("untouched: %v", err)
	}
	mutate(t, filepath.Join(dir, older), func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	_, err = l.Verify(ctx, true)
	if !errors.Is(err, chain.ErrLogFailed) || !strings.Contains(err.Error(), older) {
		t.Fatalf("an altered older partial %s: %v; want the log failed, naming it", older, err)
	}
}

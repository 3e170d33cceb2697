package chain_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"

	"github.com/custos-evidence/custos/chain"
)

// TestVerifyLogOlderPartials: the partial entry bundles and hash tiles
// kept for older checkpoints are checked against the newest version of
// their resource; one altered, or cut short, is reported, naming its file
// (issue 18 item 5).
func TestVerifyLogOlderPartials(t *testing.T) {
	base, key := buildLog(t, 300)
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	// The partials a verifier of a kept checkpoint fetches, but for the
	// newest, which the walk reads; two checkpoints' worth: each copy of
	// the log costs.
	sizes, err := chain.KeptCheckpointSizes(os.DirFS(base))
	if err != nil {
		t.Fatal(err)
	}
	var partials []string
	for _, size := range sizes[:len(sizes)-1] {
		b := size / layout.EntryBundleWidth
		p := layout.PartialTileSize(0, b, size)
		for _, f := range []string{layout.EntriesPath(b, p), layout.TilePath(0, b, p)} {
			if _, err := os.Stat(filepath.Join(base, f)); p > 0 && err == nil && len(partials) < 4 {
				partials = append(partials, f)
			}
		}
	}
	if len(partials) < 2 {
		t.Fatalf("the log keeps no older partial bundle and tile (checkpoints %v)", sizes)
	}
	if rep, err := chain.VerifyLog(context.Background(), os.DirFS(base), v); err != nil {
		t.Fatalf("untouched: %v %+v", err, rep)
	}
	for _, file := range partials {
		for name, change := range map[string]func([]byte) []byte{
			"a flipped byte": func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
			"cut short":      func(b []byte) []byte { return b[:len(b)-1] },
		} {
			t.Run(file+" "+name, func(t *testing.T) {
				dir := copyDir(t, base)
				mutate(t, filepath.Join(dir, file), change)
				rep, err := chain.VerifyLog(context.Background(), os.DirFS(dir), v)
				if err == nil {
					t.Fatalf("no problem found; report %+v", rep)
				}
				for _, p := range rep.Problems {
					if p.File == file {
						return
					}
				}
				t.Fatalf("no problem names %s: %v", file, err)
			})
		}
	}
}

// TestVerifyLogIgnoresPartialsBeyondTheLog: a writer killed between
// writing an integration's bundle and tile and writing its tree state
// leaves partials wider than the log, holding entries it never adopted.
// No checkpoint covers them and the next integration overwrites them, so
// they are not the newest version the older partials are checked against
// (TestCrashSafety met this under -race in CI).
func TestVerifyLogIgnoresPartialsBeyondTheLog(t *testing.T) {
	base, key := buildLog(t, 300)
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	size, _, ok, err := chain.IntegratedSize(os.DirFS(base))
	if err != nil || !ok {
		t.Fatalf("tree state: %v %v", ok, err)
	}
	b := size / layout.EntryBundleWidth
	p := layout.PartialTileSize(0, b, size)
	if p == 0 || p > 250 {
		t.Fatalf("the log's last bundle is not partial enough to widen: size %d", size)
	}
	dir := copyDir(t, base)
	widen := func(file, wider string, extra []byte) {
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		// Never adopted: the entries at these indexes will differ.
		raw[len(raw)-1] ^= 1
		if err := os.WriteFile(filepath.Join(dir, wider), append(raw, extra...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	widen(layout.EntriesPath(b, p), layout.EntriesPath(b, p+2), []byte{0, 1, 'x', 0, 1, 'y'})
	widen(layout.TilePath(0, b, p), layout.TilePath(0, b, p+2), make([]byte, 64))
	if rep, err := chain.VerifyLog(context.Background(), os.DirFS(dir), v); err != nil {
		t.Fatalf("a leftover wider than the log is reported: %v %+v", err, rep)
	}
	// The newest version itself altered is still found.
	mutate(t, filepath.Join(dir, layout.EntriesPath(b, p)), func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	if _, err := chain.VerifyLog(context.Background(), os.DirFS(dir), v); err == nil {
		t.Fatal("the newest bundle altered is not reported")
	}
}

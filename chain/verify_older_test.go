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

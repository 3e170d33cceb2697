package chain_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

func treePaths(files []chain.TreeFile) []string {
	var p []string
	for _, f := range files {
		p = append(p, f.Path)
	}
	return p
}

func TestTreeFiles(t *testing.T) {
	for _, tc := range []struct {
		from, to uint64
		want     []string
	}{
		{0, 0, nil},
		{5, 5, nil},
		{7, 5, nil},
		{0, 1, []string{"tile/0/000.p/1", "tile/entries/000.p/1"}},
		{1, 4, []string{"tile/0/000.p/4", "tile/entries/000.p/4"}},
		{4, 256, []string{"tile/0/000", "tile/entries/000", "tile/1/000.p/1"}},
		{256, 257, []string{"tile/0/001.p/1", "tile/entries/001.p/1"}},
		{257, 300, []string{"tile/0/001.p/44", "tile/entries/001.p/44"}},
		{300, 512, []string{"tile/0/001", "tile/entries/001", "tile/1/000.p/2"}},
		{0, 300, []string{"tile/0/000", "tile/entries/000", "tile/0/001.p/44", "tile/entries/001.p/44", "tile/1/000.p/1"}},
		{65535, 65536, []string{"tile/0/255", "tile/entries/255", "tile/1/000", "tile/2/000.p/1"}},
		{1234067 * 256, 1234067*256 + 1, []string{"tile/0/x001/x234/067.p/1", "tile/entries/x001/x234/067.p/1"}},
	} {
		got := treePaths(chain.TreeFiles(tc.from, tc.to))
		if !slices.Equal(got, tc.want) {
			t.Errorf("TreeFiles(%d, %d) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

// TestTreeFilesSteps checks, for random sizes a < b, that the files of
// the step are files of tree b, and that tree b needs nothing that tree
// a and the step do not give.
func TestTreeFilesSteps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		a := r.Uint64N(1 << 17)
		b := a + 1 + r.Uint64N(1<<(1+r.UintN(17)))
		all := treePaths(chain.TreeFiles(0, b))
		inB := map[string]bool{}
		for _, p := range all {
			inB[p] = true
		}
		have := map[string]bool{}
		for _, p := range treePaths(chain.TreeFiles(0, a)) {
			have[p] = true
		}
		for _, p := range treePaths(chain.TreeFiles(a, b)) {
			if !inB[p] {
				t.Fatalf("TreeFiles(%d, %d) has %s, which the tree of %d does not", a, b, p, b)
			}
			have[p] = true
		}
		for _, p := range all {
			if !have[p] {
				t.Fatalf("tree %d needs %s, given by neither TreeFiles(0, %d) nor TreeFiles(%d, %d)", b, p, a, a, b)
			}
		}
	}
}

// TestTreeFilesOnDisk checks TreeFiles against what the writer puts on
// disk, and ReadTreeFile's cut from a full file against the partial file
// the writer wrote.
func TestTreeFilesOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, dir, testSigner(t, 7))
	var sizes []uint64
	for i := range 300 {
		if _, err := l.Append(ctx, noteEvent(orderA, i)); err != nil {
			t.Fatal(err)
		}
		if i == 4 || i == 254 || i == 298 {
			cp, err := l.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, cp.Size)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sizes = append(sizes, 301)
	fsys := os.DirFS(dir)
	for _, s := range sizes {
		for _, f := range chain.TreeFiles(0, s) {
			want, err := os.ReadFile(filepath.Join(dir, f.Path))
			if err != nil {
				t.Fatalf("tree %d: %v", s, err)
			}
			got, err := chain.ReadTreeFile(fsys, f)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReadTreeFile(%s) = %d bytes, %v; want the %d bytes on disk", f.Path, len(got), err, len(want))
			}
			if f.Width == 0 {
				continue
			}
			// As if the writer had replaced the partial file by the full one.
			if err := os.Rename(filepath.Join(dir, f.Path), filepath.Join(dir, f.Path+".aside")); err != nil {
				t.Fatal(err)
			}
			got, err = chain.ReadTreeFile(fsys, f)
			full := strings.HasPrefix(f.Path, "tile/entries/000") || strings.HasPrefix(f.Path, "tile/0/000")
			switch {
			case full && (err != nil || !bytes.Equal(got, want)):
				t.Errorf("ReadTreeFile(%s) from the full file = %d bytes, %v; want the %d bytes of the partial one", f.Path, len(got), err, len(want))
			case !full && !errors.Is(err, chain.ErrTamper):
				t.Errorf("ReadTreeFile(%s) with neither file = %v, want tampering", f.Path, err)
			}
			if err := os.Rename(filepath.Join(dir, f.Path+".aside"), filepath.Join(dir, f.Path)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A full file cut short cannot give the partial file.
	mutate(t, filepath.Join(dir, "tile/entries/000"), func(b []byte) []byte { return b[:100] })
	f := chain.TreeFiles(0, 5)[1]
	if err := os.Remove(filepath.Join(dir, f.Path)); err != nil {
		t.Fatal(err)
	}
	if _, err := chain.ReadTreeFile(fsys, f); !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "tile/entries/000: too short") {
		t.Errorf("ReadTreeFile from a short full bundle = %v, want tampering naming it", err)
	}
}

// TestReinstate rebuilds a log from its immutable files alone, as a
// restore from the mirror does: it verifies, and the writer continues it.
func TestReinstate(t *testing.T) {
	ctx := context.Background()
	dir, key := buildLog(t, 300)
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.Reinstate(dir, v); err == nil || !strings.Contains(err.Error(), "checkpoint exists") {
		t.Fatalf("Reinstate of a log = %v, want a refusal", err)
	}
	copied := t.TempDir()
	fsys := os.DirFS(dir)
	sizes, err := chain.KeptCheckpointSizes(fsys)
	if err != nil {
		t.Fatal(err)
	}
	last := sizes[len(sizes)-1]
	for _, f := range chain.TreeFiles(0, last) {
		b, err := chain.ReadTreeFile(fsys, f)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(copied, f.Path), b)
	}
	for _, s := range sizes {
		b, err := os.ReadFile(filepath.Join(dir, chain.CheckpointsDir, itoa(s)))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(copied, chain.CheckpointsDir, itoa(s)), b)
	}
	other, err := mustKey(t, testSigner(t, 9)).NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.Reinstate(copied, other); !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("Reinstate with another key = %v, want tampering", err)
	}
	cp, err := chain.Reinstate(copied, v)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != last {
		t.Fatalf("reinstated at size %d, want %d", cp.Size, last)
	}
	if rep, err := chain.VerifyLog(ctx, os.DirFS(copied), v); err != nil || rep.Entries != last {
		t.Fatalf("VerifyLog of the reinstated log: %d entries, %v", rep.Entries, err)
	}
	l := openLog(t, copied, testSigner(t, 3))
	if r, err := l.Append(ctx, noteEvent(orderA, 1000)); err != nil || r.Index != last {
		t.Fatalf("append to the reinstated log: %v, %v; want index %d", r, err, last)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := chain.VerifyLog(ctx, os.DirFS(copied), v); err != nil || rep.Unsealed != 0 || rep.Entries != last+1 {
		t.Fatalf("VerifyLog after appending: %+v, %v", rep, err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

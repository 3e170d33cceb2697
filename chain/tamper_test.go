package chain_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

// buildLog makes a closed log of n custody notes over two orders, after
// the log.opened event at index 0.
func buildLog(t *testing.T, n int) (string, *chain.Key) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s := testSigner(t, 3)
	l := openLog(t, dir, s)
	for i := range n {
		order := orderA
		if i%2 == 1 {
			order = orderB
		}
		if _, err := l.Append(ctx, noteEvent(order, i)); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			if _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir, mustKey(t, s)
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "log")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

func readBundle(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(b) > 0 {
		n := int(binary.BigEndian.Uint16(b))
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

func writeBundle(t *testing.T, path string, entries [][]byte) {
	t.Helper()
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	chmodWrite(t, path, b)
}

func chmodWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	_ = os.Chmod(path, 0o644)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mutate(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	chmodWrite(t, path, f(b))
}

func TestVerifyLogTamper(t *testing.T) {
	const n = 300 // one full entry bundle and one partial
	base, key := buildLog(t, n)
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	otherKey := mustKey(t, testSigner(t, 9))
	otherV, _ := otherKey.NoteVerifier()
	sizes, err := chain.KeptCheckpointSizes(os.DirFS(base))
	if err != nil || len(sizes) < 3 {
		t.Fatalf("kept checkpoints %v: %v", sizes, err)
	}
	older := sizes[len(sizes)-2]

	cases := []struct {
		name     string
		tamper   func(t *testing.T, dir string)
		verifier func() any
		file     string
		index    int64
		what     string
	}{
		{"flip byte in entry", func(t *testing.T, dir string) {
			mutate(t, filepath.Join(dir, "tile/entries/000"), func(b []byte) []byte {
				i := strings.Index(string(b), "note 5")
				b[i+5] = '6'
				return b
			})
		}, nil, "tile/0/000", 6, "leaf hash in the tile does not match"},
		{"flip byte in entry framing", func(t *testing.T, dir string) {
			mutate(t, filepath.Join(dir, "tile/entries/000"), func(b []byte) []byte { b[0] ^= 0x40; return b })
		}, nil, "tile/entries/000", 0, "malformed"},
		{"entry made non-canonical", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tile/entries/000")
			es := readBundle(t, p)
			es[7] = []byte(strings.Replace(string(es[7]), `{"actor"`, `{ "actor"`, 1))
			writeBundle(t, p, es)
		}, nil, "tile/entries/000", 7, "not a canonical custody event"},
		{"two entries swapped", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tile/entries/000")
			es := readBundle(t, p)
			es[10], es[12] = es[12], es[10]
			writeBundle(t, p, es)
		}, nil, "tile/0/000", 10, "leaf hash in the tile does not match"},
		{"entry removed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tile/entries/000")
			es := readBundle(t, p)
			writeBundle(t, p, append(es[:20:20], es[21:]...))
		}, nil, "tile/0/000", 20, "leaf hash in the tile does not match"},
		{"bundle deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "tile/entries/000")); err != nil {
				t.Fatal(err)
			}
		}, nil, "tile/entries/000", 0, "missing"},
		{"partial bundle truncated", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tile/entries/001.p/45")
			es := readBundle(t, p)
			writeBundle(t, p, es[:40])
		}, nil, "tile/entries/001.p/45", 296, "truncated"},
		{"hash tile altered", func(t *testing.T, dir string) {
			mutate(t, filepath.Join(dir, "tile/0/000"), func(b []byte) []byte { b[32*3] ^= 1; return b })
		}, nil, "tile/0/000", 3, "leaf hash in the tile does not match"},
		{"checkpoint signature replaced", func(t *testing.T, dir string) {
			mutate(t, filepath.Join(dir, "checkpoint"), func(b []byte) []byte {
				i := strings.LastIndex(string(b), " ") + 10
				b[i] ^= 1
				return b
			})
		}, nil, "checkpoint", chain.NoIndex, "signature"},
		{"checkpoint root altered", func(t *testing.T, dir string) {
			mutate(t, filepath.Join(dir, "checkpoint"), func(b []byte) []byte {
				lines := strings.SplitN(string(b), "\n", 4)
				lines[2] = "AAAA" + lines[2][4:]
				return []byte(strings.Join(lines, "\n"))
			})
		}, nil, "checkpoint", chain.NoIndex, "signature"},
		{"kept checkpoint altered", func(t *testing.T, dir string) {
			mutate(t, filepath.Join(dir, "checkpoints", itoa(older)), func(b []byte) []byte {
				return []byte(strings.Replace(string(b), "\n"+itoa(older)+"\n", "\n"+itoa(older-1)+"\n", 1))
			})
		}, nil, "checkpoints/" + itoa(older), chain.NoIndex, "does not verify"},
		{"log rolled back", func(t *testing.T, dir string) {
			// An older copy of the log and its state, with the newer
			// checkpoints still kept (they may also live in a mirror).
			b, err := os.ReadFile(filepath.Join(dir, "checkpoints", itoa(older)))
			if err != nil {
				t.Fatal(err)
			}
			chmodWrite(t, filepath.Join(dir, "checkpoint"), b)
			chmodWrite(t, filepath.Join(dir, ".state/treeState"), []byte(fmt.Sprintf(`{"size":%d,"root":""}`, older)))
		}, nil, ".state/treeState", chain.NoIndex, "rolled back"},
		{"published checkpoint rolled back", func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(dir, "checkpoints", itoa(sizes[len(sizes)-3])))
			if err != nil {
				t.Fatal(err)
			}
			chmodWrite(t, filepath.Join(dir, "checkpoint"), b)
		}, nil, "checkpoint", chain.NoIndex, "the checkpoint was rolled back"},
		{"hash tile with an extra hash", func(t *testing.T, dir string) {
			mutate(t, filepath.Join(dir, "tile/0/001.p/45"), func(b []byte) []byte { return append(b, make([]byte, 32)...) })
		}, nil, "tile/0/001.p/45", chain.NoIndex, "its name says 45"},
		{"bundle with an extra entry", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tile/entries/001.p/45")
			es := readBundle(t, p)
			writeBundle(t, p, append(es, es[0]))
		}, nil, "tile/entries/001.p/45", 301, "its name says 45"},
		{"kept copy of the published checkpoint removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "checkpoints", itoa(sizes[len(sizes)-1]))); err != nil {
				t.Fatal(err)
			}
		}, nil, "checkpoints/" + itoa(sizes[len(sizes)-1]), chain.NoIndex, "has no kept copy"},
		{"wrong key", func(t *testing.T, dir string) {}, func() any { return otherV }, "checkpoint", chain.NoIndex, "no signature by key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, base)
			c.tamper(t, dir)
			vv := v
			if c.verifier != nil {
				vv = otherV
			}
			rep, err := chain.VerifyLog(context.Background(), os.DirFS(dir), vv)
			if !errors.Is(err, chain.ErrTamper) {
				t.Fatalf("err = %v, want tampering", err)
			}
			for _, p := range rep.Problems {
				if p.File == c.file && p.Index == c.index && strings.Contains(p.What, c.what) {
					return
				}
			}
			t.Fatalf("no problem names %s entry %d %q; got:\n%v", c.file, c.index, c.what, err)
		})
	}
	// The untouched log verifies.
	rep, err := chain.VerifyLog(context.Background(), os.DirFS(base), v)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != n+1 || rep.CheckpointsVerified < 2 || rep.TilesVerified < 2 || rep.Orders != 2 {
		t.Fatalf("report %+v", rep)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

package mirror_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/witnesstest"
)

// TestMirrorCosigned: the checkpoints a witness cosigned are mirrored
// write-once beside the log's own, and restored with it.
func TestMirrorCosigned(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	w, err := witnesstest.New("mirror.witness.test", witnesstest.Ed25519, f.v)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	policy, err := chain.ParseWitnessPolicy(witnesstest.Policy(1, w))
	if err != nil {
		t.Fatal(err)
	}
	l, err := chain.Open(ctx, chain.Config{Dir: f.dir, Origin: testOrigin, Signer: f.signer,
		CheckpointInterval: time.Hour, BatchMaxAge: time.Millisecond,
		Witnesses: &chain.WitnessConfig{Policy: policy}})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []uint64
	for round := range 2 {
		for i := range 3 {
			if _, err := l.Append(ctx, noteEvent(fmt.Sprintf("round %d note %d", round, i))); err != nil {
				t.Fatal(err)
			}
		}
		cp, err := l.Publish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, cp.Size)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep := f.sync(t)
	if rep.Cosigned < len(sizes) {
		t.Fatalf("sync = %+v, want the %d cosigned checkpoints", rep, len(sizes))
	}
	read := func(dir string, s uint64) []byte {
		b, err := os.ReadFile(filepath.Join(dir, chain.CosignaturesDir, fmt.Sprint(s)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, s := range sizes {
		rc, _, err := f.store.Get(ctx, fmt.Sprintf("log/cosignatures/%d", s))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, read(f.dir, s)) {
			t.Fatalf("mirrored cosigned checkpoint %d differs from the kept one (%v)", s, err)
		}
	}
	// Nothing new: nothing put.
	puts := f.store.puts.Load()
	if rep := f.sync(t); rep.Cosigned != 0 || f.store.puts.Load() != puts {
		t.Fatalf("second sync = %+v, %d puts", rep, f.store.puts.Load()-puts)
	}
	kept := map[uint64][]byte{}
	for _, s := range sizes {
		kept[s] = read(f.dir, s)
	}
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	if _, err := f.mirror.Restore(ctx, false); err != nil {
		t.Fatal(err)
	}
	for s, want := range kept {
		if !bytes.Equal(read(f.dir, s), want) {
			t.Fatalf("restored cosigned checkpoint %d differs", s)
		}
	}
}

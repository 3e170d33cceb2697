package chain_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custos-evidence/custos/chain"
)

const testOrigin = "custos.test/agent-1"

// testSigner returns a deterministic Ed25519 sigstore signer.
func testSigner(t testing.TB, seed byte) signature.SignerVerifier {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(s))
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

func openLog(t testing.TB, dir string, s chain.Signer) *chain.Log {
	t.Helper()
	l, err := chain.Open(context.Background(), chain.Config{Dir: dir, Origin: testOrigin, Signer: s, CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond,
		Now: func() time.Time { return testTime }})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var testTime = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func noteEvent(order string, i int) chain.Event {
	return chain.Event{
		Type: chain.CustodyNote, Time: testTime.Add(time.Duration(i) * time.Second), Order: order,
		Actor: "custodian@example.net", Agent: "agent-1", Reason: fmt.Sprintf("note %d", i),
	}
}

const (
	orderA = "01J9Z3K4M5N6P7Q8R9S0T1V2W3"
	orderB = "01J9Z3K4M5N6P7Q8R9S0T1V2W4"
)

func TestAppendCloseVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testSigner(t, 1)
	l := openLog(t, dir, s)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := orderA
			if i%2 == 1 {
				order = orderB
			}
			if i%10 == 0 {
				order = ""
			}
			if _, err := l.Append(ctx, noteEvent(order, i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := chain.NewNoteVerifier(mustKey(t, s).Verifier)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := chain.VerifyLog(ctx, os.DirFS(dir), v)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Entries != 101 || rep.CheckpointSize != 101 || rep.Orders != 2 {
		t.Fatalf("report = %+v", rep)
	}
	// Reopen: links continue from the newest event of the order.
	l = openLog(t, dir, s)
	r, err := l.Append(ctx, noteEvent(orderA, 200))
	if err != nil {
		t.Fatal(err)
	}
	if r.Index != 101 || r.Event.PrevIndex == nil {
		t.Fatalf("record = %+v", r)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chain.VerifyLog(ctx, os.DirFS(dir), v); err != nil {
		t.Fatalf("verify after reopen: %v", err)
	}
	sizes, err := chain.KeptCheckpointSizes(os.DirFS(dir))
	if err != nil || len(sizes) < 2 || sizes[len(sizes)-1] != 102 {
		t.Fatalf("kept checkpoints = %v, %v", sizes, err)
	}
	// Wrong key.
	other, _ := chain.NewNoteVerifier(mustKey(t, testSigner(t, 2)).Verifier)
	if _, err := chain.VerifyLog(ctx, os.DirFS(dir), other); !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("verify with another key: %v", err)
	}
}

func mustKey(t testing.TB, s chain.Signer) *chain.Key {
	t.Helper()
	pub, err := s.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := chain.NewKey(testOrigin, pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Open refuses a log directory rolled back behind a checkpoint it signed.
func TestOpenRefusesRolledBackLog(t *testing.T) {
	dir, key := buildLog(t, 40)
	_ = key
	sizes, err := chain.KeptCheckpointSizes(os.DirFS(dir))
	if err != nil || len(sizes) < 2 {
		t.Fatalf("%v %v", sizes, err)
	}
	older := sizes[len(sizes)-2]
	b, err := os.ReadFile(filepath.Join(dir, "checkpoints", fmt.Sprint(older)))
	if err != nil {
		t.Fatal(err)
	}
	chmodWrite(t, filepath.Join(dir, "checkpoint"), b)
	chmodWrite(t, filepath.Join(dir, ".state/treeState"), []byte(fmt.Sprintf(`{"size":%d,"root":""}`, older)))
	_, err = chain.Open(context.Background(), chain.Config{Dir: dir, Origin: testOrigin, Signer: testSigner(t, 3)})
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("open of a rolled-back log: %v", err)
	}
	// A log whose newest entries are gone is refused.
	dir3, _ := buildLog(t, 300)
	if err := os.RemoveAll(filepath.Join(dir3, "tile/entries/001.p")); err != nil {
		t.Fatal(err)
	}
	_, err = chain.Open(context.Background(), chain.Config{Dir: dir3, Origin: testOrigin, Signer: testSigner(t, 3)})
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("open of a truncated log: %v", err)
	}
	// A log whose checkpoints were removed is refused: nothing vouches for
	// its entries any more.
	dir4, _ := buildLog(t, 5)
	for _, p := range []string{"checkpoint", "checkpoints"} {
		if err := os.RemoveAll(filepath.Join(dir4, p)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = chain.Open(context.Background(), chain.Config{Dir: dir4, Origin: testOrigin, Signer: testSigner(t, 3)})
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "no published checkpoint") {
		t.Fatalf("open of a log without checkpoints: %v", err)
	}
	// A tree on disk that is not the signed one is refused.
	dir5, _ := buildLog(t, 5)
	mutate(t, filepath.Join(dir5, ".state/treeState"), func(b []byte) []byte {
		var ts struct {
			Size uint64 `json:"size"`
			Root []byte `json:"root"`
		}
		if err := json.Unmarshal(b, &ts); err != nil {
			t.Fatal(err)
		}
		ts.Root[0] ^= 1
		out, _ := json.Marshal(ts)
		return out
	})
	_, err = chain.Open(context.Background(), chain.Config{Dir: dir5, Origin: testOrigin, Signer: testSigner(t, 3)})
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "entries were rewritten") {
		t.Fatalf("open of a rewritten tree: %v", err)
	}
	// Rewritten history whose hash tiles were rewritten to match, with the
	// signed checkpoint and tree state untouched, is refused: the driver
	// would continue the tree from those tiles.
	dir6, _ := buildLog(t, 5)
	bundle := filepath.Join(dir6, "tile/entries/000.p/6")
	es := readBundle(t, bundle)
	es[0] = []byte(strings.Replace(string(es[0]), `"actor":"custos.test/agent-1"`, `"actor":"mallory"`, 1))
	writeBundle(t, bundle, es)
	mutate(t, filepath.Join(dir6, "tile/0/000.p/6"), func(b []byte) []byte {
		copy(b[:32], chain.LeafHash(es[0]))
		return b
	})
	_, err = chain.Open(context.Background(), chain.Config{Dir: dir6, Origin: testOrigin, Signer: testSigner(t, 3)})
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "the tiles were rewritten") {
		t.Fatalf("open of history rewritten with its tiles: %v", err)
	}
	// And a log signed by another key is refused.
	dir2, _ := buildLog(t, 3)
	_, err = chain.Open(context.Background(), chain.Config{Dir: dir2, Origin: testOrigin, Signer: testSigner(t, 4)})
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "not this key's log") {
		t.Fatalf("open with another key: %v", err)
	}
}

// A checkpoint signed but not published before a crash is published by
// the next Open.
func TestOpenPublishesKeptCheckpoint(t *testing.T) {
	dir, key := buildLog(t, 30)
	v, _ := key.NoteVerifier()
	sizes, _ := chain.KeptCheckpointSizes(os.DirFS(dir))
	older := sizes[len(sizes)-2]
	b, err := os.ReadFile(filepath.Join(dir, "checkpoints", fmt.Sprint(older)))
	if err != nil {
		t.Fatal(err)
	}
	chmodWrite(t, filepath.Join(dir, "checkpoint"), b) // as if publishing 30 never happened
	if _, err := chain.VerifyLog(context.Background(), os.DirFS(dir), v); err != nil {
		t.Fatalf("one unpublished kept checkpoint must verify: %v", err)
	}
	l := openLog(t, dir, testSigner(t, 3))
	defer l.Close(context.Background())
	raw, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := chain.ParseCheckpoint(raw, v)
	if err != nil || cp.Size != 31 {
		t.Fatalf("published after open: %+v %v", cp, err)
	}
}

// TestPublishDoesNotWaitForTheInterval: with an interval of an hour, a
// checkpoint covering a new entry is published on demand, is the same
// signed note the driver would publish (it verifies, and is kept under
// checkpoints/<size>), and Close returns without waiting for the timer.
func TestPublishDoesNotWaitForTheInterval(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testSigner(t, 7)
	for round := range 2 {
		l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: s, CheckpointInterval: time.Hour, BatchMaxAge: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, noteEvent("", round)); err != nil {
			t.Fatal(err)
		}
		size, err := l.Size(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		cp, err := l.Checkpoint(wctx)
		cancel()
		if err != nil || cp.Size != size {
			t.Fatalf("round %d: checkpoint %v, %v; want one of size %d", round, cp, err, size)
		}
		if kept, err := os.ReadFile(filepath.Join(dir, chain.CheckpointsDir, strconv.FormatUint(size, 10))); err != nil || !bytes.Equal(kept, cp.Raw) {
			t.Fatalf("round %d: kept checkpoint %q, %v; want the published one", round, kept, err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("round %d: publishing and closing took %v with an interval of an hour", round, d)
		}
	}
	v, err := mustKey(t, s).NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := chain.VerifyLog(ctx, os.DirFS(dir), v); err != nil || rep.Unsealed != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

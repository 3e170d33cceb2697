package mirror_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/agent/mirror"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/tsatest"
	"github.com/custos-evidence/custos/storage"
)

const testOrigin = "custos.test/agent-1"

func testSigner(t *testing.T, seed byte) signature.SignerVerifier {
	t.Helper()
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

func testVerifier(t *testing.T, s chain.Signer) note.Verifier {
	t.Helper()
	_, key, err := chain.NewNoteSigner(testOrigin, s)
	if err != nil {
		t.Fatal(err)
	}
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// appendNotes opens the log in dir, appends n notes (a checkpoint after
// every fiftieth) and closes it, publishing a final checkpoint.
func appendNotes(t *testing.T, dir string, s chain.Signer, n int, text string) {
	t.Helper()
	appendNotesEvery(t, dir, s, n, 50, text)
}

// appendNotesEvery is appendNotes with a checkpoint after every n-th note.
func appendNotesEvery(t *testing.T, dir string, s chain.Signer, n, every int, text string) {
	t.Helper()
	ctx := context.Background()
	l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: s,
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(ctx, noteEvent(fmt.Sprintf("%s %d", text, i))); err != nil {
			t.Fatal(err)
		}
		if i%every == every-1 {
			if _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func noteEvent(text string) chain.Event {
	return chain.Event{Type: chain.CustodyNote, Time: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		Actor: "custodian@example.net", Agent: "agent-1", Details: map[string]string{"note": text}}
}

// countingStore is a real store that counts what is asked of it, and
// fails puts while fail is set or once limit puts (if positive) are done.
type countingStore struct {
	*storage.Local
	puts, lists, limit atomic.Int64
	fail               atomic.Bool
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectInfo, error) {
	if c.fail.Load() || (c.limit.Load() > 0 && c.puts.Add(1) > c.limit.Load()) {
		return nil, fmt.Errorf("put %s: the store is unreachable", key)
	}
	if c.limit.Load() <= 0 {
		c.puts.Add(1)
	}
	return c.Local.Put(ctx, key, r, opts)
}

func (c *countingStore) List(ctx context.Context, prefix string) iter.Seq2[*storage.ObjectInfo, error] {
	c.lists.Add(1)
	return c.Local.List(ctx, prefix)
}

type fixture struct {
	dir, storeDir string
	store         *countingStore
	signer        chain.Signer
	v             note.Verifier
	mirror        *mirror.Mirror
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{dir: filepath.Join(root, "log"), storeDir: filepath.Join(root, "store"), signer: testSigner(t, 1)}
	f.v = testVerifier(t, f.signer)
	local, err := storage.NewLocal(f.storeDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.store = &countingStore{Local: local}
	f.mirror = f.newMirror(t, f.store)
	return f
}

func (f *fixture) newMirror(t *testing.T, s mirror.Store) *mirror.Mirror {
	t.Helper()
	m, err := mirror.New(mirror.Config{Dir: f.dir, Store: s, Verifier: f.v,
		Now: func() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) check(t *testing.T) *chain.Checkpoint {
	t.Helper()
	cp, err := f.mirror.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (f *fixture) sync(t *testing.T) *mirror.SyncReport {
	t.Helper()
	rep, err := f.mirror.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// entries returns the log's entries, encoded.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	fsys := os.DirFS(dir)
	size, _, _, err := chain.IntegratedSize(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for r, err := range chain.Entries(context.Background(), fsys, 0, size) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(r.Encoded))
	}
	return out
}

func keptSizes(t *testing.T, dir string) []uint64 {
	t.Helper()
	s, err := chain.KeptCheckpointSizes(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustTamper(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want tampering: %q", err, want)
	}
}

// TestMirrorSyncRestore mirrors a log across an entry bundle's boundary,
// loses it, restores it from the store, and continues it.
func TestMirrorSyncRestore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if cp := f.check(t); cp != nil {
		t.Fatalf("Check of an empty store = checkpoint %d, want none", cp.Size)
	}
	appendNotes(t, f.dir, f.signer, 300, "note")
	kept := keptSizes(t, f.dir)
	rep := f.sync(t)
	if rep.Checkpoints != len(kept) || rep.Size != kept[len(kept)-1] || rep.Files == 0 {
		t.Fatalf("first sync = %+v, want the %d kept checkpoints up to %d", rep, len(kept), kept[len(kept)-1])
	}
	for _, s := range kept {
		want, err := os.ReadFile(filepath.Join(f.dir, chain.CheckpointsDir, fmt.Sprint(s)))
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := f.store.Get(ctx, fmt.Sprintf("log/checkpoints/%d", s))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("mirrored checkpoint %d differs from the kept one (%v)", s, err)
		}
	}
	// Nothing new: a sync lists nothing in the store and puts nothing.
	puts, lists := f.store.puts.Load(), f.store.lists.Load()
	if rep := f.sync(t); rep.Checkpoints != 0 || rep.Files != 0 || f.store.puts.Load() != puts || f.store.lists.Load() != lists {
		t.Fatalf("sync with nothing new = %+v, %d puts, %d lists", rep, f.store.puts.Load()-puts, f.store.lists.Load()-lists)
	}
	if cp := f.check(t); cp.Size != 301 {
		t.Fatalf("Check = checkpoint %d, want 301", cp.Size)
	}

	want := entries(t, f.dir)
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	_, err := f.mirror.Check(ctx)
	mustTamper(t, err, "there is no local log in "+f.dir+", but the store mirrors one whose newest checkpoint has size 301: refusing to start a new log")
	res, err := f.mirror.Restore(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Checkpoint.Size != 301 || res.Checkpoints != len(kept) || res.MovedAside != "" || res.Verified.Entries != 301 {
		t.Fatalf("Restore = %+v", res)
	}
	if got := entries(t, f.dir); !slicesEqual(got, want) {
		t.Fatalf("restored %d entries, want the %d mirrored", len(got), len(want))
	}
	if rep, err := chain.VerifyLog(ctx, os.DirFS(f.dir), f.v); err != nil || rep.Unsealed != 0 {
		t.Fatalf("VerifyLog of the restored log: %+v, %v", rep, err)
	}
	// The restored log is the mirrored one: it checks, continues and
	// mirrors on without a conflict.
	f.check(t)
	appendNotes(t, f.dir, f.signer, 3, "after")
	if rep := f.sync(t); rep.Checkpoints == 0 || rep.Size != 304 {
		t.Fatalf("sync after restore = %+v, want up to 304", rep)
	}
	if cp := f.check(t); cp.Size != 304 {
		t.Fatalf("Check = checkpoint %d, want 304", cp.Size)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// TestMirrorRollback puts an older copy of the log back in place: the
// check refuses it naming both sizes, and a forced restore moves it aside.
func TestMirrorRollback(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	appendNotes(t, f.dir, f.signer, 5, "early")
	f.sync(t)
	old := filepath.Join(t.TempDir(), "old")
	copyDir(t, f.dir, old)
	f.check(t)
	appendNotes(t, f.dir, f.signer, 5, "late")
	f.sync(t)
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, old, f.dir)

	_, err := f.mirror.Check(ctx)
	mustTamper(t, err, "log/checkpoints/11: local log (size 6) does not extend the mirrored checkpoint of size 11: refusing to write; restore with `custos log restore`")

	if _, err := f.mirror.Restore(ctx, false); !errors.Is(err, mirror.ErrLogExists) {
		t.Fatalf("Restore over a log = %v, want ErrLogExists", err)
	}
	if got := entries(t, f.dir); len(got) != 6 {
		t.Fatalf("the refused restore changed the log: %d entries", len(got))
	}
	res, err := f.mirror.Restore(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.dir + ".replaced-20261127T100000Z"; res.MovedAside != want {
		t.Fatalf("moved aside to %q, want %q", res.MovedAside, want)
	}
	if got := entries(t, res.MovedAside); len(got) != 6 {
		t.Fatalf("the log moved aside has %d entries, want its 6", len(got))
	}
	if got := entries(t, f.dir); len(got) != 11 {
		t.Fatalf("restored %d entries, want 11", len(got))
	}
	f.check(t)
}

// TestMirrorDiverged checks a log of the same key but other entries
// against the mirror, at the same size and larger, and syncs it.
func TestMirrorDiverged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	appendNotes(t, f.dir, f.signer, 5, "one history")
	f.sync(t)
	other := filepath.Join(t.TempDir(), "log")
	appendNotes(t, other, f.signer, 5, "another history")
	swapped := f.newMirror(t, f.store)
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, other, f.dir)
	_, err := swapped.Check(ctx)
	mustTamper(t, err, "local log (size 6) does not extend the mirrored checkpoint of size 6: their trees differ: refusing to write")
	appendNotes(t, f.dir, f.signer, 3, "more")
	_, err = swapped.Check(ctx)
	mustTamper(t, err, "local log (size 9) does not extend the mirrored checkpoint of size 6: their trees differ: refusing to write")

	// Syncing it anyway finds the divergence at the first differing object.
	_, err = swapped.Sync(ctx)
	mustTamper(t, err, "the store holds a different object under this key: the mirror and the local log have diverged")
	if !errors.Is(err, storage.ErrExist) || !strings.Contains(err.Error(), "tampering detected: log/tile/") {
		t.Fatalf("divergence = %v, want the store's ErrExist and the key", err)
	}
}

// TestMirrorForged refuses mirrored checkpoints the log's key did not
// sign, and objects that have no place among them.
func TestMirrorForged(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, key, want string
		data            func(t *testing.T, f *fixture) []byte
	}{
		{"other key", "log/checkpoints/99", "log/checkpoints/99: checkpoint carries no signature by key", func(t *testing.T, f *fixture) []byte {
			dir := filepath.Join(t.TempDir(), "log")
			appendNotes(t, dir, testSigner(t, 2), 1, "x")
			b, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"wrong size", "log/checkpoints/99", "log/checkpoints/99: mirrored under size 99 but signs size 6", func(t *testing.T, f *fixture) []byte {
			b, err := os.ReadFile(filepath.Join(f.dir, "checkpoint"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"stray object", "log/checkpoints/latest", "log/checkpoints/latest: unexpected object among the mirrored checkpoints", func(*testing.T, *fixture) []byte {
			return []byte("6\n")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			appendNotes(t, f.dir, f.signer, 5, "n")
			f.sync(t)
			putRaw(t, f.store.Local, tc.key, tc.data(t, f))
			_, err := f.mirror.Check(ctx)
			mustTamper(t, err, tc.want)
		})
	}
}

func putRaw(t *testing.T, s *storage.Local, key string, b []byte) {
	t.Helper()
	st, err := s.Stage(context.Background(), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(context.Background(), key, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestMirrorRestoreTampered: an object changed or missing in the store
// makes the restore fail as tampering, naming it, and places nothing.
func TestMirrorRestoreTampered(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, key, want string
		damage          func(path string) error
	}{
		{"flipped byte", "log/tile/entries/000.p/6", "log/tile/entries/000.p/6: the mirrored object does not verify", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[10] ^= 1
			_ = os.Chmod(p, 0o644)
			return os.WriteFile(p, b, 0o644)
		}},
		{"missing tile", "log/tile/0/000.p/6", "log/tile/0/000.p/6: missing from the mirror, though its checkpoint of size 6 covers it", os.Remove},
		{"changed checkpoint", "log/checkpoints/6", "log/checkpoints/6: the mirrored object does not verify", func(p string) error {
			_ = os.Chmod(p, 0o644)
			return os.WriteFile(p, []byte("custos.test/agent-1\n6\n"), 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			appendNotes(t, f.dir, f.signer, 5, "n")
			f.sync(t)
			if err := os.RemoveAll(f.dir); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(filepath.Join(f.storeDir, "objects", tc.key)); err != nil {
				t.Fatal(err)
			}
			_, err := f.mirror.Restore(ctx, false)
			mustTamper(t, err, tc.want)
			if _, err := os.Stat(f.dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed restore left %s: %v", f.dir, err)
			}
			ents, err := os.ReadDir(filepath.Dir(f.dir))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if e.Name() != "store" {
					t.Errorf("a failed restore left %s", e.Name())
				}
			}
		})
	}
}

// TestMirrorSyncFailure: a sync that fails part way loses nothing; the
// next one continues and the mirror then restores the whole log.
func TestMirrorSyncFailure(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	appendNotes(t, f.dir, f.signer, 20, "n")
	f.sync(t)
	appendNotes(t, f.dir, f.signer, 20, "m")
	f.store.fail.Store(true)
	if _, err := f.mirror.Sync(ctx); err == nil || errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "the store is unreachable") {
		t.Fatalf("sync to a failing store = %v, want its error, not tampering", err)
	}
	f.store.fail.Store(false)
	if rep := f.sync(t); rep.Size != 41 {
		t.Fatalf("sync after the failure = %+v, want up to 41", rep)
	}
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	if res, err := f.mirror.Restore(ctx, false); err != nil || res.Verified.Entries != 41 {
		t.Fatalf("restore = %+v, %v", res, err)
	}
}

// TestMirrorOrder cuts a sync off after every number of puts: the store
// never holds a checkpoint without every file of its tree.
func TestMirrorOrder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	appendNotesEvery(t, f.dir, f.signer, 40, 8, "n")
	f.sync(t)
	total := f.store.puts.Load()
	if total < 15 {
		t.Fatalf("the log took only %d puts to mirror; the test wants several checkpoints", total)
	}
	for k := int64(1); k < total; k++ {
		s, err := storage.NewLocal(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cut := &countingStore{Local: s}
		cut.limit.Store(k)
		if err := os.Remove(filepath.Join(f.dir, ".mirrored")); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if _, err := f.newMirror(t, cut).Sync(ctx); err == nil {
			t.Fatalf("sync cut off after %d of %d puts succeeded", k, total)
		}
		for info, err := range s.List(ctx, "log/checkpoints/") {
			if err != nil {
				t.Fatal(err)
			}
			var size uint64
			if _, err := fmt.Sscan(strings.TrimPrefix(info.Key, "log/checkpoints/"), &size); err != nil {
				t.Fatal(err)
			}
			for _, tf := range chain.TreeFiles(0, size) {
				if _, err := s.Stat(ctx, "log/"+tf.Path); err != nil {
					t.Fatalf("cut after %d puts: the store holds checkpoint %d but not %s: %v", k, size, tf.Path, err)
				}
			}
		}
	}
}

// TestMirrorStaleRecord: the record of what is mirrored is only a hint;
// a store that holds less (another store, an emptied one) gets it all.
func TestMirrorStaleRecord(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	appendNotes(t, f.dir, f.signer, 5, "n")
	f.sync(t)
	if err := os.WriteFile(filepath.Join(f.dir, ".mirrored"), []byte("1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.check(t)
	appendNotes(t, f.dir, f.signer, 5, "m")
	if rep := f.sync(t); rep.Size != 11 {
		t.Fatalf("sync after a record ahead of the store = %+v, want up to 11", rep)
	}

	fresh, err := storage.NewLocal(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := f.newMirror(t, fresh)
	if cp, err := m.Check(ctx); cp != nil || err != nil {
		t.Fatalf("Check against an empty store = %v, %v", cp, err)
	}
	rep, err := m.Sync(ctx)
	if err != nil || rep.Checkpoints != len(keptSizes(t, f.dir)) {
		t.Fatalf("sync to an empty store = %+v, %v; want all %d checkpoints", rep, err, len(keptSizes(t, f.dir)))
	}
}

// TestMirrorWhileAppending syncs over and over while the log grows and
// publishes, as the daemon will; the mirror then restores the whole log.
func TestMirrorWhileAppending(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	l, err := chain.Open(ctx, chain.Config{Dir: f.dir, Origin: testOrigin, Signer: f.signer,
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	syncErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if _, err := f.mirror.Sync(ctx); err != nil {
				syncErr <- err
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var appenders sync.WaitGroup
	for g := range 4 {
		appenders.Add(1)
		go func() {
			defer appenders.Done()
			for i := range 150 {
				if _, err := l.Append(ctx, noteEvent(fmt.Sprintf("%d/%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	appenders.Wait()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-syncErr:
		t.Fatalf("sync while appending: %v", err)
	default:
	}
	f.sync(t)
	want := entries(t, f.dir)
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	res, err := f.mirror.Restore(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, f.dir); res.Verified.Entries != 601 || !slicesEqual(got, want) {
		t.Fatalf("restored %d entries (verified %d), want the %d appended", len(got), res.Verified.Entries, len(want))
	}
}

// TestMirrorTimestamps copies the tokens over mirrored checkpoints
// write-once, each once, and a token another authority gave later for
// the same checkpoint too.
func TestMirrorTimestamps(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	appendNotes(t, f.dir, f.signer, 3, "note")
	sizes := keptSizes(t, f.dir)
	size := sizes[len(sizes)-1]
	note, err := os.ReadFile(filepath.Join(f.dir, chain.CheckpointsDir, fmt.Sprint(size)))
	if err != nil {
		t.Fatal(err)
	}
	one, two := tsatest.New(t, tsatest.Options{Name: "One"}), tsatest.New(t, tsatest.Options{Name: "Two"})
	tok := one.Token(t, note)
	if _, err := chain.KeepTimestamp(f.dir, size, "one", tok); err != nil {
		t.Fatal(err)
	}
	if rep := f.sync(t); rep.Timestamps != 1 {
		t.Fatalf("first sync = %+v, want one token", rep)
	}
	rc, _, err := f.store.Get(ctx, "log/"+chain.TimestampFile(size, "one"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, tok) {
		t.Fatalf("mirrored token differs (%v)", err)
	}
	puts := f.store.puts.Load()
	if rep := f.sync(t); rep.Timestamps != 0 || f.store.puts.Load() != puts {
		t.Fatalf("sync with nothing new = %+v, %d puts", rep, f.store.puts.Load()-puts)
	}
	if _, err := chain.KeepTimestamp(f.dir, size, "two", two.Token(t, note)); err != nil {
		t.Fatal(err)
	}
	if rep := f.sync(t); rep.Timestamps != 2 {
		t.Fatalf("sync after a second authority's token = %+v, want both of that size put", rep)
	}
	if _, _, err := f.store.Get(ctx, "log/"+chain.TimestampFile(size, "two")); err != nil {
		t.Fatalf("the second token is not mirrored: %v", err)
	}

	// A lost log is restored with its tokens, and the next sync puts none.
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	res, err := f.mirror.Restore(ctx, false)
	if err != nil || res.Timestamps != 2 {
		t.Fatalf("restore: %+v %v, want both tokens", res, err)
	}
	back, err := os.ReadFile(filepath.Join(f.dir, filepath.FromSlash(chain.TimestampFile(size, "one"))))
	if err != nil || !bytes.Equal(back, tok) {
		t.Fatalf("restored token differs (%v)", err)
	}
	puts = f.store.puts.Load()
	if rep := f.sync(t); rep.Timestamps != 0 || f.store.puts.Load() != puts {
		t.Fatalf("sync after restore = %+v, %d puts", rep, f.store.puts.Load()-puts)
	}

	// A mirrored token over another checkpoint is refused as tampering,
	// and nothing is put in place.
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	other := one.Token(t, []byte("another checkpoint\n"))
	sum := sha256.Sum256(other)
	if _, err := f.store.Put(ctx, "log/"+chain.TimestampFile(size, "three"), bytes.NewReader(other),
		storage.PutOptions{SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	_, err = f.mirror.Restore(ctx, false)
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "another digest") {
		t.Fatalf("restore with a forged token: %v, want tampering", err)
	}
	if _, err := os.Stat(f.dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a log was put in place: %v", err)
	}
}

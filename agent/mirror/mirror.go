package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// Store is what the mirror uses of an evidence store: write-once puts,
// reads that re-hash, and listing. *storage.Local and the S3 store
// provide it.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[*storage.ObjectInfo, error]
}

// Keys of the log mirror in the store (SPEC section 5): the log's tiles
// and entry bundles under Prefix+"tile/", its checkpoints under
// Prefix+"checkpoints/<size>".
const (
	Prefix            = "log/"
	mirrorCheckpoints = Prefix + chain.CheckpointsDir + "/"
	mirrorCosigned    = Prefix + chain.CosignaturesDir + "/"
)

// DefaultConcurrency is how many objects a mirror moves at once.
const DefaultConcurrency = 8

// mirroredFile, in the log directory, records the newest checkpoint the
// store holds with everything it covers, so a sync reads only what came
// after. It is an optimisation: the store is the truth, and a lost or
// stale record costs only identical re-puts.
const mirroredFile = ".mirrored"

// mirroredTimestampsFile records, the same way, the size of the newest
// checkpoint whose timestamp tokens the store holds.
const mirroredTimestampsFile = ".mirrored-timestamps"

// cosignedFile records, the same way, the largest size whose cosigned
// checkpoint (chain.CosignaturesDir) the store holds.
const cosignedFile = ".mirrored-cosignatures"

// Config configures a Mirror.
type Config struct {
	// Dir is the log directory, <data-dir>/log.
	Dir string
	// Store receives the mirror under Prefix.
	Store Store
	// Verifier is the log's key: every mirrored checkpoint must carry its
	// signature.
	Verifier note.Verifier
	// Logger reports each sync; nil discards.
	Logger *slog.Logger
	// Concurrency bounds the objects moved at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Now names the copy of a log Restore moves aside; nil means time.Now.
	Now func() time.Time
}

// Mirror copies the custody log, write-once, to the evidence store, and
// guards the local log with it: the local log must extend the newest
// checkpoint the store holds (Check), or it was rolled back or swapped.
// Sync copies each checkpoint after every tile and bundle it covers, so a
// mirrored checkpoint never refers to data the store lacks; Restore
// rebuilds a lost local log from the store. Its methods are safe to call
// concurrently and repeatedly; they take turns.
type Mirror struct {
	cfg Config
	mu  sync.Mutex
}

// New returns the mirror of the log in cfg.Dir.
func New(cfg Config) (*Mirror, error) {
	switch {
	case cfg.Dir == "":
		return nil, errors.New("log mirror: no log directory")
	case cfg.Store == nil:
		return nil, errors.New("log mirror: no store")
	case cfg.Verifier == nil:
		return nil, errors.New("log mirror: no verifier")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	return &Mirror{cfg: cfg}, nil
}

// Check proves that the local log extends the newest checkpoint in the
// store: the checkpoint must carry the log's signature, and a consistency
// proof built from the local hash tiles must lead from its root to the
// root of the tree the local writer has integrated. It returns that
// checkpoint, or nil if the store holds none (a first start). A local log
// that is missing, smaller or another tree is refused with a
// *chain.TamperError naming both sizes: a rolled-back or swapped disk,
// which must not be written to. Call it before opening the log for
// writing; chain.Open then checks the local log against its own
// checkpoints.
func (m *Mirror) Check(ctx context.Context) (*chain.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sizes, err := m.mirroredSizes(ctx)
	if err != nil {
		return nil, err
	}
	if len(sizes) == 0 {
		return nil, removeRecord(m.cfg.Dir)
	}
	cp, err := m.getCheckpoint(ctx, sizes[len(sizes)-1])
	if err != nil {
		return nil, err
	}
	fsys := os.DirFS(m.cfg.Dir)
	size, root, ok, err := chain.IntegratedSize(fsys)
	if err != nil {
		return nil, fmt.Errorf("check log %s against its mirror: %w", m.cfg.Dir, err)
	}
	key := checkpointKey(cp.Size)
	if !ok {
		return nil, &chain.TamperError{File: key, Index: chain.NoIndex, What: fmt.Sprintf(
			"there is no local log in %s, but the store mirrors one whose newest checkpoint has size %d: refusing to start a new log; restore with `custos log restore`", m.cfg.Dir, cp.Size)}
	}
	why := ""
	switch {
	case size < cp.Size:
	case size == cp.Size && !bytes.Equal(root, cp.Hash):
		why = ": their trees differ"
	case size > cp.Size && cp.Size > 0:
		hashes, err := chain.BuildConsistencyProof(ctx, fsys, cp.Size, size)
		if err != nil {
			why = fmt.Sprintf(": no consistency proof from the local tiles (%v)", err)
		} else if err := chain.VerifyConsistency(cp, &chain.Checkpoint{Size: size, Hash: root}, hashes); err != nil {
			why = ": their trees differ"
		}
	}
	if size < cp.Size || why != "" {
		return nil, &chain.TamperError{File: key, Index: chain.NoIndex, What: fmt.Sprintf(
			"local log (size %d) does not extend the mirrored checkpoint of size %d%s: refusing to write; restore with `custos log restore`", size, cp.Size, why)}
	}
	// A record newer than the store's newest is from another store or
	// one that lost objects: copy again from there.
	if done, ok := readRecord(m.cfg.Dir); ok && done > cp.Size {
		return cp, writeRecord(m.cfg.Dir, cp.Size)
	}
	return cp, nil
}

// SyncReport says what one Sync copied.
type SyncReport struct {
	Checkpoints int    // checkpoints copied
	Timestamps  int    // timestamp tokens copied (log/timestamps/<size>.<tsa>.tsr)
	Cosigned    int    // cosigned checkpoints copied
	Files       int    // tiles and entry bundles copied
	Size        uint64 // size of the newest checkpoint the store now holds, if Checkpoints > 0
}

// Sync copies to the store what the local log published since the last
// sync: for each new kept checkpoint, in ascending size, the tiles and
// bundles its tree added, then the checkpoint. Puts are write-once; an
// identical object already there is fine (a sync cut short is simply
// repeated), a different one is reported as tampering naming its key:
// the mirror and the local log have diverged. A failure leaves the local
// log as it was, and the next Sync continues from the last checkpoint
// copied; a daemon calls it after each checkpoint or periodically.
func (m *Mirror) Sync(ctx context.Context) (*SyncReport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fsys := os.DirFS(m.cfg.Dir)
	sizes, err := chain.KeptCheckpointSizes(fsys)
	if err != nil {
		return nil, fmt.Errorf("mirror log %s: %w", m.cfg.Dir, err)
	}
	done, ok := readRecord(m.cfg.Dir)
	rep := &SyncReport{}
	from := uint64(0)
	if ok {
		from = done
	}
	for _, s := range sizes {
		if ok && s <= done {
			continue
		}
		n, err := m.syncCheckpoint(ctx, fsys, from, s)
		rep.Files += n
		if err != nil {
			return rep, fmt.Errorf("mirror log to the store: %w", err)
		}
		if err := writeRecord(m.cfg.Dir, s); err != nil {
			return rep, fmt.Errorf("mirror log: record checkpoint %d: %w", s, err)
		}
		rep.Checkpoints++
		rep.Size = s
		from = s
	}
	n, err := m.syncTimestamps(ctx, fsys, from, ok || rep.Checkpoints > 0)
	rep.Timestamps = n
	if err != nil {
		return rep, fmt.Errorf("mirror log to the store: %w", err)
	}
	n, err = m.syncCosigned(ctx, fsys, from)
	rep.Cosigned = n
	if err != nil {
		return rep, fmt.Errorf("mirror log to the store: %w", err)
	}
	if rep.Checkpoints > 0 || rep.Cosigned > 0 {
		m.cfg.Logger.Info("log mirrored", "checkpoints", rep.Checkpoints, "timestamps", rep.Timestamps, "cosigned", rep.Cosigned, "files", rep.Files, "size", rep.Size)
	}
	return rep, nil
}

// syncTimestamps copies, write-once, the timestamp tokens over the
// checkpoints the store holds (up to size mirrored), from the size of the
// newest one copied before: tokens arrive after their checkpoint, and
// only for the newest, so none is ever older than the record. The record
// also counts the tokens of its size, so that one another authority gave
// for that size since is copied too. An identical token already in the
// store is fine, a different one is tampering.
func (m *Mirror) syncTimestamps(ctx context.Context, fsys fs.FS, mirrored uint64, have bool) (int, error) {
	if !have {
		return 0, nil
	}
	kept, err := chain.KeptTimestamps(fsys)
	if err != nil {
		return 0, err
	}
	done, doneN := readTimestampsRecord(m.cfg.Dir)
	var todo []chain.KeptTimestamp
	atDone := 0
	for _, k := range kept {
		if k.Size < done || k.Size > mirrored {
			continue
		}
		if k.Size == done {
			atDone++
		}
		todo = append(todo, k)
	}
	if atDone == doneN {
		todo = todo[atDone:]
	}
	if len(todo) == 0 {
		return 0, nil
	}
	for i, k := range todo {
		data, err := fs.ReadFile(fsys, k.File)
		if err != nil {
			return i, err
		}
		if err := m.put(ctx, Prefix+k.File, data); err != nil {
			return i, err
		}
	}
	newest, n := todo[len(todo)-1].Size, 0
	for _, k := range todo {
		if k.Size == newest {
			n++
		}
	}
	if err := writeTimestampsRecord(m.cfg.Dir, newest, n); err != nil {
		return len(todo), fmt.Errorf("record timestamps of checkpoint %d: %w", newest, err)
	}
	return len(todo), nil
}

// readTimestampsRecord reads the size of the newest checkpoint whose
// tokens were copied, and how many of them.
func readTimestampsRecord(dir string) (size uint64, n int) {
	b, err := os.ReadFile(filepath.Join(dir, mirroredTimestampsFile))
	if err != nil {
		return 0, -1
	}
	if _, err := fmt.Sscanf(string(b), "%d %d", &size, &n); err != nil {
		return 0, -1
	}
	return size, n
}

func writeTimestampsRecord(dir string, size uint64, n int) error {
	return writeRecordFile(dir, mirroredTimestampsFile, fmt.Sprintf("%d %d\n", size, n))
}

// syncCosigned copies the cosigned checkpoints kept since the last sync,
// up to size upTo (the newest checkpoint the store holds with all it
// covers), write-once, each after verifying that it is the log's
// checkpoint of the size it is kept under. A witness's cosignatures are
// kept when the log publishes the next checkpoint, so they may come
// after their checkpoint was mirrored: they have their own record.
func (m *Mirror) syncCosigned(ctx context.Context, fsys fs.FS, upTo uint64) (int, error) {
	ents, err := fs.ReadDir(fsys, chain.CosignaturesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	done, haveDone := readSize(filepath.Join(m.cfg.Dir, cosignedFile))
	var sizes []uint64
	for _, e := range ents {
		s, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || strconv.FormatUint(s, 10) != e.Name() || s > upTo || (haveDone && s <= done) {
			continue // a temporary, or not due yet
		}
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	for i, s := range sizes {
		file := chain.CosignaturesDir + "/" + strconv.FormatUint(s, 10)
		raw, err := fs.ReadFile(fsys, file)
		if err != nil {
			return i, err
		}
		cp, err := chain.ParseCheckpoint(raw, m.cfg.Verifier)
		if err != nil {
			return i, namingFile(err, file)
		}
		if cp.Size != s {
			return i, &chain.TamperError{File: file, Index: chain.NoIndex, What: fmt.Sprintf("kept under size %d but signs size %d", s, cp.Size)}
		}
		if err := m.put(ctx, mirrorCosigned+strconv.FormatUint(s, 10), raw); err != nil {
			return i, err
		}
		if err := writeSize(m.cfg.Dir, cosignedFile, s); err != nil {
			return i + 1, fmt.Errorf("mirror log: record cosigned checkpoint %d: %w", s, err)
		}
	}
	return len(sizes), nil
}

// syncCheckpoint copies the files the tree of size s added to the tree of
// size from, then the checkpoint of size s.
func (m *Mirror) syncCheckpoint(ctx context.Context, fsys fs.FS, from, s uint64) (int, error) {
	files := chain.TreeFiles(from, s)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.cfg.Concurrency)
	for _, f := range files {
		g.Go(func() error {
			data, err := chain.ReadTreeFile(fsys, f)
			if err != nil {
				return fmt.Errorf("checkpoint %d: %w", s, err)
			}
			return m.put(gctx, Prefix+f.Path, data)
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	file := chain.CheckpointsDir + "/" + strconv.FormatUint(s, 10)
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return len(files), err
	}
	// Only what the log's key signed, for the size it is kept under.
	cp, err := chain.ParseCheckpoint(raw, m.cfg.Verifier)
	if err != nil {
		return len(files), namingFile(err, file)
	}
	if cp.Size != s {
		return len(files), &chain.TamperError{File: file, Index: chain.NoIndex, What: fmt.Sprintf("kept under size %d but signs size %d", s, cp.Size)}
	}
	return len(files), m.put(ctx, checkpointKey(s), raw)
}

func (m *Mirror) put(ctx context.Context, key string, data []byte) error {
	sum := sha256.Sum256(data)
	_, err := m.cfg.Store.Put(ctx, key, bytes.NewReader(data), storage.PutOptions{SHA256: hex.EncodeToString(sum[:])})
	switch {
	case errors.Is(err, storage.ErrExist):
		return fmt.Errorf("%w: %w", &chain.TamperError{File: key, Index: chain.NoIndex,
			What: "the store holds a different object under this key: the mirror and the local log have diverged"}, err)
	case err != nil:
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// mirroredSizes lists the checkpoint sizes the store holds, ascending.
func (m *Mirror) mirroredSizes(ctx context.Context) ([]uint64, error) {
	return m.listSizes(ctx, mirrorCheckpoints, "the mirrored checkpoints")
}

// listSizes lists the sizes of the objects under prefix, ascending; an
// object named otherwise is tampering with what.
func (m *Mirror) listSizes(ctx context.Context, prefix, what string) ([]uint64, error) {
	var sizes []uint64
	for info, err := range m.cfg.Store.List(ctx, prefix) {
		if err != nil {
			return nil, storeError(prefix, "list", err)
		}
		name := strings.TrimPrefix(info.Key, prefix)
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != name {
			return nil, &chain.TamperError{File: info.Key, Index: chain.NoIndex, What: "unexpected object among " + what}
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	return sizes, nil
}

// getCheckpoint reads and verifies the mirrored checkpoint of size s.
func (m *Mirror) getCheckpoint(ctx context.Context, s uint64) (*chain.Checkpoint, error) {
	key := checkpointKey(s)
	rc, _, err := m.cfg.Store.Get(ctx, key)
	if err != nil {
		return nil, storeError(key, "get", err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, chain.MaxCheckpointSize+1))
	if err != nil {
		return nil, storeError(key, "get", err)
	}
	cp, err := chain.ParseCheckpoint(raw, m.cfg.Verifier)
	if err != nil {
		return nil, namingFile(err, key)
	}
	if cp.Size != s {
		return nil, &chain.TamperError{File: key, Index: chain.NoIndex, What: fmt.Sprintf("mirrored under size %d but signs size %d", s, cp.Size)}
	}
	return cp, nil
}

func checkpointKey(size uint64) string {
	return mirrorCheckpoints + strconv.FormatUint(size, 10)
}

// storeError reports a store's finding that an object does not match its
// digest as tampering with the mirror, keeping the store's error.
func storeError(key, op string, err error) error {
	if errors.Is(err, chain.ErrTamper) {
		return fmt.Errorf("%w: %w", &chain.TamperError{File: key, Index: chain.NoIndex, What: "the mirrored object does not verify"}, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// namingFile returns err with its *chain.TamperError, if any, naming file.
func namingFile(err error, file string) error {
	var te *chain.TamperError
	if errors.As(err, &te) && te.File == "" {
		c := *te
		c.File = file
		return &c
	}
	return err
}

// readRecord reads the size of the newest checkpoint mirrored with all
// it covers; ok is false when there is no usable record.
func readRecord(dir string) (size uint64, ok bool) {
	return readSize(filepath.Join(dir, mirroredFile))
}

// readSize reads a record file of one size.
func readSize(path string) (size uint64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	size, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return size, err == nil
}

// writeRecord replaces the record atomically. It is not synced: a record
// lost in a crash only makes the next sync repeat identical puts.
func writeRecord(dir string, size uint64) error {
	return writeSize(dir, mirroredFile, size)
}

// writeSize replaces the record file name in dir with size.
func writeSize(dir, name string, size uint64) error {
	return writeRecordFile(dir, name, fmt.Sprintf("%d\n", size))
}

// writeRecordFile replaces the record file name in dir with content.
func writeRecordFile(dir, name, content string) error {
	f, err := os.CreateTemp(dir, name+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

func removeRecord(dir string) error {
	if err := os.Remove(filepath.Join(dir, mirroredFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

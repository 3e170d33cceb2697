package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// ErrLogExists is returned by Restore when a local log is in the way.
var ErrLogExists = errors.New("a local log exists")

// ErrNoMirror is returned by Restore when the store holds no log.
var ErrNoMirror = errors.New("the store holds no mirrored log")

// RestoreReport says what Restore did.
type RestoreReport struct {
	Checkpoint  *chain.Checkpoint // the newest mirrored checkpoint, at which the log was restored
	Checkpoints int               // checkpoints restored
	Files       int               // tiles and entry bundles restored
	Timestamps  int               // timestamp tokens restored (log/timestamps/)
	MovedAside  string            // where the log that was in the way went, if any
	Verified    *chain.LogReport  // chain.VerifyLog of the restored log
}

// Restore rebuilds the local log from the store: every mirrored
// checkpoint, and the tiles and bundles of the newest one's tree, each
// re-hashed by the store as it is read. It reinstates the log at that
// checkpoint, verifies it whole with chain.VerifyLog, and only then moves
// it into place, in one rename. A store object that does not verify, one
// that is missing, or a log that does not verify is reported as
// tampering, and nothing is put in place.
//
// A local log in the way is refused with ErrLogExists unless force is
// set; then it is moved aside to <dir>.replaced-<time>, never deleted.
// The caller holds the data directory's lock.
func (m *Mirror) Restore(ctx context.Context, force bool) (*RestoreReport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir := m.cfg.Dir
	exists, err := logExists(dir)
	if err != nil {
		return nil, err
	}
	if exists && !force {
		return nil, fmt.Errorf("log restore: %w in %s: refusing to replace it (--force moves it aside)", ErrLogExists, dir)
	}
	sizes, err := m.mirroredSizes(ctx)
	if err != nil {
		return nil, err
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("log restore: %w (no %s* objects)", ErrNoMirror, mirrorCheckpoints)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-restore-")
	if err != nil {
		return nil, fmt.Errorf("log restore: %w", err)
	}
	defer os.RemoveAll(tmp) // gone once renamed into place
	rep, err := m.download(ctx, tmp, sizes)
	if err != nil {
		return rep, fmt.Errorf("log restore: %w", err)
	}
	if err := writeRecord(tmp, rep.Checkpoint.Size); err != nil {
		return rep, fmt.Errorf("log restore: %w", err)
	}
	if err := datadir.SyncTree(tmp); err != nil {
		return rep, fmt.Errorf("log restore: %w", err)
	}
	if exists {
		if rep.MovedAside, err = moveAside(dir, m.cfg.Now()); err != nil {
			return rep, fmt.Errorf("log restore: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return rep, fmt.Errorf("log restore: %w", err)
	}
	return rep, datadir.SyncDir(filepath.Dir(dir))
}

// download fetches the mirror into tmp, reinstates the log there and
// verifies it.
func (m *Mirror) download(ctx context.Context, tmp string, sizes []uint64) (*RestoreReport, error) {
	rep := &RestoreReport{}
	newest, err := m.getCheckpoint(ctx, sizes[len(sizes)-1])
	if err != nil {
		return rep, err
	}
	rep.Checkpoint = newest
	files := chain.TreeFiles(0, newest.Size)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.cfg.Concurrency)
	for _, s := range sizes {
		g.Go(func() error {
			return m.fetch(gctx, tmp, chain.CheckpointsDir+"/"+strconv.FormatUint(s, 10), newest.Size)
		})
	}
	for _, f := range files {
		g.Go(func() error { return m.fetch(gctx, tmp, f.Path, newest.Size) })
	}
	cosigned, err := m.mirroredCosigned(ctx, newest.Size)
	if err != nil {
		return rep, err
	}
	for _, s := range cosigned {
		g.Go(func() error {
			return m.fetch(gctx, tmp, chain.CosignaturesDir+"/"+strconv.FormatUint(s, 10), newest.Size)
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	for _, s := range cosigned {
		// Only the log's checkpoint of the size it is kept under.
		file := chain.CosignaturesDir + "/" + strconv.FormatUint(s, 10)
		raw, err := os.ReadFile(filepath.Join(tmp, filepath.FromSlash(file)))
		if err != nil {
			return rep, err
		}
		if cp, err := chain.ParseCheckpoint(raw, m.cfg.Verifier); err != nil || cp.Size != s {
			return rep, &chain.TamperError{File: mirrorCosigned + strconv.FormatUint(s, 10), Index: chain.NoIndex,
				What: fmt.Sprintf("not the log's cosigned checkpoint of size %d (%v)", s, err)}
		}
	}
	if n := len(cosigned); n > 0 {
		if err := writeSize(tmp, cosignedFile, cosigned[n-1]); err != nil {
			return rep, err
		}
	}
	rep.Checkpoints, rep.Files = len(sizes), len(files)
	if _, err := chain.Reinstate(tmp, m.cfg.Verifier); err != nil {
		return rep, err
	}
	rep.Verified, err = chain.VerifyLog(ctx, os.DirFS(tmp), m.cfg.Verifier)
	if err != nil {
		return rep, fmt.Errorf("the restored log does not verify: %w", err)
	}
	if rep.Verified.Unsealed != 0 || rep.Verified.CheckpointSize != newest.Size {
		return rep, fmt.Errorf("the restored log holds %d entries beyond its checkpoint of size %d: %w", rep.Verified.Unsealed, newest.Size, chain.ErrTamper)
	}
	rep.Timestamps, err = m.downloadTimestamps(ctx, tmp, newest.Size)
	return rep, err
}

// downloadTimestamps fetches the mirrored tokens over the restored
// checkpoints into tmp, each kept only once it covers its restored
// checkpoint (chain.KeepTimestamp): a token that does not, or an object
// under log/timestamps/ that is no token, is tampering with the mirror.
func (m *Mirror) downloadTimestamps(ctx context.Context, tmp string, newest uint64) (int, error) {
	const prefix = Prefix + chain.TimestampsDir + "/"
	var names []string
	for info, err := range m.cfg.Store.List(ctx, prefix) {
		if err != nil {
			return 0, storeError(prefix, "list", err)
		}
		names = append(names, strings.TrimPrefix(info.Key, Prefix))
	}
	n, last, atLast := 0, uint64(0), 0
	for _, name := range names {
		k, ok := chain.ParseTimestampFile(name)
		if !ok {
			return n, &chain.TamperError{File: Prefix + name, Index: chain.NoIndex, What: "unexpected object among the mirrored timestamps"}
		}
		if k.Size > newest {
			continue // over a checkpoint the restored log does not reach
		}
		if err := m.fetch(ctx, tmp, name, newest); err != nil {
			return n, err
		}
		data, err := os.ReadFile(filepath.Join(tmp, filepath.FromSlash(name)))
		if err != nil {
			return n, err
		}
		if err := os.Remove(filepath.Join(tmp, filepath.FromSlash(name))); err != nil {
			return n, err
		}
		if _, err := chain.KeepTimestamp(tmp, k.Size, k.TSA, data); err != nil {
			return n, namingFile(err, Prefix+name)
		}
		n++
		switch {
		case k.Size > last:
			last, atLast = k.Size, 1
		case k.Size == last:
			atLast++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, writeTimestampsRecord(tmp, last, atLast)
}

// mirroredCosigned lists the sizes, up to upTo, of the cosigned
// checkpoints the store holds, ascending.
func (m *Mirror) mirroredCosigned(ctx context.Context, upTo uint64) ([]uint64, error) {
	sizes, err := m.listSizes(ctx, mirrorCosigned, "the mirrored cosigned checkpoints")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(sizes, func(s uint64) bool { return s > upTo }), nil
}

// fetch copies the mirrored object of path into the same path under tmp,
// synced; the store re-hashes it as it is read.
func (m *Mirror) fetch(ctx context.Context, tmp, path string, size uint64) error {
	key := Prefix + path
	rc, _, err := m.cfg.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		return &chain.TamperError{File: key, Index: chain.NoIndex, What: fmt.Sprintf("missing from the mirror, though its checkpoint of size %d covers it", size)}
	}
	if err != nil {
		return storeError(key, "get", err)
	}
	defer rc.Close()
	dst := filepath.Join(tmp, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, rc)
	if err != nil {
		err = storeError(key, "get", err)
	} else {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// logExists reports whether dir holds a log. An empty directory does not
// count, and is removed.
func logExists(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("log restore: %w", err)
	case len(ents) > 0:
		return true, nil
	}
	return false, os.Remove(dir)
}

// moveAside renames dir to a new name beside it and returns that name.
func moveAside(dir string, now time.Time) (string, error) {
	base := dir + ".replaced-" + now.UTC().Format("20060102T150405Z")
	aside := base
	for n := 2; ; n++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = base + "-" + strconv.Itoa(n)
	}
	if err := os.Rename(dir, aside); err != nil {
		return "", err
	}
	return aside, nil
}

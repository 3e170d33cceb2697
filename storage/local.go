package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Local is the embedded evidence store: a directory holding objects/<key>
// (the content, read-only once written), meta/<key>.json (digest, size,
// retention and legal hold, which the store enforces) and tmp/ (writes in
// progress, removed on open).
type Local struct {
	root string
	now  func() time.Time

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// NewLocal opens, creating if needed, the store in dir, and removes the
// leftovers of interrupted writes. now is the clock for retention; nil
// means time.Now.
func NewLocal(dir string, now func() time.Time) (*Local, error) {
	if now == nil {
		now = time.Now
	}
	for _, d := range []string{"objects", "meta", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("open local store: %w", err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "tmp")); err != nil {
		return nil, fmt.Errorf("open local store: clean interrupted writes: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("open local store: %w", err)
	}
	return &Local{root: dir, now: now, locks: map[string]*sync.Mutex{}}, nil
}

type localMeta struct {
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	RetainUntil time.Time `json:"retain_until,omitzero"`
	LegalHold   bool      `json:"legal_hold,omitempty"`
	Created     time.Time `json:"created"`
}

func (l *Local) objectPath(key string) string {
	return filepath.Join(l.root, "objects", filepath.FromSlash(key))
}
func (l *Local) metaPath(key string) string {
	return filepath.Join(l.root, "meta", filepath.FromSlash(key)+".json")
}

func (l *Local) lock(key string) func() {
	l.mu.Lock()
	m, ok := l.locks[key]
	if !ok {
		m = &sync.Mutex{}
		l.locks[key] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// localStaged is the local store's staging copy: a read-only temporary
// file, linked into place by commit.
type localStaged struct {
	l      *Local
	tmp    string
	Size   int64
	SHA256 string
}

// Stage streams r into the store's staging area, hashing it.
func (l *Local) Stage(ctx context.Context, r io.Reader) (*Staged, error) {
	return l.stage(ctx, r, true)
}

// stage is Stage, with the staged copy synced or not (a deferred put).
func (l *Local) stage(ctx context.Context, r io.Reader, sync bool) (*Staged, error) {
	tmp, size, sum, err := l.spool(ctx, r, sync)
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	s := &localStaged{l: l, tmp: tmp, Size: size, SHA256: sum}
	return &Staged{Size: size, SHA256: sum, commit: s.commit, discard: s.discard}, nil
}

func (s *localStaged) discard(context.Context) error {
	if err := os.Remove(s.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *localStaged) commit(ctx context.Context, key string, opts PutOptions) (*ObjectInfo, error) {
	defer func() { _ = s.discard(ctx) }() // the linked object keeps the bytes; the staging name goes
	l := s.l
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if opts.SHA256 != "" && opts.SHA256 != s.SHA256 {
		return nil, fmt.Errorf("put %s: received bytes hash to %s, not %s: %w", key, s.SHA256, opts.SHA256, ErrPrecondition)
	}
	if !opts.RetainUntil.IsZero() && !opts.RetainUntil.After(l.now()) {
		return nil, fmt.Errorf("put %s: retention date %s is in the past: %w", key, opts.RetainUntil.Format(time.RFC3339), ErrRetention)
	}
	unlock := l.lock(key)
	defer unlock()
	if info, err := l.Stat(ctx, key); err == nil {
		if info.SHA256 == s.SHA256 && info.Size == s.Size {
			return info, nil
		}
		return nil, fmt.Errorf("put %s: %w (sha256 %s)", key, ErrExist, info.SHA256)
	} else if !errors.Is(err, ErrNotExist) {
		return nil, err
	}
	// The metadata first, then the object: an object is there only once
	// its metadata is. A deferred put leaves the syncs to Sync; the
	// file system keeps the order of the two renames (ext4 and XFS journal
	// them in order), and until Sync no event names the object.
	m := localMeta{SHA256: s.SHA256, Size: s.Size, RetainUntil: opts.RetainUntil, LegalHold: opts.LegalHold, Created: l.now().UTC()}
	if err := l.putMeta(key, m, !opts.Deferred); err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	obj := l.objectPath(key)
	if err := os.MkdirAll(filepath.Dir(obj), 0o700); err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Link(s.tmp, obj); err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	if !opts.Deferred {
		if err := syncDir(filepath.Dir(obj)); err != nil {
			return nil, fmt.Errorf("put %s: %w", key, err)
		}
	}
	return m.info(key), nil
}

// Put stores r under key, write-once: Stage then Commit. The content must
// hash to opts.SHA256, or nothing is stored (ErrPrecondition).
func (l *Local) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (*ObjectInfo, error) {
	if err := checkPut(key, opts, l.now()); err != nil {
		return nil, err
	}
	st, err := l.stage(ctx, r, !opts.Deferred)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	return st.Commit(ctx, key, opts)
}

// Sync makes every deferred put done before it durable, with one
// syncfs(2) of the store's file system: for a batch of small objects one
// flush of the journal instead of two fsyncs and two directory syncs each.
func (l *Local) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := os.Open(l.root)
	if err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync store %s: %w", l.root, err)
	}
	return nil
}

// spool streams r into a synced, read-only temporary file, hashing it.
func (l *Local) spool(ctx context.Context, r io.Reader, sync bool) (string, int64, string, error) {
	f, err := os.CreateTemp(filepath.Join(l.root, "tmp"), "put-*")
	if err != nil {
		return "", 0, "", err
	}
	h := sha256.New()
	var w io.Writer = f
	if sync {
		w = &writeback{f: f}
	}
	n, err := io.Copy(io.MultiWriter(w, h), ctxReader{ctx, r})
	if err == nil {
		err = f.Chmod(0o444)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, "", err
	}
	return f.Name(), n, hex.EncodeToString(h.Sum(nil)), nil
}

// writebackChunk is how many bytes a synced spool writes before it asks
// the kernel to start writing them out.
const writebackChunk = 8 << 20

// writeback writes to a file that will be fsynced once complete, and
// starts the disk writing each chunk as soon as it is written
// (sync_file_range, SYNC_FILE_RANGE_WRITE: asynchronous), so the disk works
// while the rest is read and hashed instead of all of it waiting for the
// final fsync. Dirty pages of a 1 GiB item would otherwise sit below the
// kernel's background threshold until then: measured by
// BenchmarkCaptureLocal1GiB, hashing and the flush ran one after the other.
// The chunk before the last is waited for, so the dirty pages of one item
// stay under two chunks. Only a hint: durability still comes from the
// fsync, and a file system that refuses the call loses nothing but speed.
type writeback struct {
	f       *os.File
	written int64 // bytes written
	started int64 // bytes whose writeback was started
	waited  int64 // bytes whose writeback was waited for
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.started >= writebackChunk {
		fd := int(w.f.Fd())
		_ = unix.SyncFileRange(fd, w.started, w.written-w.started, unix.SYNC_FILE_RANGE_WRITE)
		if w.started > w.waited {
			_ = unix.SyncFileRange(fd, w.waited, w.started-w.waited,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
			w.waited = w.started
		}
		w.started = w.written
	}
	return n, err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (l *Local) writeMeta(key string, m localMeta) error { return l.putMeta(key, m, true) }

// putMeta writes the metadata of key, synced or not (a deferred put).
func (l *Local) putMeta(key string, m localMeta, sync bool) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	path := l.metaPath(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(l.root, "tmp"), "meta-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (m localMeta) info(key string) *ObjectInfo {
	return &ObjectInfo{Key: key, Size: m.Size, SHA256: m.SHA256, RetainUntil: m.RetainUntil, LegalHold: m.LegalHold, Created: m.Created}
}

func (l *Local) readMeta(key string) (localMeta, error) {
	var m localMeta
	if err := CheckKey(key); err != nil {
		return m, err
	}
	if _, err := os.Lstat(l.objectPath(key)); errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("%s: %w", key, ErrNotExist)
	} else if err != nil {
		return m, err
	}
	b, err := os.ReadFile(l.metaPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("%s: metadata is missing: %w", key, ErrTamper)
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil || !isHex(m.SHA256, 64) {
		return m, fmt.Errorf("%s: metadata is malformed: %w", key, ErrTamper)
	}
	return m, nil
}

// Stat describes the object under key.
func (l *Local) Stat(_ context.Context, key string) (*ObjectInfo, error) {
	m, err := l.readMeta(key)
	if err != nil {
		return nil, err
	}
	return m.info(key), nil
}

// Get returns the content of key. The reader re-hashes what it returns and
// fails with ErrTamper at the end if the bytes or their number differ from
// what was stored.
func (l *Local) Get(_ context.Context, key string) (io.ReadCloser, *ObjectInfo, error) {
	m, err := l.readMeta(key)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(l.objectPath(key))
	if err != nil {
		return nil, nil, fmt.Errorf("get %s: %w", key, err)
	}
	return &verifyingReader{key: key, r: f, c: f, h: sha256.New(), want: m.SHA256, size: m.Size}, m.info(key), nil
}

// verifyingReader re-hashes a stored object as it is read.
type verifyingReader struct {
	key  string
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	n    int64
	want string
	size int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.size {
		return n, fmt.Errorf("get %s: more than the %d bytes stored: %w", v.key, v.size, ErrTamper)
	}
	if errors.Is(err, io.EOF) {
		if v.n != v.size {
			return n, fmt.Errorf("get %s: %d bytes where %d were stored: %w", v.key, v.n, v.size, ErrTamper)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("get %s: content hashes to %s, stored as %s: %w", v.key, got, v.want, ErrTamper)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.c.Close() }

// List yields the objects whose keys start with prefix, in lexical order.
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[*ObjectInfo, error] {
	return func(yield func(*ObjectInfo, error) bool) {
		base := filepath.Join(l.root, "objects")
		// Walk only the directory the prefix names, not the whole store.
		start := base
		if i := strings.LastIndex(prefix, "/"); i > 0 {
			if CheckKey(prefix[:i]) != nil {
				return // no key lies under an invalid prefix
			}
			start = filepath.Join(base, filepath.FromSlash(prefix[:i]))
		}
		err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == start {
				return fs.SkipAll
			}
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(base, p)
			key := filepath.ToSlash(rel)
			if !strings.HasPrefix(key, prefix) {
				return nil
			}
			info, err := l.Stat(ctx, key)
			if !yield(info, err) {
				return fs.SkipAll
			}
			return nil
		})
		if err != nil {
			yield(nil, fmt.Errorf("list %q: %w", prefix, err))
		}
	}
}

// ExtendRetention moves the retention date of key to until; it never
// shortens it (ErrRetention).
func (l *Local) ExtendRetention(ctx context.Context, key string, until time.Time) error {
	unlock := l.lock(key)
	defer unlock()
	m, err := l.readMeta(key)
	if err != nil {
		return err
	}
	if until.Before(m.RetainUntil) {
		return fmt.Errorf("extend retention of %s to %s: it is retained until %s and may not be shortened: %w",
			key, until.Format(time.RFC3339), m.RetainUntil.Format(time.RFC3339), ErrRetention)
	}
	m.RetainUntil = until
	return l.writeMeta(key, m)
}

// SetLegalHold sets or clears the legal hold on key.
func (l *Local) SetLegalHold(ctx context.Context, key string, on bool) error {
	unlock := l.lock(key)
	defer unlock()
	m, err := l.readMeta(key)
	if err != nil {
		return err
	}
	m.LegalHold = on
	return l.writeMeta(key, m)
}

// Delete removes key if neither retention nor a legal hold protects it.
func (l *Local) Delete(ctx context.Context, key string) error {
	unlock := l.lock(key)
	defer unlock()
	m, err := l.readMeta(key)
	if err != nil {
		return err
	}
	if m.LegalHold {
		return fmt.Errorf("delete %s: under legal hold: %w", key, ErrRetention)
	}
	if l.now().Before(m.RetainUntil) {
		return fmt.Errorf("delete %s: retained until %s: %w", key, m.RetainUntil.Format(time.RFC3339), ErrRetention)
	}
	obj := l.objectPath(key)
	if err := os.Remove(obj); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(l.metaPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return syncDir(filepath.Dir(obj))
}

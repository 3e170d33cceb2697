package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
)

// failState holds the failure that stopped a Log, shared with its signer.
type failState struct {
	p atomic.Pointer[LogFailedError]
}

func (f *failState) err() error {
	if e := f.p.Load(); e != nil {
		return e
	}
	return nil
}

// set records e unless a failure is recorded already, and returns the
// one recorded.
func (f *failState) set(e *LogFailedError) *LogFailedError {
	f.p.CompareAndSwap(nil, e)
	return f.p.Load()
}

// Failed returns the error that stopped the log, a *LogFailedError, or
// nil while it writes.
func (l *Log) Failed() error { return l.failure.err() }

// Verified returns how many entries a verification of this writer has
// covered, and when the whole log was last verified from its first entry
// (zero if the record does not say).
func (l *Log) Verified() (size uint64, full time.Time) {
	if st := l.verified.Load(); st != nil {
		return st.walk.size, st.full
	}
	return 0, time.Time{}
}

// Verify checks the log's files as VerifyLog does, while the log stays
// open for writing. With full false it verifies only what no earlier
// verification covered: the entries appended since, and, with a stat of
// each file rather than a read, that no entry bundle or hash tile
// verified before has changed; if one has, it verifies the whole log.
// With full true it verifies the whole log from its first entry, with
// every kept checkpoint and the chains of the orders' events. What it
// verified is recorded beside the log, durably, for the next Verify and
// the next Open.
//
// Tampering found stops the log for good: Verify returns a
// *LogFailedError naming the first problem, and so does every later
// Append, Publish, Checkpoint and Verify; no checkpoint is signed. An I/O
// error changes nothing.
func (l *Log) Verify(ctx context.Context, full bool) (*LogReport, error) {
	l.verifyMu.Lock()
	defer l.verifyMu.Unlock()
	if err := l.Failed(); err != nil {
		return nil, err
	}
	prev := l.verified.Load()
	rep, next, err := l.verifySnapshot(ctx, prev, full)
	if logFailed(rep, err) != nil {
		// Confirmed from a new snapshot, in full, before the log stops:
		// the writer never stops on a state it read while changing it.
		rep, next, err = l.verifySnapshot(ctx, prev, true)
	}
	if f := logFailed(rep, err); f != nil {
		return rep, l.failure.set(f)
	}
	if err != nil {
		return rep, fmt.Errorf("verify log: %w", err)
	}
	if err := saveVerified(l.cfg.Dir, prev, next); err != nil {
		return rep, fmt.Errorf("verify log: %w", err)
	}
	if next != nil {
		l.verified.Store(next)
	}
	return rep, nil
}

func (l *Log) verifySnapshot(ctx context.Context, prev *verifiedState, full bool) (*LogReport, *verifiedState, error) {
	snap, err := l.snapshot()
	if err != nil {
		return nil, nil, err
	}
	return verifyFiles(ctx, l.fsys, snap, l.verifier, prev, full)
}

// verifyOnOpen verifies, before the writer starts, what no earlier
// verification covered (see Log.Verify), and records it. A log found
// tampered gives a *LogFailedError.
func verifyOnOpen(ctx context.Context, dir string, fsys fs.FS, v note.Verifier, pending *Record) (*verifiedState, error) {
	prev, err := readVerified(fsys)
	if err != nil {
		return nil, err
	}
	rep, next, err := verifyFiles(ctx, fsys, fsys, v, prev, false)
	if f := logFailed(rep, err); f != nil {
		return nil, f
	}
	if err != nil {
		return nil, err
	}
	if err := checkCurrentKey(rep, v, pending); err != nil {
		return nil, err
	}
	if err := saveVerified(dir, prev, next); err != nil {
		return nil, err
	}
	if next == nil {
		return prev, nil
	}
	return next, nil
}

// ErrRetiredKey is returned by Open when the log's key was rotated away
// from the key given to sign it.
var ErrRetiredKey = errors.New("the log's key was rotated: this key no longer signs it")

// checkCurrentKey refuses to sign with a key the log rotated away from,
// when the verification read the rotation: every checkpoint it signed
// would be refused as not signed by the log's key of the time. The old
// key of a rotation left unfinished (pending, its key.rotated entry)
// opens the log, to sign with the new key the checkpoint that finishes it.
func checkCurrentKey(rep *LogReport, v note.Verifier, pending *Record) error {
	if rep == nil || len(rep.Keys) == 0 {
		return nil
	}
	cur := rep.Keys[len(rep.Keys)-1]
	if pending != nil && cur.Index == pending.Index && ReadKeyRotatedDetails(pending.Event).Old.KeyID == fmt.Sprintf("%08x", v.KeyHash()) {
		return nil
	}
	if cur.KeyID != fmt.Sprintf("%08x", v.KeyHash()) {
		return fmt.Errorf("%w: key %08x was rotated to %s (key id %s) at entry %d; configure that key", ErrRetiredKey, v.KeyHash(), cur.Verifier, cur.KeyID, cur.Index)
	}
	return nil
}

// verifyFiles verifies the log in snap (the files the writer changes, as
// snapshot read them; fsys is the log directory itself) from where prev
// says an earlier verification stopped, if the stamps of the files it
// covered are unchanged and full is false, and otherwise from the first
// entry. It returns what to record, or nil if nothing new was verified.
func verifyFiles(ctx context.Context, fsys, snap fs.FS, v note.Verifier, prev *verifiedState, full bool) (*LogReport, *verifiedState, error) {
	size, _, _, err := IntegratedSize(snap)
	if err != nil {
		return nil, nil, err
	}
	boundary := size - size%layout.EntryBundleWidth
	var from *walkState
	var prevStamps []byte
	if prev != nil && !full {
		if prevStamps, err = stamps(fsys, prev.walk.size); err != nil {
			return nil, nil, err
		}
		if bytes.Equal(prevStamps, prev.stamps) {
			from = prev.walk
		}
	}
	next := &verifiedState{full: time.Now()}
	if from != nil {
		next.full = prev.full
	}
	// Stamped before they are read: a file changed after it was read
	// changes its stamp, and the next verification reads it again.
	if from != nil && from.size == boundary {
		next.stamps = prevStamps
	} else if next.stamps, err = stamps(fsys, boundary); err != nil {
		return nil, nil, err
	}
	rep, mark, err := verifyLog(ctx, snap, v, from)
	if from == nil && (err == nil || errors.Is(err, ErrTamper)) {
		// A whole walk checks what custos log verify checks: the older
		// partial versions kept for older checkpoints too.
		if oerr := checkOlderResources(ctx, snap, rep, rep.CheckpointSize+rep.Unsealed); oerr != nil {
			return rep, nil, oerr
		}
		err = rep.err()
	}
	if err != nil || mark == nil || mark.size != boundary {
		return rep, nil, err
	}
	next.walk = mark
	return rep, next, nil
}

// saveVerified writes next as the verified record, durably, unless it
// says what prev said.
func saveVerified(dir string, prev, next *verifiedState) error {
	if next == nil {
		return nil
	}
	if prev != nil && prev.walk.size == next.walk.size && prev.full.Equal(next.full) && bytes.Equal(prev.stamps, next.stamps) {
		return nil
	}
	if err := replaceFile(filepath.Join(dir, verifiedPath), formatVerified(next)); err != nil {
		return fmt.Errorf("record the verified log: %w", err)
	}
	return nil
}

// snapshot reads, at one moment, the files that the writer replaces or
// adds to while a verification runs: the published checkpoint, the list
// of kept checkpoints and the tree state. No checkpoint is signed
// meanwhile (Publish's and the signer's locks), so at most one kept
// checkpoint, signed and being published, is newer than the published
// one, as VerifyLog allows; the tree state, read last, covers every kept
// checkpoint. Every other file the verification reads is written once.
func (l *Log) snapshot() (fs.FS, error) {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	l.signer.mu.Lock()
	defer l.signer.mu.Unlock()
	snap := &snapshotFS{FS: l.fsys, files: map[string][]byte{}}
	for _, p := range []string{CheckpointPath, CheckpointsDir, treeStatePath} {
		if p == CheckpointsDir {
			ents, err := fs.ReadDir(l.fsys, p)
			if err != nil {
				return nil, err
			}
			snap.kept = ents
			continue
		}
		b, err := fs.ReadFile(l.fsys, p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		snap.files[p] = b // nil: missing
	}
	return snap, nil
}

// snapshotFS is the log directory with the files snapshot read served as
// they were then.
type snapshotFS struct {
	fs.FS
	files map[string][]byte
	kept  []fs.DirEntry
}

func (s *snapshotFS) ReadFile(name string) ([]byte, error) {
	b, ok := s.files[name]
	switch {
	case !ok:
		return fs.ReadFile(s.FS, name)
	case b == nil:
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return bytes.Clone(b), nil
}

func (s *snapshotFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name == CheckpointsDir {
		return s.kept, nil
	}
	return fs.ReadDir(s.FS, name)
}

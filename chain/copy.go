package chain

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
)

// TreeFile is one hash tile or entry bundle of the tree of some size, as
// the C2SP tlog-tiles layout names it. Once a checkpoint covers it, its
// content never changes; when the log grows past a partial file, the
// writer replaces it by a wider one, of which it is a prefix.
type TreeFile struct {
	Path    string // e.g. tile/0/x001/234 or tile/entries/000.p/17
	Entries bool   // an entry bundle; otherwise a hash tile
	Level   uint64 // tile level (0 for entry bundles)
	Index   uint64 // tile or bundle index within its level
	Width   uint8  // entries or hashes of a partial file; 0 for a full one
}

// TreeFiles lists the hash tiles and entry bundles that the tree of size
// to consists of and the tree of size from does not: new files, and the
// partial files at the right edge that grew. Copying TreeFiles(0, a), then
// TreeFiles(a, b), then TreeFiles(b, c) copies every file tree c needs.
func TreeFiles(from, to uint64) []TreeFile {
	var files []TreeFile
	for level := uint64(0); ; level++ {
		nf, nt := from>>(level*layout.TileHeight), to>>(level*layout.TileHeight)
		if nt <= nf {
			return files // nothing changed at this level, nor above it
		}
		for i := nf / layout.TileWidth; i*layout.TileWidth < nt; i++ {
			w := layout.PartialTileSize(level, i, to)
			files = append(files, TreeFile{Path: layout.TilePath(level, i, w), Level: level, Index: i, Width: w})
			if level == 0 {
				files = append(files, TreeFile{Path: layout.EntriesPath(i, w), Entries: true, Index: i, Width: w})
			}
		}
	}
}

func (f TreeFile) fullPath() string {
	if f.Entries {
		return layout.EntriesPath(f.Index, 0)
	}
	return layout.TilePath(f.Level, f.Index, 0)
}

// ReadTreeFile reads f from the log directory fsys. A partial file that
// the writer has since replaced by the full one is cut from the full one,
// so a copy holds the very file the tree of its checkpoint had. A file
// missing from the log, or a full file too short to hold the partial one,
// is a *TamperError.
func ReadTreeFile(fsys fs.FS, f TreeFile) ([]byte, error) {
	raw, err := fs.ReadFile(fsys, f.Path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return raw, err
	}
	if f.Width == 0 {
		return nil, tamper(f.Path, NoIndex, "missing from the log")
	}
	full := f.fullPath()
	raw, err = fs.ReadFile(fsys, full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, tamper(f.Path, NoIndex, "missing from the log, and so is %s that replaces it", full)
	}
	if err != nil {
		return nil, err
	}
	n, ok := prefixLen(raw, f)
	if !ok {
		return nil, tamper(full, NoIndex, "too short to hold the %d entries or hashes of %s", f.Width, f.Path)
	}
	return raw[:n], nil
}

// prefixLen is the length of the first f.Width hashes or entries of raw.
func prefixLen(raw []byte, f TreeFile) (int, bool) {
	if !f.Entries {
		n := int(f.Width) * 32
		return n, len(raw) >= n
	}
	n := 0
	for range f.Width {
		if n+2 > len(raw) {
			return 0, false
		}
		n += 2 + int(binary.BigEndian.Uint16(raw[n:]))
	}
	return n, n <= len(raw)
}

// Reinstate turns a directory holding only a log's immutable files (hash
// tiles, entry bundles and kept checkpoints, as a mirror keeps them) into
// a log that Open continues: it publishes the newest kept checkpoint,
// whose signature must verify with v, and records its tree as the
// writer's integrated state. It reads no tile; VerifyLog checks them. A
// directory that already has a published checkpoint or a tree state is a
// log, not a copy, and is refused.
func Reinstate(dir string, v note.Verifier) (*Checkpoint, error) {
	fsys := os.DirFS(dir)
	for _, p := range []string{CheckpointPath, treeStatePath} {
		if _, err := fs.Stat(fsys, p); !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reinstate %s: %s exists (%v): not a copy of a log's immutable files", dir, p, err)
		}
	}
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		return nil, err
	}
	if len(sizes) == 0 {
		return nil, tamper(CheckpointsDir, NoIndex, "no kept checkpoint: nothing says which tree the files are")
	}
	cp, err := readKept(fsys, v, sizes[len(sizes)-1])
	if err != nil {
		return nil, err
	}
	state, err := json.Marshal(treeState{Size: cp.Size, Root: cp.Hash})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(treeStatePath)), checkpointsPerm); err != nil {
		return nil, err
	}
	// The state first: a checkpoint without it is refused by Open, and
	// so is a state without a checkpoint; only both make a log.
	if err := replaceFile(filepath.Join(dir, treeStatePath), state); err != nil {
		return nil, err
	}
	if err := replaceFile(filepath.Join(dir, CheckpointPath), cp.Raw); err != nil {
		return nil, err
	}
	return cp, nil
}

package chain

import (
	"bytes"
	"context"
	"errors"
	"io/fs"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// Older partial resources (issue 18 item 5). The log keeps, beside each
// entry bundle and hash tile, the partial versions it published for
// older checkpoints (tile/entries/N.p/W, tile/L/N.p/W), and the mirror
// serves them to anyone who verifies against those checkpoints. The tree
// walk reads only the newest version of each; checkOlderResources checks
// those of every kept checkpoint against it: a partial version of width
// W must hold exactly W entries or hashes, and be a prefix, byte for
// byte, of the newest: the version at the log's size, which the walk
// reads and checks against the signed roots. A wider partial than that
// is not the newest but the leftover of an integration a kill cut short
// (tessera writes bundles and tiles before its tree state); it holds
// entries the log never adopted, no checkpoint covers it, and the next
// integration at that width overwrites it.

// checkOlderResources compares the partial entry bundles and hash tiles
// that a verifier of each kept checkpoint fetches (those of width
// PartialTileSize at its size) with the newest version of their resource.
// Other partial files are not served for any checkpoint: a writer killed
// before it signed may leave one holding entries the log never adopted.
// logSize is the log's size: the writer's tree state, or else the newest
// checkpoint.
func checkOlderResources(ctx context.Context, fsys fs.FS, rep *LogReport, logSize uint64) error {
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	check := func(pathOf func(uint8) string, p, newest uint8, kind string, index int64, count func([]byte) int) error {
		if done[pathOf(p)] {
			return nil
		}
		done[pathOf(p)] = true
		return checkOlder(fsys, rep, pathOf, p, newest, kind, index, count)
	}
	for _, size := range sizes {
		for level := uint64(0); size>>(level*layout.TileHeight) > 0; level++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			index := (size >> (level * layout.TileHeight)) / layout.TileWidth
			p := layout.PartialTileSize(level, index, size)
			if p == 0 || size >= logSize {
				continue
			}
			newest := layout.PartialTileSize(level, index, logSize)
			err := check(func(p uint8) string { return layout.TilePath(level, index, p) }, p, newest, "hash tile", NoIndex, hashesIn)
			if err == nil && level == 0 {
				err = check(func(p uint8) string { return layout.EntriesPath(index, p) }, p, newest, "entry bundle",
					int64(index*layout.EntryBundleWidth), entriesIn)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// entriesIn counts the entries of a bundle, -1 if it is malformed.
func entriesIn(raw []byte) int {
	var b api.EntryBundle
	if b.UnmarshalText(raw) != nil {
		return -1
	}
	return len(b.Entries)
}

// hashesIn counts the hashes of a tile, -1 if it is malformed.
func hashesIn(raw []byte) int {
	var t api.HashTile
	if t.UnmarshalText(raw) != nil {
		return -1
	}
	return len(t.Nodes)
}

// checkOlder checks the partial version of width p of one resource,
// pathOf(w) being its version of width w (0: full), against the newest,
// of width newest. A partial version no longer kept is not reported, nor
// a missing newest: the walk reports that.
func checkOlder(fsys fs.FS, rep *LogReport, pathOf func(uint8) string, p, newest uint8, kind string, index int64, count func([]byte) int) error {
	file := pathOf(p)
	raw, err := fs.ReadFile(fsys, file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	latest, newestPath, _, err := readExact(fsys, newest, pathOf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || newestPath == file {
		return err
	}
	switch n := count(raw); {
	case n != int(p):
		rep.problem(tamper(file, index, "older partial %s holds %d entries or hashes, its name says %d", kind, n, p))
	case !bytes.HasPrefix(latest, raw):
		rep.problem(tamper(file, index, "older partial %s is not a prefix of %s: the older version was altered", kind, newestPath))
	}
	return nil
}

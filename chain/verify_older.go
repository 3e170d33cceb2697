package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"

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
// byte, of the newest (the full one, or the widest partial). The newest
// is checked against the signed roots by the walk.

// checkOlderResources compares the partial entry bundles and hash tiles
// that a verifier of each kept checkpoint fetches (those of width
// PartialTileSize at its size) with the newest version of their resource.
// Other partial files are not served for any checkpoint: a writer killed
// before it signed may leave one holding entries the log never adopted.
func checkOlderResources(ctx context.Context, fsys fs.FS, rep *LogReport) error {
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	check := func(pathOf func(uint8) string, p uint8, kind string, index int64, count func([]byte) int) error {
		if done[pathOf(p)] {
			return nil
		}
		done[pathOf(p)] = true
		return checkOlder(fsys, rep, pathOf, p, kind, index, count)
	}
	for _, size := range sizes {
		for level := uint64(0); size>>(level*layout.TileHeight) > 0; level++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			index := (size >> (level * layout.TileHeight)) / layout.TileWidth
			p := layout.PartialTileSize(level, index, size)
			if p == 0 {
				continue
			}
			err := check(func(p uint8) string { return layout.TilePath(level, index, p) }, p, "hash tile", NoIndex, hashesIn)
			if err == nil && level == 0 {
				err = check(func(p uint8) string { return layout.EntriesPath(index, p) }, p, "entry bundle",
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
// pathOf(w) being its version of width w (0: full), against the newest.
// A partial version no longer kept is not reported.
func checkOlder(fsys fs.FS, rep *LogReport, pathOf func(uint8) string, p uint8, kind string, index int64, count func([]byte) int) error {
	file := pathOf(p)
	raw, err := fs.ReadFile(fsys, file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	newest, newestPath, err := readNewest(fsys, pathOf)
	if err != nil || newestPath == file {
		return err
	}
	switch n := count(raw); {
	case n != int(p):
		rep.problem(tamper(file, index, "older partial %s holds %d entries or hashes, its name says %d", kind, n, p))
	case !bytes.HasPrefix(newest, raw):
		rep.problem(tamper(file, index, "older partial %s is not a prefix of %s: the older version was altered", kind, newestPath))
	}
	return nil
}

// readNewest reads the full version of a resource, or else its widest
// partial one.
func readNewest(fsys fs.FS, pathOf func(uint8) string) ([]byte, string, error) {
	raw, err := fs.ReadFile(fsys, pathOf(0))
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return raw, pathOf(0), err
	}
	list, err := fs.ReadDir(fsys, path.Dir(pathOf(1)))
	if err != nil {
		return nil, "", err
	}
	widest := uint64(0)
	for _, e := range list {
		n, err := strconv.ParseUint(e.Name(), 10, 8)
		if err == nil && strconv.FormatUint(n, 10) == e.Name() && e.Type().IsRegular() {
			widest = max(widest, n)
		}
	}
	raw, err = fs.ReadFile(fsys, pathOf(uint8(widest)))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", pathOf(uint8(widest)), err)
	}
	return raw, pathOf(uint8(widest)), nil
}

package chain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strconv"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
)

// maxProblems bounds the findings one verification collects.
const maxProblems = 100

// LogReport says what VerifyLog checked and what it found.
type LogReport struct {
	Origin              string
	Entries             uint64 // entries read, hashed and parsed
	CheckpointSize      uint64 // size of the newest published checkpoint
	Unsealed            uint64 // durable entries not yet covered by a checkpoint
	CheckpointsVerified int    // kept checkpoints whose signature and root were checked
	TilesVerified       int    // hash tiles recomputed and compared
	Orders              int    // orders whose event chains were followed
	Problems            []*TamperError
}

func (r *LogReport) problem(p *TamperError) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, p)
	}
}

// VerifyLog checks the whole log directory fsys against the key of v: the
// newest checkpoint's and every kept checkpoint's signature; every entry
// re-hashed, parsed as a canonical event and compared with the hash tiles;
// every tile recomputed; the tree root at the size of every checkpoint (so
// each kept checkpoint is consistent with the newest); and the chain of each
// order's events. It reads only fsys and holds no state.
//
// Findings are collected in the report and returned joined as the error;
// each is a *TamperError, so errors.Is(err, ErrTamper) holds. Any other
// error is an I/O failure that says nothing about the log's integrity.
func VerifyLog(ctx context.Context, fsys fs.FS, v note.Verifier) (*LogReport, error) {
	rep := &LogReport{Origin: v.Name()}
	raw, err := fs.ReadFile(fsys, CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		rep.problem(tamper(CheckpointPath, NoIndex, "the log has no published checkpoint"))
		return rep, rep.err()
	}
	if err != nil {
		return rep, err
	}
	cp, err := ParseCheckpoint(raw, v)
	if err != nil {
		rep.problem(asTamper(withFile(err, CheckpointPath)))
		return rep, rep.err()
	}
	rep.CheckpointSize = cp.Size

	// Every size at which a signed root must match the recomputed tree.
	roots := map[uint64][]checkedRoot{cp.Size: {{file: CheckpointPath, hash: cp.Hash}}}
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		if te := asTamper(err); te != nil {
			rep.problem(te)
		} else {
			return rep, err
		}
	}
	for _, s := range sizes {
		file := CheckpointsDir + "/" + strconv.FormatUint(s, 10)
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return rep, err
		}
		kcp, err := ParseCheckpoint(b, v)
		if err != nil {
			rep.problem(asTamper(withFile(err, file)))
			continue
		}
		if kcp.Size != s {
			rep.problem(tamper(file, NoIndex, "kept under size %d but signs size %d", s, kcp.Size))
			continue
		}
		if s > cp.Size {
			rep.problem(tamper(CheckpointPath, NoIndex, "published checkpoint has size %d but %s (size %d) was published before: the log was rolled back", cp.Size, file, s))
		}
		roots[s] = append(roots[s], checkedRoot{file: file, hash: kcp.Hash})
	}

	size := cp.Size
	stateSize, stateRoot, haveState, err := IntegratedSize(fsys)
	if err != nil {
		if te := asTamper(err); te != nil {
			rep.problem(te)
		} else {
			return rep, err
		}
	}
	if haveState {
		if stateSize < cp.Size {
			rep.problem(tamper(treeStatePath, NoIndex, "the writer's tree state has %d entries, fewer than the checkpoint's %d", stateSize, cp.Size))
		} else {
			size = stateSize
			rep.Unsealed = stateSize - cp.Size
			roots[stateSize] = append(roots[stateSize], checkedRoot{file: treeStatePath, hash: stateRoot, unsigned: true})
		}
	}
	for s := range roots {
		size = max(size, s)
	}

	w := newTreeWalk(fsys, rep, roots)
	if err := w.run(ctx, size); err != nil {
		return rep, err
	}
	rep.Orders = len(w.heads)
	return rep, rep.err()
}

func (r *LogReport) err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

func asTamper(err error) *TamperError {
	var te *TamperError
	if errors.As(err, &te) {
		return te
	}
	return nil
}

type checkedRoot struct {
	file     string
	hash     []byte
	unsigned bool
}

// treeWalk streams the entries once, in order, rebuilding the tree.
type treeWalk struct {
	fsys  fs.FS
	rep   *LogReport
	roots map[uint64][]checkedRoot
	rng   *compact.Range
	tiles [][][]byte // per tile level, the node hashes of the current tile
	heads map[string]head
	// shifts records, per order, a displacement already reported.
	shifts map[string]int64
}

func newTreeWalk(fsys fs.FS, rep *LogReport, roots map[uint64][]checkedRoot) *treeWalk {
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	return &treeWalk{fsys: fsys, rep: rep, roots: roots, rng: f.NewEmptyRange(0), heads: map[string]head{}, shifts: map[string]int64{}}
}

// parsedBundle is one entry bundle read, hashed and parsed.
type parsedBundle struct {
	index   uint64
	file    string
	leaves  [][]byte
	events  []*Event
	encoded [][]byte
	bad     []*TamperError // entries that are not canonical events
	fatal   *TamperError   // the bundle is missing or unreadable as a bundle
	err     error          // an I/O failure
}

func (w *treeWalk) run(ctx context.Context, size uint64) error {
	if size == 0 {
		w.checkRoots(0)
		return nil
	}
	nb := (size + layout.EntryBundleWidth - 1) / layout.EntryBundleWidth
	// Read and parse bundles in parallel, consume them in order.
	workers := runtime.GOMAXPROCS(0)
	results := make([]chan *parsedBundle, nb)
	for i := range results {
		results[i] = make(chan *parsedBundle, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// window bounds how many parsed bundles wait in memory.
	window := make(chan struct{}, 4*workers)
	next := make(chan uint64)
	go func() {
		defer close(next)
		for b := uint64(0); b < nb; b++ {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		go func() {
			for b := range next {
				results[b] <- readBundle(ctx, w.fsys, b, size)
			}
		}()
	}
	for b := uint64(0); b < nb; b++ {
		var pb *parsedBundle
		select {
		case pb = <-results[b]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-window
		if pb.err != nil {
			return pb.err
		}
		if err := w.consume(pb); err != nil {
			return err
		}
		if pb.fatal != nil {
			// The entries before the damage have been checked; without
			// the rest no root beyond this point can be computed. The
			// stored leaf hashes still show where entries went missing.
			if len(pb.leaves) > 0 {
				w.checkTile(0, b, pb.leaves, layout.PartialTileSize(0, b, size))
			}
			w.rep.problem(pb.fatal)
			return nil
		}
	}
	w.finishTiles(size)
	return nil
}

func readBundle(ctx context.Context, fsys fs.FS, b, size uint64) *parsedBundle {
	p := layout.PartialTileSize(0, b, size)
	pb := &parsedBundle{index: b, file: layout.EntriesPath(b, p)}
	first := int64(b * layout.EntryBundleWidth)
	raw, err := BundleFetcher(fsys)(ctx, b, p)
	if errors.Is(err, fs.ErrNotExist) {
		pb.fatal = tamper(pb.file, first, "entry bundle is missing: the log was truncated")
		return pb
	}
	if err != nil {
		pb.err = err
		return pb
	}
	var bundle api.EntryBundle
	if err := bundle.UnmarshalText(raw); err != nil {
		pb.fatal = tamper(pb.file, first, "entry bundle is malformed: %v", err)
		return pb
	}
	want := min(size-b*layout.EntryBundleWidth, layout.EntryBundleWidth)
	entries := bundle.Entries
	switch {
	case uint64(len(entries)) < want:
		pb.fatal = tamper(pb.file, first+int64(len(entries)), "entry bundle holds %d entries where the log has %d: the log was truncated", len(entries), want)
	case p > 0 && uint64(len(entries)) != want:
		pb.fatal = tamper(pb.file, first+int64(want), "partial entry bundle holds %d entries, its name says %d", len(entries), want)
	default:
		entries = entries[:want]
	}
	for i, enc := range entries {
		pb.leaves = append(pb.leaves, rfc6962.DefaultHasher.HashLeaf(enc))
		pb.encoded = append(pb.encoded, enc)
		ev, err := ParseEvent(enc)
		if err != nil {
			pb.bad = append(pb.bad, tamper(pb.file, first+int64(i), "not a canonical custody event: %v", err))
		}
		pb.events = append(pb.events, ev)
	}
	return pb
}

func (w *treeWalk) consume(pb *parsedBundle) error {
	for _, p := range pb.bad {
		w.rep.problem(p)
	}
	first := pb.index * layout.EntryBundleWidth
	for i, leaf := range pb.leaves {
		idx := first + uint64(i)
		if err := w.rng.Append(leaf, w.visit); err != nil {
			return err
		}
		w.rep.Entries++
		if ev := pb.events[i]; ev != nil {
			w.checkLink(idx, pb.file, ev, pb.encoded[i])
		}
		if _, ok := w.roots[idx+1]; ok {
			w.checkRoots(idx + 1)
		}
	}
	return nil
}

func (w *treeWalk) checkLink(idx uint64, file string, ev *Event, enc []byte) {
	if ev.Order == "" {
		return
	}
	h, ok := w.heads[ev.Order]
	switch {
	case !ok && ev.Prev != "":
		w.rep.problem(tamper(file, int64(idx), "order %s: event links to entry %d but the order has no earlier event: an event was removed", ev.Order, *ev.PrevIndex))
	case ok && ev.Prev == "":
		w.rep.problem(tamper(file, int64(idx), "order %s: event does not link to the order's earlier event at entry %d", ev.Order, h.index))
	case ok && ev.Prev != h.hash:
		w.rep.problem(tamper(file, int64(idx), "order %s: event links to entry %d (%.12s…), but the order's previous event is entry %d (%.12s…): events were removed, altered or reordered", ev.Order, *ev.PrevIndex, ev.Prev, h.index, h.hash))
	case ok && *ev.PrevIndex != h.index:
		// The right event at another place: entries were removed or
		// inserted before it. Reported once per shift, not per entry.
		if shift := int64(h.index) - int64(*ev.PrevIndex); shift != w.shifts[ev.Order] {
			w.shifts[ev.Order] = shift
			w.rep.problem(tamper(file, int64(idx), "order %s: event's previous event was entry %d but is now entry %d: entries before it were removed or inserted", ev.Order, *ev.PrevIndex, h.index))
		}
	}
	w.heads[ev.Order] = head{hash: EventHash(enc), index: idx}
}

func (w *treeWalk) checkRoots(size uint64) {
	var root []byte
	if size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	} else {
		var err error
		if root, err = w.rng.GetRootHash(nil); err != nil {
			w.rep.problem(tamper("", NoIndex, "cannot compute the root at size %d: %v", size, err))
			return
		}
	}
	for _, r := range w.roots[size] {
		if !bytes.Equal(root, r.hash) {
			w.rep.problem(tamper(r.file, NoIndex, "root hash at size %d does not match the entries: entries were altered, added, removed or reordered", size))
			continue
		}
		if !r.unsigned {
			w.rep.CheckpointsVerified++
		}
	}
}

// visit receives every complete node of the tree in order. Nodes on tile
// boundaries (levels 0, 8, 16, ...) are gathered into tiles and compared
// with the stored hash tiles as each tile fills up.
func (w *treeWalk) visit(id compact.NodeID, hash []byte) {
	if id.Level%layout.TileHeight != 0 {
		return
	}
	lvl := int(id.Level / layout.TileHeight)
	for len(w.tiles) <= lvl {
		w.tiles = append(w.tiles, nil)
	}
	w.tiles[lvl] = append(w.tiles[lvl], hash)
	if len(w.tiles[lvl]) == layout.TileWidth {
		w.checkTile(uint64(lvl), id.Index/layout.TileWidth, w.tiles[lvl], 0)
		w.tiles[lvl] = w.tiles[lvl][:0]
	}
}

// finishTiles compares the partial tiles at the end of the tree.
func (w *treeWalk) finishTiles(size uint64) {
	for lvl, nodes := range w.tiles {
		if len(nodes) == 0 {
			continue
		}
		width := uint64(1) << (uint(lvl) * layout.TileHeight) * layout.TileWidth
		index := (size - 1) / width
		w.checkTile(uint64(lvl), index, nodes, uint8(len(nodes)))
	}
}

func (w *treeWalk) checkTile(level, index uint64, want [][]byte, p uint8) {
	file := layout.TilePath(level, index, p)
	raw, err := TileFetcher(w.fsys)(context.Background(), level, index, p)
	if err != nil {
		w.rep.problem(tamper(file, NoIndex, "hash tile is missing or unreadable: %v", err))
		return
	}
	var t api.HashTile
	if err := t.UnmarshalText(raw); err != nil {
		w.rep.problem(tamper(file, NoIndex, "hash tile is malformed: %v", err))
		return
	}
	if len(t.Nodes) < len(want) {
		w.rep.problem(tamper(file, NoIndex, "hash tile holds %d hashes, the log has %d here", len(t.Nodes), len(want)))
		return
	}
	w.rep.TilesVerified++
	first, count := -1, 0
	for i, h := range want {
		if !bytes.Equal(t.Nodes[i], h) {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	if count == 0 {
		return
	}
	more := ""
	if count > 1 {
		more = fmt.Sprintf(" (and %d more hashes of this tile)", count-1)
	}
	if level == 0 {
		w.rep.problem(tamper(file, int64(index*layout.TileWidth)+int64(first), "leaf hash in the tile does not match the entry: the entry or the tile was altered%s", more))
		return
	}
	w.rep.problem(tamper(file, NoIndex, "hash %d of the tile does not match the entries below it%s", first, more))
}

package chain

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
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
	CheckpointSize      uint64 // size of the newest signed checkpoint
	Unsealed            uint64 // durable entries not yet covered by a checkpoint
	CheckpointsVerified int    // kept checkpoints whose signature and root were checked
	TilesVerified       int    // hash tiles recomputed and compared
	Orders              int    // orders whose event chains were followed
	// Keys are the keys that signed the log's checkpoints, oldest first,
	// as log.opened and key.rotated name them; empty when the walk read
	// none of those events (a verification resumed past them) or the
	// verifier's key is none of them.
	Keys      []LogKey
	Rotations []Rotation // the key rotations found
	Problems  []*TamperError
}

func (r *LogReport) problem(p *TamperError) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, p)
	}
}

// VerifyLog checks the whole log directory fsys against the key of v: the
// newest checkpoint's and every kept checkpoint's signature; every entry
// re-hashed, parsed as a canonical event and compared with the hash tiles;
// every tile recomputed; the partial entry bundle and tiles of every kept
// checkpoint a prefix of the newest version of their resource; the tree root at the size of every
// checkpoint (so each kept checkpoint is consistent with the newest); and
// the chain of each order's events. It reads only fsys and holds no state.
//
// Findings are collected in the report and returned joined as the error;
// each is a *TamperError, so errors.Is(err, ErrTamper) holds. Any other
// error is an I/O failure that says nothing about the log's integrity.
func VerifyLog(ctx context.Context, fsys fs.FS, v note.Verifier) (*LogReport, error) {
	rep, _, err := verifyLog(ctx, fsys, v, nil)
	if err != nil && !errors.Is(err, ErrTamper) {
		return rep, err
	}
	if oerr := checkOlderResources(ctx, fsys, rep, rep.CheckpointSize+rep.Unsealed); oerr != nil {
		return rep, oerr
	}
	return rep, rep.err()
}

// verifyLog is VerifyLog, from a verified prefix when from is not nil:
// the entries before from.size are not read, the kept checkpoints that
// small are not read (their files are known unchanged, see stamps), the
// tree walk starts from from's state, and the order chains are not
// followed (the links of the new entries need every order's earlier
// event). It also returns the walk's state at the last bundle boundary,
// from which the next verification may start.
func verifyLog(ctx context.Context, fsys fs.FS, v note.Verifier, from *walkState) (*LogReport, *walkState, error) {
	rep := &LogReport{Origin: v.Name()}
	roots, size, err := signedRoots(fsys, v, rep, from)
	if err != nil {
		return rep, nil, err
	}
	if roots == nil {
		return rep, nil, rep.err()
	}
	if from != nil && from.size > size {
		rep.problem(tamper(treeStatePath, NoIndex, "the log holds %d entries, but %d were verified before (%s): the log was rolled back", size, from.size, verifiedPath))
		return rep, nil, rep.err()
	}
	w, err := newTreeWalk(fsys, rep, roots, from)
	if err != nil {
		return rep, nil, err
	}
	if err := w.run(ctx, size); err != nil {
		return rep, nil, err
	}
	w.keys.checkSignatures(rep, roots, v)
	rep.Orders = len(w.heads)
	return rep, w.mark, rep.err()
}

// signedRoots reads the published checkpoint, the kept checkpoints and the
// writer's tree state, and returns every size at which a signed or
// recorded root must match the recomputed tree, and the size to walk to.
// Nil roots and a nil error mean a finding that stops the walk, in rep.
func signedRoots(fsys fs.FS, v note.Verifier, rep *LogReport, from *walkState) (map[uint64][]checkedRoot, uint64, error) {
	raw, err := fs.ReadFile(fsys, CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		rep.problem(tamper(CheckpointPath, NoIndex, "the log has no published checkpoint"))
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	// Signatures are checked after the walk (checkSignatures): which key
	// signs a checkpoint depends on the key.rotated events before it.
	cp, err := parseUnverified(raw, v.Name())
	if err != nil {
		rep.problem(asTamper(withFile(err, CheckpointPath)))
		return nil, 0, nil
	}
	rep.CheckpointSize = cp.Size

	// Every size at which a signed root must match the recomputed tree.
	roots := map[uint64][]checkedRoot{cp.Size: {{file: CheckpointPath, hash: cp.Hash, raw: raw}}}
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		if te := asTamper(err); te != nil {
			rep.problem(te)
		} else {
			return nil, 0, err
		}
	}
	// Only the newest kept checkpoint can be unpublished: one signed just
	// before a crash, which Open publishes on the next start. A published
	// checkpoint older than two kept ones was put back.
	if n := len(sizes); n >= 2 && sizes[n-2] > cp.Size {
		var newer []uint64
		for _, s := range sizes {
			if s > cp.Size {
				newer = append(newer, s)
			}
		}
		rep.problem(tamper(CheckpointPath, NoIndex, "the published checkpoint (size %d) is older than the kept checkpoints %v, published after it: the checkpoint was rolled back", cp.Size, newer))
	}
	if !slices.Contains(sizes, cp.Size) {
		rep.problem(tamper(CheckpointsDir+"/"+strconv.FormatUint(cp.Size, 10), NoIndex, "the published checkpoint of size %d has no kept copy: kept checkpoints were removed", cp.Size))
	}
	for _, s := range sizes {
		if from != nil && s < from.size {
			rep.CheckpointSize = max(rep.CheckpointSize, s)
			continue
		}
		kcp, err := readKeptUnverified(fsys, v.Name(), s)
		file := CheckpointsDir + "/" + strconv.FormatUint(s, 10)
		if te := asTamper(err); te != nil {
			rep.problem(te)
			if kcp != nil {
				roots[s] = append(roots[s], checkedRoot{file: file, raw: kcp.Raw, sigOnly: true})
			}
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		// A kept checkpoint larger than the published one is one signed
		// just before a crash stopped its publication; its entries must be
		// here all the same, which the walk below checks.
		rep.CheckpointSize = max(rep.CheckpointSize, s)
		roots[s] = append(roots[s], checkedRoot{file: file, hash: kcp.Hash, raw: kcp.Raw})
	}
	if err := cosignedRoots(fsys, v, rep, from, roots); err != nil {
		return nil, 0, err
	}

	size := cp.Size
	stateSize, stateRoot, haveState, err := IntegratedSize(fsys)
	if err != nil {
		if te := asTamper(err); te != nil {
			rep.problem(te)
		} else {
			return nil, 0, err
		}
	}
	if haveState {
		if stateSize < rep.CheckpointSize {
			rep.problem(tamper(treeStatePath, NoIndex, "the writer's tree state has %d entries, fewer than the %d a signed checkpoint commits to: the log was rolled back", stateSize, rep.CheckpointSize))
		} else {
			size = stateSize
			rep.Unsealed = stateSize - rep.CheckpointSize
			roots[stateSize] = append(roots[stateSize], checkedRoot{file: treeStatePath, hash: stateRoot, unsigned: true})
		}
	}
	for s := range roots {
		size = max(size, s)
	}
	return roots, size, nil
}

// cosignedRoots adds to roots the root of each checkpoint kept with its
// witnesses' cosignatures (CosignaturesDir): each must be the log's
// checkpoint of the size it is kept under, signed by its key of the time
// (after a key.rotated event, the new key: see checkSignatures), and its root
// the tree's at that size. (The witnesses' own signatures need their keys:
// a verifier with the witness policy checks them.)
func cosignedRoots(fsys fs.FS, v note.Verifier, rep *LogReport, from *walkState, roots map[uint64][]checkedRoot) error {
	ents, err := fs.ReadDir(fsys, CosignaturesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		file := CosignaturesDir + "/" + e.Name()
		s, err := strconv.ParseUint(e.Name(), 10, 64)
		switch {
		case isTempName(e.Name()):
			continue
		case err != nil || strconv.FormatUint(s, 10) != e.Name():
			rep.problem(tamper(file, NoIndex, "unexpected file among the cosigned checkpoints"))
			continue
		case from != nil && s < from.size:
			continue
		}
		raw, err := fs.ReadFile(fsys, file)
		if err != nil {
			return err
		}
		// Its signature is checked with the key of its time, as the
		// kept checkpoints' are (checkSignatures).
		cp, err := parseUnverified(raw, v.Name())
		if err != nil {
			rep.problem(asTamper(withFile(err, file)))
			continue
		}
		if cp.Size != s {
			rep.problem(tamper(file, NoIndex, "kept under size %d but signs size %d", s, cp.Size))
			roots[s] = append(roots[s], checkedRoot{file: file, raw: raw, sigOnly: true})
			continue
		}
		roots[s] = append(roots[s], checkedRoot{file: file, hash: cp.Hash, raw: raw})
	}
	return nil
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
	raw      []byte // the signed note; nil for the unsigned tree state
	unsigned bool
	sigOnly  bool // a checkpoint of another size: only its signature is checked
}

// treeWalk streams the entries once, in order, rebuilding the tree.
type treeWalk struct {
	fsys  fs.FS
	rep   *LogReport
	roots map[uint64][]checkedRoot
	f     *compact.RangeFactory
	rng   *compact.Range
	tiles [][][]byte // per tile level, the node hashes of the current tile
	heads map[string]head
	// shifts records, per order, a displacement already reported.
	shifts map[string]int64
	keys   keyHistory // the keys log.opened and key.rotated name
	links  bool       // follow the order chains (a walk from the first entry)
	mark   *walkState // the walk's state at the last bundle boundary
}

// walkState is a tree walk's state at a bundle boundary: the compact
// range of the first size entries and, per tile level from 1, the hashes
// of that level's rightmost tile gathered so far. A walk resumed from it
// compares every tile it completes with hashes it computed, never with
// hashes read from the tiles it checks.
type walkState struct {
	size  uint64 // a multiple of layout.EntryBundleWidth
	rng   [][]byte
	tiles [][][]byte
}

// check reports whether st is a state a walk can be at: a bundle
// boundary, a compact range of that size, and at each tile level as many
// hashes as that level's rightmost tile has complete nodes there.
func (st *walkState) check() error {
	if st.size%layout.EntryBundleWidth != 0 {
		return fmt.Errorf("size %d is not a bundle boundary", st.size)
	}
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	if _, err := f.NewRange(0, st.size, st.rng); err != nil {
		return err
	}
	for level := 1; level < len(st.tiles); level++ {
		if want := (st.size >> (layout.TileHeight * level)) % layout.TileWidth; uint64(len(st.tiles[level])) != want {
			return fmt.Errorf("tile level %d holds %d hashes, not %d", level, len(st.tiles[level]), want)
		}
	}
	return nil
}

func newTreeWalk(fsys fs.FS, rep *LogReport, roots map[uint64][]checkedRoot, from *walkState) (*treeWalk, error) {
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	w := &treeWalk{fsys: fsys, rep: rep, roots: roots, f: f, rng: f.NewEmptyRange(0), heads: map[string]head{}, shifts: map[string]int64{}, links: from == nil}
	if from == nil {
		return w, nil
	}
	if err := from.check(); err != nil {
		return nil, fmt.Errorf("resume the tree walk at %d: %w", from.size, err)
	}
	rng, err := f.NewRange(0, from.size, cloneHashes(from.rng))
	if err != nil {
		return nil, fmt.Errorf("resume the tree walk at %d: %w", from.size, err)
	}
	w.rng = rng
	for _, t := range from.tiles {
		w.tiles = append(w.tiles, cloneHashes(t))
	}
	return w, nil
}

// state copies the walk's state; the walk must be at a bundle boundary.
func (w *treeWalk) state() *walkState {
	st := &walkState{size: w.rng.End(), rng: cloneHashes(w.rng.Hashes())}
	for _, t := range w.tiles {
		st.tiles = append(st.tiles, cloneHashes(t))
	}
	return st
}

func cloneHashes(hs [][]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = slices.Clone(h)
	}
	return out
}

// parsedBundle is one entry bundle read, hashed, parsed and compared with
// its level-0 hash tile. Workers make them in parallel; the walk consumes
// them in order.
type parsedBundle struct {
	index  uint64
	file   string
	leaves [][]byte
	events []*Event
	hashes []string // EventHash of each entry
	root   []byte   // root of the bundle's 256 leaves, for a full bundle
	bad    []*TamperError
	tileOK bool         // the level-0 tile was compared
	fatal  *TamperError // the bundle is missing, malformed or short
	err    error        // an I/O failure
}

func (w *treeWalk) run(ctx context.Context, size uint64) error {
	if size == 0 {
		w.checkRoots(0)
		w.mark = w.state()
		return nil
	}
	start := w.rng.End()
	if start > 0 {
		w.checkRoots(start) // the resumed range against what was signed there
	}
	boundary := size - size%layout.EntryBundleWidth
	b0 := start / layout.EntryBundleWidth
	nb := (size + layout.EntryBundleWidth - 1) / layout.EntryBundleWidth
	workers := runtime.GOMAXPROCS(0)
	results := make([]chan *parsedBundle, nb-b0)
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
		for b := b0; b < nb; b++ {
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
				results[b-b0] <- readBundle(ctx, w.fsys, b, size)
			}
		}()
	}
	for b := b0; b < nb; b++ {
		var pb *parsedBundle
		select {
		case pb = <-results[b-b0]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-window
		if pb.err != nil {
			return pb.err
		}
		if b*layout.EntryBundleWidth == boundary {
			w.mark = w.state()
		}
		if err := w.consume(pb); err != nil {
			return err
		}
		if pb.fatal != nil {
			// The entries before the damage have been checked; without
			// the rest no root beyond this point can be computed.
			w.rep.problem(pb.fatal)
			return nil
		}
	}
	if size == boundary {
		w.mark = w.state()
	}
	w.finishTiles(size)
	return nil
}

// readBundle does all the per-entry work of a bundle: hashing, parsing and
// the comparison with the level-0 tile, and for a full bundle the root of
// its subtree, so the in-order walk only links and merges.
func readBundle(ctx context.Context, fsys fs.FS, b, size uint64) *parsedBundle {
	p := layout.PartialTileSize(0, b, size)
	pb := &parsedBundle{index: b}
	first := int64(b * layout.EntryBundleWidth)
	entries, file, fatal, err := loadBundle(fsys, b, size)
	pb.file, pb.fatal, pb.err = file, fatal, err
	if err != nil {
		return pb
	}
	pb.leaves = make([][]byte, len(entries))
	pb.events = make([]*Event, len(entries))
	pb.hashes = make([]string, len(entries))
	leafHashes := make([]byte, 32*len(entries))
	var scratch []byte
	for i, enc := range entries {
		scratch = append(append(scratch[:0], rfc6962.RFC6962LeafHashPrefix), enc...)
		h := sha256.Sum256(scratch)
		pb.leaves[i] = leafHashes[32*i : 32*i+32 : 32*i+32]
		copy(pb.leaves[i], h[:])
		ev, err := parseEvent(enc, &scratch)
		if err != nil {
			pb.bad = append(pb.bad, tamper(pb.file, first+int64(i), "not a canonical custody event: %v", err))
			continue
		}
		pb.events[i] = ev
		if ev.Order != "" {
			pb.hashes[i] = EventHash(enc)
		}
	}
	if len(pb.leaves) > 0 {
		if prob, ok := checkTile(fsys, 0, b, pb.leaves, p); prob != nil {
			pb.bad = append(pb.bad, prob)
		} else {
			pb.tileOK = ok
		}
	}
	if len(pb.leaves) == layout.EntryBundleWidth && pb.fatal == nil {
		pb.root = subtreeRoot(pb.leaves)
	}
	return pb
}

// subtreeRoot is the RFC 6962 root of a perfect subtree of leaves, which
// it leaves untouched.
func subtreeRoot(leaves [][]byte) []byte {
	level := make([][32]byte, len(leaves)/2)
	var buf [1 + 2*32]byte
	buf[0] = rfc6962.RFC6962NodeHashPrefix
	for i := range level {
		copy(buf[1:], leaves[2*i])
		copy(buf[33:], leaves[2*i+1])
		level[i] = sha256.Sum256(buf[:])
	}
	for len(level) > 1 {
		for i := range len(level) / 2 {
			copy(buf[1:], level[2*i][:])
			copy(buf[33:], level[2*i+1][:])
			level[i] = sha256.Sum256(buf[:])
		}
		level = level[:len(level)/2]
	}
	return level[0][:]
}

func (w *treeWalk) consume(pb *parsedBundle) error {
	for _, p := range pb.bad {
		w.rep.problem(p)
	}
	if pb.tileOK {
		w.rep.TilesVerified++
	}
	first := pb.index * layout.EntryBundleWidth
	for i, ev := range pb.events {
		if ev != nil && w.links {
			w.checkLink(first+uint64(i), pb.file, ev, pb.hashes[i])
		}
		if ev != nil && (ev.Type == LogOpened || ev.Type == KeyRotated) {
			w.keys.add(w.rep, first+uint64(i), pb.file, ev)
		}
	}
	w.rep.Entries += uint64(len(pb.leaves))
	if pb.root == nil {
		// A partial or damaged bundle: merge leaf by leaf.
		for i, leaf := range pb.leaves {
			if err := w.rng.Append(leaf, w.visit); err != nil {
				return err
			}
			w.checkRoots(first + uint64(i) + 1)
		}
		return nil
	}
	// Roots signed at sizes inside this bundle need its leaves.
	for i := range pb.leaves[:len(pb.leaves)-1] {
		if _, ok := w.roots[first+uint64(i)+1]; ok {
			tmp, err := w.f.NewRange(0, w.rng.End(), append([][]byte(nil), w.rng.Hashes()...))
			if err != nil {
				return err
			}
			for _, leaf := range pb.leaves[:i+1] {
				if err := tmp.Append(leaf, nil); err != nil {
					return err
				}
			}
			w.checkRootsOf(first+uint64(i)+1, tmp)
		}
	}
	one, err := w.f.NewRange(first, first+layout.EntryBundleWidth, [][]byte{pb.root})
	if err != nil {
		return err
	}
	w.visit(compact.NewNodeID(layout.TileHeight, pb.index), pb.root)
	if err := w.rng.AppendRange(one, w.visit); err != nil {
		return err
	}
	w.checkRoots(first + layout.EntryBundleWidth)
	return nil
}

func (w *treeWalk) checkLink(idx uint64, file string, ev *Event, hash string) {
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
	w.heads[ev.Order] = head{hash: hash, index: idx}
}

func (w *treeWalk) checkRoots(size uint64) {
	if _, ok := w.roots[size]; ok {
		w.checkRootsOf(size, w.rng)
	}
}

// checkRootsOf compares the root of rng, a range [0, size), with every
// root signed or recorded for that size.
func (w *treeWalk) checkRootsOf(size uint64, rng *compact.Range) {
	var root []byte
	if size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	} else {
		var err error
		if root, err = rng.GetRootHash(nil); err != nil {
			w.rep.problem(tamper("", NoIndex, "cannot compute the root at size %d: %v", size, err))
			return
		}
	}
	for _, r := range w.roots[size] {
		if r.sigOnly {
			continue
		}
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
	if id.Level == 0 || id.Level%layout.TileHeight != 0 {
		return // level-0 tiles are compared by the bundle readers
	}
	lvl := int(id.Level / layout.TileHeight)
	for len(w.tiles) <= lvl {
		w.tiles = append(w.tiles, nil)
	}
	w.tiles[lvl] = append(w.tiles[lvl], hash)
	if len(w.tiles[lvl]) == layout.TileWidth {
		w.tile(uint64(lvl), id.Index/layout.TileWidth, w.tiles[lvl], 0)
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
		w.tile(uint64(lvl), index, nodes, uint8(len(nodes)))
	}
}

func (w *treeWalk) tile(level, index uint64, want [][]byte, p uint8) {
	prob, ok := checkTile(w.fsys, level, index, want, p)
	if prob != nil {
		w.rep.problem(prob)
	}
	if ok {
		w.rep.TilesVerified++
	}
}

// checkTile compares a stored hash tile with the hashes recomputed from the
// entries. ok reports that the tile was read and compared.
func checkTile(fsys fs.FS, level, index uint64, want [][]byte, p uint8) (prob *TamperError, ok bool) {
	raw, file, width, err := readExact(fsys, p, func(p uint8) string { return layout.TilePath(level, index, p) })
	if err != nil {
		return tamper(layout.TilePath(level, index, p), NoIndex, "hash tile is missing or unreadable: %v", err), false
	}
	var t api.HashTile
	if err := t.UnmarshalText(raw); err != nil {
		return tamper(file, NoIndex, "hash tile is malformed: %v", err), false
	}
	if len(t.Nodes) != width || len(t.Nodes) < len(want) {
		return tamper(file, NoIndex, "hash tile holds %d hashes, its name says %d and the log has %d here", len(t.Nodes), width, len(want)), false
	}
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
		return nil, true
	}
	more := ""
	if count > 1 {
		more = fmt.Sprintf(" (and %d more hashes of this tile)", count-1)
	}
	if level == 0 {
		return tamper(file, int64(index*layout.TileWidth)+int64(first), "leaf hash in the tile does not match the entry: the entry or the tile was altered%s", more), true
	}
	return tamper(file, NoIndex, "hash %d of the tile does not match the entries below it%s", first, more), true
}

// readExact reads the partial resource of width p, or, if the log has grown
// past it, the full one. It returns the path read and the number of entries
// or hashes that file must hold exactly.
func readExact(fsys fs.FS, p uint8, path func(uint8) string) ([]byte, string, int, error) {
	raw, err := fs.ReadFile(fsys, path(p))
	if err == nil || p == 0 || !errors.Is(err, fs.ErrNotExist) {
		return raw, path(p), cmp.Or(int(p), layout.TileWidth), err
	}
	raw, err = fs.ReadFile(fsys, path(0))
	return raw, path(0), layout.TileWidth, err
}

// loadBundle reads the entry bundle b of a log of size entries and returns
// the entries the log has in it. A missing, malformed or short bundle, or
// one holding other than what its name says, gives a *TamperError with the
// entries that could be read before the damage.
func loadBundle(fsys fs.FS, b, size uint64) (entries [][]byte, file string, fatal *TamperError, err error) {
	p := layout.PartialTileSize(0, b, size)
	first := int64(b * layout.EntryBundleWidth)
	raw, file, width, err := readExact(fsys, p, func(p uint8) string { return layout.EntriesPath(b, p) })
	if errors.Is(err, fs.ErrNotExist) {
		return nil, layout.EntriesPath(b, p), tamper(layout.EntriesPath(b, p), first, "entry bundle is missing: the log was truncated"), nil
	}
	if err != nil {
		return nil, file, nil, err
	}
	var bundle api.EntryBundle
	if err := bundle.UnmarshalText(raw); err != nil {
		return nil, file, tamper(file, first, "entry bundle is malformed: %v", err), nil
	}
	want := min(size-b*layout.EntryBundleWidth, layout.EntryBundleWidth)
	entries = bundle.Entries
	switch {
	case uint64(len(entries)) < want:
		return entries, file, tamper(file, first+int64(len(entries)), "entry bundle holds %d entries where the log has %d: the log was truncated", len(entries), want), nil
	case len(entries) != width:
		return entries[:want], file, tamper(file, first+int64(want), "entry bundle holds %d entries, its name says %d", len(entries), width), nil
	}
	return entries[:want], file, nil, nil
}

package chain

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Defaults of Config.
const (
	DefaultCheckpointInterval = 2 * time.Second
	DefaultBatchMaxSize       = 256
	DefaultBatchMaxAge        = 10 * time.Millisecond
	// MinCheckpointInterval is the shortest interval the POSIX driver allows.
	MinCheckpointInterval = 100 * time.Millisecond
)

// Paths inside a log directory, beside the tlog-tiles files.
const (
	CheckpointPath  = layout.CheckpointPath // the newest published checkpoint
	CheckpointsDir  = "checkpoints"         // every published checkpoint, by tree size
	treeStatePath   = ".state/treeState"    // the POSIX driver's integrated tree state
	checkpointsPerm = 0o755
)

// Config configures a Log.
type Config struct {
	// Dir is the log directory, <data-dir>/log.
	Dir string
	// Origin names the log in its checkpoints (the agent id).
	Origin string
	// Signer signs checkpoints: an Ed25519 or ECDSA P-256 sigstore signer.
	Signer Signer
	// Next is the new key of a rotation left unfinished (see Rotate and
	// ErrRotationUnfinished), Signer being its old key: Open then signs
	// the first checkpoint after the key.rotated event with both, and the
	// log signs with Next. Nil: Open refuses such a log. It is not used
	// when no rotation is unfinished.
	Next Signer
	// CheckpointInterval is how often a new checkpoint is published while the
	// log grows. Zero means DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// BatchMaxSize and BatchMaxAge bound how many concurrent appends share one
	// durable write, and how long the first of them waits for company.
	BatchMaxSize uint
	BatchMaxAge  time.Duration
	// Agent, Actor and Host are recorded in the log.opened event that
	// starts every new log. Agent defaults to Origin, Actor to Agent.
	Agent, Actor, Host string
	// Now is the clock of the log.opened event; nil means time.Now.
	Now func() time.Time
	// Witnesses, when set, cosign every checkpoint before it is
	// published (see WitnessConfig); nil means none.
	Witnesses *WitnessConfig
	// Logger reports, at WARN, checkpoints published without their
	// witness quorum and timed checkpoints not published; nil discards.
	Logger *slog.Logger
}

// Log is the custody log of one deployment: an append-only RFC 6962 Merkle
// tree in the C2SP tlog-tiles layout, written by transparency-dev/tessera's
// POSIX driver, with signed checkpoints. One process at a time may open it.
type Log struct {
	cfg      Config
	key      *Key
	verifier note.Verifier
	signer   *archivingSigner // signs and keeps checkpoints
	// newCP signs a checkpoint, keeps it (signer) and has the witnesses
	// cosign it: tessera's own publisher, the one its timer uses.
	newCP    func(ctx context.Context, size uint64, root []byte) ([]byte, error)
	logger   *slog.Logger
	pubMu    sync.Mutex // one Publish at a time
	failure  *failState // set once a verification finds tampering
	verifyMu sync.Mutex // one Verify at a time
	verified atomic.Pointer[verifiedState]
	fsys     fs.FS
	appender *tessera.Appender
	client   *http.Client // sends checkpoints to the witnesses
	shutdown func(context.Context) error
	reader   tessera.LogReader
	cancel   context.CancelFunc
	// stopLoop stops publishLoop and waits for it; nil without witnesses.
	stopLoop func()

	mu          sync.Mutex
	headsLoaded bool
	heads       map[string]head
	orderLocks  map[string]*sync.Mutex
}

type head struct {
	hash  string
	index uint64
}

// Record is one entry of the log.
type Record struct {
	Index   uint64
	Event   *Event
	Encoded []byte
}

// Open opens, or creates, the log in cfg.Dir. Before it writes, it checks
// what it is about to extend (see checkExisting): the checkpoint must be
// signed by cfg.Signer for cfg.Origin, and the tree on disk, as the hash
// tiles give it, must extend the newest signed checkpoint; otherwise it
// refuses with a *TamperError. It then verifies what no earlier
// verification covered (see Log.Verify: the entries appended since, and
// that no file verified before has changed), and refuses a log that does
// not verify with a *LogFailedError, and a key the log was rotated away
// from (see Rotate) with ErrRetiredKey, and a rotation left unfinished
// with ErrRotationUnfinished unless Config.Next is its new key, in which
// case it finishes it before anything else is written. Leftovers of
// writes a full disk or a crash cut short are removed first (see
// sweepTemp). A new log starts
// with a log.opened event; entries found beyond the newest checkpoint are
// adopted with log.recovered.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Dir == "" {
		return nil, errors.New("open log: no directory")
	}
	if cfg.Signer == nil {
		return nil, errors.New("open log: no signer")
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.CheckpointInterval < MinCheckpointInterval {
		return nil, fmt.Errorf("open log: checkpoint interval %v is shorter than %v", cfg.CheckpointInterval, MinCheckpointInterval)
	}
	if cfg.BatchMaxSize == 0 {
		cfg.BatchMaxSize = DefaultBatchMaxSize
	}
	if cfg.BatchMaxAge == 0 {
		cfg.BatchMaxAge = DefaultBatchMaxAge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ns, key, err := NewNoteSigner(cfg.Origin, cfg.Signer)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	v, err := key.NoteVerifier()
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	dirs := []string{CheckpointsDir}
	if cfg.Witnesses != nil && cfg.Witnesses.Policy != nil {
		dirs = append(dirs, CosignaturesDir)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), checkpointsPerm); err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
	}
	var nextNS note.Signer
	var nextKey *Key
	if cfg.Next != nil {
		if nextNS, nextKey, err = NewNoteSigner(cfg.Origin, cfg.Next); err != nil {
			return nil, fmt.Errorf("open log: new key: %w", err)
		}
	}
	fsys := os.DirFS(cfg.Dir)
	failClosed := cfg.Witnesses != nil && cfg.Witnesses.Policy != nil && !cfg.Witnesses.FailOpen
	sealed, size, verified, pending, err := checkBeforeWriting(ctx, cfg.Dir, fsys, v, failClosed, nextKey)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", cfg.Dir, err)
	}
	var client *http.Client
	if cfg.Witnesses != nil {
		client = cfg.Witnesses.HTTPClient
	}
	driver, err := posix.New(ctx, posix.Config{Path: cfg.Dir, HTTPClient: client})
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if client == nil {
		client = http.DefaultClient
	}
	failure := &failState{}
	// An unfinished rotation holds the signer from the start: the old
	// key never signs alone past the key.rotated event.
	signer := &archivingSigner{signer: ns, dir: filepath.Join(cfg.Dir, CheckpointsDir), failure: failure, held: pending != nil}
	witnessed := cfg.Witnesses != nil && cfg.Witnesses.Policy != nil
	interval := cfg.CheckpointInterval
	if witnessed {
		// Publish alone publishes (publishLoop): see there.
		interval = timerOff
	}
	opts, err := withWitnesses(tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(cfg.BatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(interval).
		WithCheckpointRepublishInterval(0), cfg.Witnesses)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	// The appender's background work must outlive ctx until Close has
	// published the final checkpoint, so it gets a context of its own.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a, shutdown, reader, err := tessera.NewAppender(bg, driver, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open log %s: %w", cfg.Dir, err)
	}
	l := &Log{
		cfg: cfg, key: key, verifier: v, signer: signer, failure: failure, fsys: fsys,
		appender: a, shutdown: shutdown, reader: reader, cancel: cancel, client: client,
		newCP: opts.CheckpointPublisher(reader, client), logger: cfg.Logger,
		heads: map[string]head{}, orderLocks: map[string]*sync.Mutex{},
	}
	// Before each new checkpoint is signed, the published one's
	// cosignatures are kept, whoever published it.
	signer.beforeSign = l.keepPublished
	if witnessed {
		lctx, stop := context.WithCancel(bg)
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.publishLoop(lctx, cfg.CheckpointInterval)
		}()
		l.stopLoop = func() { stop(); <-done }
	}
	l.verified.Store(verified)
	if pending != nil {
		// The key.rotated entry is sealed by the checkpoint both keys
		// sign, as Rotate would have sealed it.
		l.pubMu.Lock()
		cp, err := l.finishRotation(ctx, ns, nextNS, nextKey)
		l.pubMu.Unlock()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("open log %s: finish the key rotation of entry %d: %w", cfg.Dir, pending.Index, err), l.Close(ctx))
		}
		sealed = cp.Size
		l.logger.Info("key rotation finished", "entry", pending.Index, "checkpoint", cp.Size, "key_id", nextKey.KeyID())
	}
	if err := l.appendStart(ctx, sealed, size); err != nil {
		return nil, errors.Join(fmt.Errorf("open log %s: %w", cfg.Dir, err), l.Close(ctx))
	}
	return l, nil
}

// appendStart records how the log was opened: log.opened on an empty
// log, naming the origin and the key that signs its checkpoints; and
// log.recovered when entries beyond the newest signed checkpoint were found
// (a writer stopped uncleanly, or someone added them by hand), so the next
// checkpoint seals them with a record of which entries no checkpoint vouched
// for when this writer adopted them.
func (l *Log) appendStart(ctx context.Context, sealed, size uint64) error {
	agent := cmp.Or(l.cfg.Agent, l.cfg.Origin)
	now := time.Now
	if l.cfg.Now != nil {
		now = l.cfg.Now
	}
	e := Event{Time: now(), Actor: cmp.Or(l.cfg.Actor, agent), Agent: agent, Host: l.cfg.Host}
	switch {
	case size == 0:
		e.Type = LogOpened
		e.Details = map[string]string{
			"origin": l.key.Name, "key_id": l.key.KeyID(), "key_type": l.key.Type, "verifier": l.key.Verifier,
		}
	case size > sealed:
		e.Type = LogRecovered
		e.Reason = "entries beyond the newest signed checkpoint found on opening the log"
		e.Details = map[string]string{
			"sealed_size":    strconv.FormatUint(sealed, 10),
			"first_unsealed": strconv.FormatUint(sealed, 10),
			"last_unsealed":  strconv.FormatUint(size-1, 10),
		}
	default:
		return nil
	}
	_, err := l.Append(ctx, e)
	return err
}

// checkBeforeWriting does what Open does before the writer starts: it
// removes the leftovers of cut-short writes, checks what the writer is
// about to extend (checkExisting), verifies what no verification covered
// yet (verifyOnOpen), and only then publishes a kept checkpoint that a
// crash left unpublished (or, failClosed, removes it: no witness cosigned
// it). It returns the size the newest published or kept checkpoint
// seals, the log's size, what is verified, and the key.rotated entry of
// a rotation left unfinished (none unless next is its new key: see
// unfinishedRotation).
func checkBeforeWriting(ctx context.Context, dir string, fsys fs.FS, v note.Verifier, failClosed bool, next *Key) (sealed, size uint64, verified *verifiedState, pending *Record, err error) {
	if err := sweepTemp(dir); err != nil {
		return 0, 0, nil, nil, err
	}
	sealed, size, publish, err := checkExisting(ctx, fsys, v)
	if err != nil {
		return 0, 0, nil, nil, err
	}
	from, published := sealed, uint64(0) // published: the published checkpoint's size, if publish goes
	if publish != nil && failClosed {
		raw, err := fs.ReadFile(fsys, CheckpointPath)
		if err != nil {
			return 0, 0, nil, nil, err
		}
		cp, err := ParseCheckpoint(raw, v)
		if err != nil {
			return 0, 0, nil, nil, withFile(err, CheckpointPath)
		}
		published, from = cp.Size, cp.Size
	}
	// Found before anything is written: without its new key, an
	// unfinished rotation is refused and nothing changes.
	if pending, err = pendingRotation(ctx, fsys, from, size); err != nil {
		return 0, 0, nil, nil, err
	}
	if pending != nil {
		if err := unfinishedRotation(pending, next); err != nil {
			return 0, 0, nil, nil, err
		}
	}
	if size > 0 {
		if verified, err = verifyOnOpen(ctx, dir, fsys, v, pending); err != nil {
			return 0, 0, nil, nil, err
		}
	}
	switch {
	case publish != nil && failClosed:
		// Signed just before a crash stopped its witnessing: it goes,
		// and the entries it sealed are adopted with log.recovered.
		if err := removeKept(filepath.Join(dir, CheckpointsDir), sealed); err != nil {
			return 0, 0, nil, nil, err
		}
		sealed = published
	case publish != nil:
		// Signed just before a crash stopped its publication: publish it,
		// so at most one kept checkpoint is ever newer than the published.
		if err := replaceFile(filepath.Join(dir, CheckpointPath), publish); err != nil {
			return 0, 0, nil, nil, err
		}
	}
	return sealed, size, verified, pending, nil
}

// checkExisting refuses to append to a log this key did not sign, to a log
// whose tree on disk does not extend the newest checkpoint it signed (sealed
// entries rewritten), to a log shorter than a signed checkpoint, to a log
// with entries but no checkpoint, and to a log whose newest entries are
// gone. It reads the head of the log and O(log n) tiles; verifyOnOpen
// and VerifyLog check the rest. It returns the size the newest signed
// checkpoint seals, the log's size, and a kept checkpoint that a crash
// left unpublished, to publish.
func checkExisting(ctx context.Context, fsys fs.FS, v note.Verifier) (sealed, size uint64, publish []byte, err error) {
	stateSize, stateRoot, haveState, err := IntegratedSize(fsys)
	if err != nil {
		return 0, 0, nil, err
	}
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		return 0, 0, nil, err
	}
	raw, err := fs.ReadFile(fsys, CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		// A new log, or one stopped between creating its state and
		// publishing its first, empty, checkpoint. Anything more is a log
		// whose checkpoints were removed: never sign what none vouches for.
		_, entriesErr := fs.Stat(fsys, "tile/entries")
		if stateSize > 0 || len(sizes) > 0 || entriesErr == nil {
			return 0, 0, nil, tamper(CheckpointPath, NoIndex, "the log holds entries or kept checkpoints but no published checkpoint: refusing to sign entries no checkpoint vouches for")
		}
		return 0, 0, nil, nil
	}
	if err != nil {
		return 0, 0, nil, err
	}
	cp, err := ParseCheckpoint(raw, v)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("existing log is not this key's log for origin %q: %w", v.Name(), withFile(err, CheckpointPath))
	}
	if !haveState {
		return 0, 0, nil, tamper(treeStatePath, NoIndex, "the writer's tree state is missing beside a checkpoint of %d entries", cp.Size)
	}
	if stateSize < cp.Size {
		return 0, 0, nil, tamper(treeStatePath, NoIndex, "the log holds %d entries but its checkpoint commits to %d: the log was rolled back", stateSize, cp.Size)
	}
	newest := cp
	if n := len(sizes); n > 0 && sizes[n-1] > cp.Size {
		if sizes[n-1] > stateSize {
			return 0, 0, nil, tamper(CheckpointsDir+"/"+strconv.FormatUint(sizes[n-1], 10), NoIndex, "a checkpoint of %d entries was signed but the log holds only %d: the log was rolled back", sizes[n-1], stateSize)
		}
		if newest, err = readKept(fsys, v, sizes[n-1]); err != nil {
			return 0, 0, nil, err
		}
	}
	for _, c := range []*Checkpoint{cp, newest} {
		if err := checkExtends(ctx, fsys, c, stateSize, stateRoot); err != nil {
			return 0, 0, nil, err
		}
	}
	// The driver continues the tree from the hash tiles, not from the
	// entries or the tree state: the tiles must give the root just checked
	// against the signed checkpoints, or the next checkpoint would sign
	// whatever history they were rewritten to.
	if root, err := tilesRoot(ctx, fsys, stateSize); err != nil || !bytes.Equal(root, stateRoot) {
		return 0, 0, nil, tamper("tile", NoIndex, "the hash tiles do not give the root of the signed tree of %d entries: the tiles were rewritten (%v)", stateSize, err)
	}
	if stateSize > 0 {
		if err := checkTail(ctx, fsys, stateSize); err != nil {
			return 0, 0, nil, err
		}
	}
	if newest != cp {
		publish = newest.Raw
	}
	return newest.Size, stateSize, publish, nil
}

// readKept reads and verifies checkpoints/<size>.
func readKept(fsys fs.FS, v note.Verifier, size uint64) (*Checkpoint, error) {
	cp, err := readKeptUnverified(fsys, v.Name(), size)
	if cp == nil {
		return nil, err
	}
	if _, serr := ParseCheckpoint(cp.Raw, v); serr != nil {
		return nil, withFile(serr, CheckpointsDir+"/"+strconv.FormatUint(size, 10))
	}
	if err != nil {
		return nil, err
	}
	return cp, nil
}

// checkExtends proves, from the hash tiles, that the tree of size entries
// with the given root extends the signed tree of cp.
func checkExtends(ctx context.Context, fsys fs.FS, cp *Checkpoint, size uint64, root []byte) error {
	if cp.Size == size {
		if !bytes.Equal(cp.Hash, root) {
			return tamper(treeStatePath, NoIndex, "the tree on disk is not the tree of %d entries the checkpoint signs: entries were rewritten", size)
		}
		return nil
	}
	if cp.Size == 0 {
		return nil
	}
	hashes, err := BuildConsistencyProof(ctx, fsys, cp.Size, size)
	if err != nil {
		return tamper("tile", NoIndex, "cannot prove from the hash tiles that the log extends its checkpoint of %d entries: %v", cp.Size, err)
	}
	if err := VerifyConsistency(cp, &Checkpoint{Size: size, Hash: root}, hashes); err != nil {
		return tamper(treeStatePath, NoIndex, "the tree on disk does not extend the signed checkpoint of %d entries: entries were rewritten", cp.Size)
	}
	return nil
}

// tilesRoot computes the root of the tree of size entries from the nodes
// of its compact range, read out of the hash tiles as the driver reads them
// when it next integrates.
func tilesRoot(ctx context.Context, fsys fs.FS, size uint64) ([]byte, error) {
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	hashes, err := client.FetchRangeNodes(ctx, size, TileFetcher(fsys))
	if err != nil {
		return nil, err
	}
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng, err := f.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}

// checkTail reads the entry bundle that holds the last of size entries.
// The driver carries a partial tail bundle forward into the next one, so
// its entries must be canonical and match their leaf hashes in the tile.
func checkTail(ctx context.Context, fsys fs.FS, size uint64) error {
	pb := readBundle(ctx, fsys, (size-1)/layout.EntryBundleWidth, size)
	switch {
	case pb.err != nil:
		return pb.err
	case pb.fatal != nil:
		return pb.fatal
	case len(pb.bad) > 0:
		return pb.bad[0]
	}
	return nil
}

// Key returns the checkpoint signing key's public forms.
func (l *Log) Key() *Key { return l.key }

// Verifier returns the note verifier of the log's key.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// FS returns the log directory as a read-only file system.
func (l *Log) FS() fs.FS { return l.fsys }

// Append adds e to the log and returns its record once the entry is durable
// (written and synced, and integrated into the tree). The log fills in the
// version, and for an event of an order the link to that order's previous
// event; appends to one order are serialised so the links follow log order.
func (l *Log) Append(ctx context.Context, e Event) (*Record, error) {
	if err := l.Failed(); err != nil {
		return nil, fmt.Errorf("append %s event: %w", e.Type, err)
	}
	if e.Version == 0 {
		e.Version = EventVersion
	}
	if e.Prev != "" || e.PrevIndex != nil {
		return nil, errors.New("append: prev and prev_index are set by the log, not the caller")
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	if e.Order != "" {
		unlock, err := l.lockOrder(ctx, e.Order)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if h, ok := l.head(e.Order); ok {
			idx := h.index
			e.Prev, e.PrevIndex = h.hash, &idx
		}
	}
	enc, err := FormatEvent(&e)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	idx, err := l.appender.Add(ctx, tessera.NewEntry(enc))()
	if err != nil {
		return nil, fmt.Errorf("append %s event: %w", e.Type, err)
	}
	if e.Order != "" {
		l.setHead(e.Order, head{hash: EventHash(enc), index: idx.Index})
	}
	return &Record{Index: idx.Index, Event: &e, Encoded: enc}, nil
}

func (l *Log) head(order string) (head, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.heads[order]
	return h, ok
}

func (l *Log) setHead(order string, h head) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heads[order] = h
}

// lockOrder serialises appends to one order, loading every order's newest
// event from the log the first time it is needed.
func (l *Log) lockOrder(ctx context.Context, order string) (func(), error) {
	l.mu.Lock()
	if !l.headsLoaded {
		if err := l.loadHeads(ctx); err != nil {
			l.mu.Unlock()
			return nil, err
		}
		l.headsLoaded = true
	}
	m, ok := l.orderLocks[order]
	if !ok {
		m = &sync.Mutex{}
		l.orderLocks[order] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock, nil
}

func (l *Log) loadHeads(ctx context.Context) error {
	size, err := l.reader.IntegratedSize(ctx)
	if err != nil {
		return fmt.Errorf("read log size: %w", err)
	}
	for r, err := range Entries(ctx, l.fsys, 0, size) {
		if err != nil {
			return fmt.Errorf("load order links: %w", err)
		}
		if r.Event.Order != "" {
			l.heads[r.Event.Order] = head{hash: EventHash(r.Encoded), index: r.Index}
		}
	}
	return nil
}

// Size returns the number of durable entries, sealed by a checkpoint or not.
func (l *Log) Size(ctx context.Context) (uint64, error) {
	return l.reader.IntegratedSize(ctx)
}

// Checkpoint returns a published checkpoint covering every durable entry,
// publishing one now if the newest does not (see Publish).
func (l *Log) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	return l.Publish(ctx)
}

// Publish publishes a checkpoint covering every durable entry, unless the
// published one already covers them, and returns the published
// checkpoint. The log publishes on its own at most once per
// CheckpointInterval while it grows; a command that ends, or a caller that
// needs a proof now, need not wait for that: Publish signs the tree the
// writer has integrated, keeps the checkpoint under checkpoints/<size> and
// replaces the published one, as the log's own publication does (the same
// signed note, byte for byte). With witnesses (Config.Witnesses) every
// checkpoint is published here, the timed ones too (publishLoop), through
// tessera's own publisher: it signs, then sends the checkpoint to the
// witnesses, and the published note carries their cosignatures, kept
// under cosignatures/<size>. Fail-closed, a quorum not met publishes
// nothing, drops the checkpoint just signed, and returns an error wrapping
// ErrWitnessQuorum that names the witnesses and the quorum.
func (l *Log) Publish(ctx context.Context) (*Checkpoint, error) {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	if err := l.Failed(); err != nil {
		return nil, fmt.Errorf("publish checkpoint: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if l.signer.holding() {
		return nil, fmt.Errorf("publish checkpoint: %w: the checkpoint signed by both keys was not published; open the log again with the new key to finish it", ErrRotationUnfinished)
	}
	size, root, ok, err := IntegratedSize(l.fsys)
	if err != nil {
		return nil, fmt.Errorf("read log size: %w", err)
	}
	if !ok {
		return nil, errors.New("publish checkpoint: the log has no tree state")
	}
	raw, err := l.reader.ReadCheckpoint(ctx)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if err == nil {
		cp, err := ParseCheckpoint(raw, l.verifier)
		if err != nil {
			return nil, withFile(err, CheckpointPath)
		}
		if cp.Size >= size {
			return cp, nil
		}
	}
	signed, err := l.newCP(ctx, size, root)
	if err != nil {
		if w := l.cfg.Witnesses; w != nil && w.Policy != nil && !w.FailOpen && l.signer.signed(size) {
			// Signed and kept, but the witnesses did not cosign it: it
			// is not published, and not kept either, so that failed
			// attempts never leave signed checkpoints newer than the
			// published one (which a verification takes for a rollback).
			return nil, errors.Join(quorumError(size, w.Policy, err), l.signer.drop(size))
		}
		return nil, fmt.Errorf("publish checkpoint of %d entries: %w", size, err)
	}
	if err := replaceFile(filepath.Join(l.cfg.Dir, CheckpointPath), signed); err != nil {
		return nil, fmt.Errorf("publish checkpoint of %d entries: %w", size, err)
	}
	if err := l.keepCosigned(signed); err != nil {
		return nil, fmt.Errorf("publish checkpoint of %d entries: %w", size, err)
	}
	return ParseCheckpoint(signed, l.verifier)
}

// timerOff is tessera's checkpoint interval when Publish alone publishes.
const timerOff = 100 * 365 * 24 * time.Hour

// publishLoop publishes, through Publish, a checkpoint every interval
// while the log grows; it runs while witnesses cosign. tessera's own timer
// is then off, so that one checkpoint at a time goes to the witnesses,
// each one published is kept with its cosignatures at once, and one the
// witnesses did not cosign is dropped before the next is signed (see
// Publish). A failure is logged and tried again at the next interval.
func (l *Log) publishLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.Failed() != nil {
			continue
		}
		if _, err := l.Publish(ctx); err != nil && ctx.Err() == nil {
			l.logger.Warn("checkpoint not published", "err", err)
		}
	}
}

// keepPublished keeps the cosignatures of the published checkpoint.
func (l *Log) keepPublished() error {
	raw, err := fs.ReadFile(l.fsys, CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return l.keepCosigned(raw)
}

// Prove returns an inclusion proof of entry index against the newest
// checkpoint, waiting for one to cover the entry if needed.
func (l *Log) Prove(ctx context.Context, index uint64) (*Proof, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return BuildInclusionProof(ctx, l.fsys, cp.Raw, cp.Size, index)
}

// Close stops accepting appends, publishes a checkpoint covering every
// durable entry, and stops the background work. Call it once. A log that
// failed (see Verify) publishes nothing: Close only stops it.
func (l *Log) Close(ctx context.Context) error {
	defer l.cancel()
	if l.stopLoop != nil {
		l.stopLoop()
	}
	if l.Failed() != nil {
		return nil
	}
	// Published first, so that the driver's shutdown, which waits for a
	// checkpoint covering every entry, finds one at once rather than at
	// its next interval.
	_, err := l.Publish(ctx)
	sctx := ctx
	if errors.Is(err, ErrWitnessQuorum) || errors.Is(err, ErrRotationUnfinished) {
		// No checkpoint covers the last entries, and none will until
		// the witnesses answer: the driver's shutdown, which waits for
		// one, need not wait long.
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, time.Second)
		defer cancel()
	}
	err = errors.Join(err, l.shutdown(sctx))
	if _, cerr := l.Checkpoint(ctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("close log: %w", err)
	}
	return nil
}

// Entries yields the entries [from, size) of the log in directory fsys.
// An entry that is not a canonical event is yielded as a *TamperError.
func Entries(ctx context.Context, fsys fs.FS, from, size uint64) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for b := from / layout.EntryBundleWidth; b*layout.EntryBundleWidth < size; b++ {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			entries, file, fatal, err := loadBundle(fsys, b, size)
			if err != nil {
				yield(nil, err)
				return
			}
			for i, enc := range entries {
				idx := b*layout.EntryBundleWidth + uint64(i)
				if idx < from {
					continue
				}
				ev, err := ParseEvent(enc)
				if err != nil {
					if !yield(nil, tamper(file, int64(idx), "not a custody event: %v", err)) {
						return
					}
					continue
				}
				if !yield(&Record{Index: idx, Event: ev, Encoded: enc}, nil) {
					return
				}
			}
			if fatal != nil {
				yield(nil, fatal)
				return
			}
		}
	}
}

// treeState is the POSIX driver's record of the integrated tree.
type treeState struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// IntegratedSize reads how many entries of the log in fsys are durable, and
// their root hash. A log directory without the writer's state (a copy, a
// mirror) reports ok false.
func IntegratedSize(fsys fs.FS) (size uint64, root []byte, ok bool, err error) {
	raw, err := fs.ReadFile(fsys, treeStatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	var ts treeState
	if err := json.Unmarshal(raw, &ts); err != nil {
		return 0, nil, false, tamper(treeStatePath, NoIndex, "tree state is malformed: %v", err)
	}
	return ts.Size, ts.Root, true, nil
}

// KeptCheckpointSizes lists the sizes under checkpoints/, ascending.
func KeptCheckpointSizes(fsys fs.FS) ([]uint64, error) {
	ents, err := fs.ReadDir(fsys, CheckpointsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var sizes []uint64
	for _, e := range ents {
		n, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != e.Name() {
			if isTempName(e.Name()) {
				continue
			}
			return nil, tamper(CheckpointsDir+"/"+e.Name(), NoIndex, "unexpected file among the kept checkpoints")
		}
		sizes = append(sizes, n)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	return sizes, nil
}

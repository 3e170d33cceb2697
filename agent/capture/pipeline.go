package capture

import (
	"bytes"
	"context" //nolint:gosec // legacy digest, only when an order asks for it
	//nolint:gosec // legacy digest, only when an order asks for it
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// Defaults of a Capturer's pipeline.
const (
	// DefaultWorkers hash and store items at once: enough to keep a store
	// busy whose puts wait on the disk or the network.
	DefaultWorkers = 16
	// DefaultBatchItems and DefaultBatchWait bound a batch: it is sealed
	// when it holds that many items, or that long after its first.
	DefaultBatchItems = 1024
	DefaultBatchWait  = 250 * time.Millisecond
	// bufferChunk is the step in which an item's buffer, and the memory
	// budget it takes, grows.
	bufferChunk = 64 << 10
	// maxBuffered is the largest item buffered whole (unless the part
	// size is smaller): a mailbox's messages, documents, rows. A larger
	// one is staged as it streams. Buffering up to a whole part (16 MiB)
	// made a capture's memory the sources' parts and the buffers' growth,
	// not its items: measured by BenchmarkCapturePeakRSS1GiB, 283 MiB for
	// the 100,000-item mailbox and 83 MiB for one 1 GiB file.
	maxBuffered = 1 << 20
)

// pipeline is one capture's items on their way from the sources to a
// sealed batch. Each source's emit reads an item: one up to maxBuffered
// (or the part size, if smaller) is buffered and handed to the workers, which hash it and put it straight
// under its key (its digest is known before the put); a larger one is
// staged and committed by the source's own goroutine, as it streams. Every
// stored item goes to the sealer, which seals batches (seal.go). Only
// sealing is serial.
type pipeline struct {
	ctx     context.Context
	c       *Capturer
	spec    Spec
	capture string
	small   int64 // the largest item buffered whole

	mu        sync.Mutex
	rep       *Report
	preserved digestSet // claimed or preserved, by SHA-256

	seq    atomic.Int64 // items emitted, numbering them for the report
	down   atomic.Bool  // the store stopped answering: spool from now on
	fatal  atomic.Pointer[error]
	budget *semaphore.Weighted // bytes of buffered items
	jobs   chan *job
	sealer *sealer
	work   sync.WaitGroup
}

// job is one buffered and hashed item for the workers to store.
type job struct {
	src    NamedSource
	item   *source.Item
	conn   map[string]any // the connector's record, once the content was read
	data   *itemBuffer
	res    ItemResult // its name, size and digests
	budget int64
}

// stored is an item in the store (or the spool), waiting for its batch.
type stored struct {
	rec chain.ItemRecord // without its salt, which sealing gives it
	res ItemResult
}

func newPipeline(ctx context.Context, c *Capturer, spec Spec, rep *Report) *pipeline {
	p := &pipeline{
		ctx: ctx, c: c, spec: spec, capture: rep.ID, rep: rep, small: min(c.partSize(), maxBuffered),
		preserved: newDigestSet(len(spec.Preserved)),
		jobs:      make(chan *job, c.workers()),
	}
	for k, v := range spec.Preserved {
		if v {
			p.preserved.add(k)
		}
	}
	// Enough for every source at once to hold a whole small item while it
	// finds out whether its item is larger, so no emit waits for another.
	p.budget = semaphore.NewWeighted(int64(c.concurrency()+1) * (p.small + bufferChunk))
	p.sealer = newSealer(p)
	for range c.workers() {
		p.work.Add(1)
		go p.worker()
	}
	return p
}

// stop sets the error that stops every source, the first one wins.
func (p *pipeline) stop(err error) { p.fatal.CompareAndSwap(nil, &err) }

func (p *pipeline) stopped() error {
	if e := p.fatal.Load(); e != nil {
		return *e
	}
	return nil
}

// emit is a source's Emit: it reads the item and hands it on. It returns
// an error only to stop the source: a context that ended, a log that no
// longer takes batches, a store that does not answer with no spool.
func (p *pipeline) emit(ctx context.Context, src NamedSource, it *source.Item, content io.Reader) error {
	if err := p.stopped(); err != nil {
		return err
	}
	if p.spec.Progress != nil {
		content = progressReader{r: content, progress: p.spec.Progress}
	}
	res := ItemResult{Source: src.Name, Name: it.Name, seq: p.seq.Add(1)}
	buf, held, small, err := p.buffer(ctx, content)
	if err != nil {
		p.budget.Release(held)
		p.failed(res, err)
		return p.stopOn(ctx, err)
	}
	if !small {
		// Larger than a part: staged as it streams, by this goroutine.
		err = p.storeLarge(ctx, src, it, res, io.MultiReader(buf.reader(), content))
		buf.release()
		p.budget.Release(held)
		return p.stopOn(ctx, err)
	}
	// Hashed here, in the order the source yields its items, so that of
	// two items with the same bytes the first is the one preserved; the
	// workers do the waiting on the store.
	res.Size, res.Digests = buf.Len(), buf.digests(p.spec.Legacy)
	if !p.claim(res.Digests.SHA256) {
		buf.release()
		p.budget.Release(held)
		res.Duplicate = true
		p.record(res)
		return nil
	}
	j := &job{src: src, item: it, conn: snapshot(it.Record), data: buf, res: res, budget: held}
	select {
	case p.jobs <- j:
		return nil
	case <-ctx.Done():
		buf.release()
		p.budget.Release(held)
		p.unclaim(res.Digests.SHA256)
		p.failed(res, ctx.Err())
		return ctx.Err()
	}
}

// stopOn is what an item's failure means for its source: nothing, unless
// the context ended or the pipeline stopped.
func (p *pipeline) stopOn(ctx context.Context, err error) error {
	if err == nil {
		return p.stopped()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if p.c.Spool == nil && errors.Is(err, storage.ErrUnavailable) {
		p.stop(err)
	}
	return p.stopped()
}

// buffer reads content, a chunk at a time, until it ends or holds more
// than p.small, taking its memory from the budget as it grows. small says
// whether it ended there. The buffer's chunks go back to the pool when
// the item is stored (release).
func (p *pipeline) buffer(ctx context.Context, content io.Reader) (buf *itemBuffer, held int64, small bool, err error) {
	buf = &itemBuffer{}
	for buf.Len() <= p.small {
		if err := p.budget.Acquire(ctx, bufferChunk); err != nil {
			buf.release()
			return nil, held, false, err
		}
		held += bufferChunk
		ended, err := buf.fill(content)
		if err != nil {
			buf.release()
			return nil, held, false, err
		}
		if ended {
			return buf, held, true, nil
		}
	}
	return buf, held, false, nil
}

// worker hashes and stores buffered items.
func (p *pipeline) worker() {
	defer p.work.Done()
	for j := range p.jobs {
		p.storeSmall(j)
		j.data.release()
		p.budget.Release(j.budget)
	}
}

// storeSmall puts a buffered item straight under its key.
func (p *pipeline) storeSmall(j *job) {
	ctx, res := p.ctx, j.res
	if err := p.stopped(); err != nil {
		p.unclaim(res.Digests.SHA256)
		p.failed(res, fmt.Errorf("not stored, the capture stopped: %w", err))
		return
	}
	key := ItemKey(p.spec.Order, res.Digests.SHA256)
	info, spooled, err := p.put(ctx, key, j.data.reader, res.Digests.SHA256)
	if err != nil {
		p.unclaim(res.Digests.SHA256)
		p.failed(res, err)
		if p.c.Spool == nil && errors.Is(err, storage.ErrUnavailable) {
			// Every item would wait out the store's retries in turn.
			p.stop(err)
		}
		return
	}
	p.sealer.add(p.storedItem(j.src, j.item, j.conn, res, key, info, spooled))
}

// put stores one item's content, write-once, durable at the next Sync: in
// the store, or in the spool while the store does not answer.
func (p *pipeline) put(ctx context.Context, key string, content func() io.Reader, sum string) (*storage.ObjectInfo, bool, error) {
	opts := storage.PutOptions{SHA256: sum, RetainUntil: p.spec.RetainUntil, LegalHold: p.spec.LegalHold, Deferred: true}
	if !p.down.Load() {
		info, err := p.c.Store.Put(ctx, key, content(), opts)
		if !errors.Is(err, storage.ErrUnavailable) || p.c.Spool == nil {
			return info, false, err
		}
		p.down.Store(true) // the next items go to the spool at once
	}
	// The store applies retention and hold when the item is flushed.
	opts.RetainUntil, opts.LegalHold = time.Time{}, false
	info, err := p.c.Spool.Put(ctx, key, content(), opts)
	return info, true, err
}

// storeLarge stages an item larger than a part as it streams, hashing it
// once, and commits it under its key.
func (p *pipeline) storeLarge(ctx context.Context, src NamedSource, it *source.Item, res ItemResult, content io.Reader) error {
	target := p.c.Store
	spooled := p.down.Load()
	if spooled {
		target = p.c.Spool
	}
	hr := newHashingReader(content, p.spec.Legacy)
	st, err := target.Stage(ctx, hr)
	hr.close()
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) && p.c.Spool != nil {
			p.down.Store(true) // this item is lost to the outage; the next ones are spooled
		}
		p.failed(res, err)
		return err
	}
	res.Digests.SHA256, res.Size = st.SHA256, st.Size
	hr.sums(&res.Digests)
	if hr.n != st.Size {
		_ = st.Discard(ctx)
		err := fmt.Errorf("the store received %d bytes, the source gave %d", st.Size, hr.n)
		p.failed(res, err)
		return err
	}
	if !p.claim(st.SHA256) {
		_ = st.Discard(ctx)
		res.Duplicate = true
		p.record(res)
		return nil
	}
	key := ItemKey(p.spec.Order, st.SHA256)
	opts := storage.PutOptions{SHA256: st.SHA256, RetainUntil: p.spec.RetainUntil, LegalHold: p.spec.LegalHold, Deferred: true}
	if spooled {
		opts.RetainUntil, opts.LegalHold = time.Time{}, false
	}
	info, err := st.Commit(ctx, key, opts)
	if err != nil {
		p.unclaim(st.SHA256)
		p.failed(res, err)
		return err
	}
	p.sealer.add(p.storedItem(src, it, snapshot(it.Record), res, key, info, spooled))
	return nil
}

// storedItem is the record of an item just stored, for its batch.
func (p *pipeline) storedItem(src NamedSource, it *source.Item, conn map[string]any, res ItemResult, key string, info *storage.ObjectInfo, spooled bool) stored {
	res.Key, res.Spooled = key, spooled
	rec := chain.ItemRecord{
		Version: chain.RecordVersion, Order: p.spec.Order, Capture: p.capture, CapturedAt: p.c.now(),
		Name: it.Name, Source: src.Name, Kind: src.Source.Kind(), Categories: src.Categories,
		Size: res.Size, SHA256: res.Digests.SHA256, SHA512: res.Digests.SHA512, MD5: res.Digests.MD5, SHA1: res.Digests.SHA1,
		MediaType: it.MediaType, Connector: conn, Key: key, Stored: chain.StoredInStore,
	}
	if spooled {
		rec.Stored = chain.StoredInSpool
	} else if info != nil {
		rec.VersionID = info.VersionID
	}
	if !it.Modified.IsZero() {
		m := it.Modified.UTC()
		rec.Modified = &m
	}
	return stored{rec: rec, res: res}
}

// claim marks sum as preserved by this capture; false if it already was
// (the order holds it, or another item of this capture has the same bytes).
func (p *pipeline) claim(sum string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.preserved.has(sum) {
		return false
	}
	p.preserved.add(sum)
	return true
}

func (p *pipeline) unclaim(sum string) {
	p.mu.Lock()
	p.preserved.remove(sum)
	p.mu.Unlock()
}

// record adds an item's outcome to the report.
func (p *pipeline) record(res ItemResult) {
	p.mu.Lock()
	p.rep.add(res)
	p.mu.Unlock()
}

func (p *pipeline) failed(res ItemResult, err error) {
	res.Err = err
	p.record(res)
}

// finish waits for the workers, then seals what is left.
func (p *pipeline) finish() {
	close(p.jobs)
	p.work.Wait()
	p.sealer.close()
}

// snapshot copies a connector's record into plain JSON values (maps,
// slices, strings, numbers as written, booleans), as it stands once the
// content was read: the record's canonical form, and no later change by
// the source reaches it.
func snapshot(rec map[string]any) map[string]any {
	if len(rec) == 0 {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return map[string]any{"unencodable": err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return map[string]any{"unencodable": err.Error()}
	}
	return out
}

// digestSet is a set of SHA-256 digests given in hex, kept as bytes: a
// capture holds one per item of its order, and a hex string key costs
// three times the memory (measured: 10 MB for 100,000 items).
type digestSet struct {
	sums  map[[sha256.Size]byte]struct{}
	other map[string]struct{} // anything that is not 64 hex digits, as given
}

func newDigestSet(n int) digestSet {
	return digestSet{sums: make(map[[sha256.Size]byte]struct{}, n), other: map[string]struct{}{}}
}

func digestKey(sum string) ([sha256.Size]byte, bool) {
	var k [sha256.Size]byte
	if len(sum) != 2*sha256.Size {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(sum))
	return k, err == nil && sum == strings.ToLower(sum)
}

func (d digestSet) has(sum string) bool {
	if k, ok := digestKey(sum); ok {
		_, in := d.sums[k]
		return in
	}
	_, in := d.other[sum]
	return in
}

func (d digestSet) add(sum string) {
	if k, ok := digestKey(sum); ok {
		d.sums[k] = struct{}{}
		return
	}
	d.other[sum] = struct{}{}
}

func (d digestSet) remove(sum string) {
	if k, ok := digestKey(sum); ok {
		delete(d.sums, k)
		return
	}
	delete(d.other, sum)
}

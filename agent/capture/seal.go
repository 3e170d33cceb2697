package capture

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// BatchPredicateType names the predicate of the in-toto statement signed
// for every sealed batch: its subjects are the batch's items.
const BatchPredicateType = "https://custos-evidence.org/attestation/batch/v1"

// ManifestKey is where a batch's manifest (its records, one per line)
// lives in the store.
func ManifestKey(order, capture string, batch int) string {
	return "orders/" + order + "/captures/" + capture + "/batch-" + strconv.Itoa(batch) + ".jsonl"
}

// StatementKey is where a batch's signed statement lives in the store.
func StatementKey(order, capture string, batch int) string {
	return "orders/" + order + "/captures/" + capture + "/batch-" + strconv.Itoa(batch) + ".dsse.json"
}

// Manifests keeps the manifest of every batch a capture seals, once its
// items.sealed event is durable: the index of the data directory, which
// reads records without going to the store. It may fail; the manifest is
// in the store all the same.
type Manifests interface {
	Keep(order, capture string, batch int, manifest []byte) error
}

// batchPredicate is the predicate of a batch's statement.
type batchPredicate struct {
	Order          string    `json:"order"`
	Capture        string    `json:"capture"`
	Batch          int       `json:"batch"`
	Count          int       `json:"count"`
	Bytes          int64     `json:"bytes"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	Root           string    `json:"root"`
	Agent          string    `json:"agent"`
	Actor          string    `json:"actor"`
	CutOff         time.Time `json:"cut_off"`
	SealedAt       time.Time `json:"sealed_at"`
	Recovery       bool      `json:"recovery,omitempty"`
}

// sealer collects a capture's stored items into batches and seals each:
// every item durable, the manifest and the statement written once, then
// one items.sealed event. An item is preserved once that event is. Batches
// are sealed one at a time, in order, while the workers go on storing.
type sealer struct {
	p   *pipeline
	ctx context.Context // the capture's, and past its end long enough to seal what was stored
	in  chan stored
	wg  sync.WaitGroup
	n   int // batches sealed
}

// sealTimeout bounds sealing the last batch of a capture whose context
// ended: items already stored are sealed rather than left unclaimed.
const sealTimeout = time.Minute

func newSealer(p *pipeline) *sealer {
	s := &sealer{p: p, in: make(chan stored, p.c.batchItems())}
	s.ctx = p.ctx
	s.wg.Add(1)
	go s.run()
	return s
}

func (s *sealer) add(st stored) { s.in <- st }

// close seals what is left and waits for it.
func (s *sealer) close() {
	close(s.in)
	s.wg.Wait()
}

// run gathers batches: one is sealed when it is full, or BatchWait after
// its first item arrived, or when the capture ends.
func (s *sealer) run() {
	defer s.wg.Done()
	max, wait := s.p.c.batchItems(), s.p.c.batchWait()
	var batch []stored
	var timer *time.Timer
	var due <-chan time.Time
	flush := func() {
		if timer != nil {
			timer.Stop()
			timer, due = nil, nil
		}
		if len(batch) > 0 {
			s.seal(batch, false)
			batch = nil
		}
	}
	for {
		select {
		case st, ok := <-s.in:
			if !ok {
				flush()
				return
			}
			batch = append(batch, st)
			if len(batch) == 1 {
				timer = time.NewTimer(wait)
				due = timer.C
			}
			if len(batch) >= max {
				flush()
			}
		case <-due:
			timer, due = nil, nil
			flush()
		}
	}
}

// seal seals one batch and reports its items: preserved, or failed with
// why. A log that does not take the batch stops the capture.
func (s *sealer) seal(batch []stored, recovery bool) {
	s.n++
	n := s.n
	// Sealed even when the capture was stopped meanwhile: what was stored
	// is claimed rather than left for a recovery, within a minute.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), sealTimeout)
	defer cancel()
	idx, err := s.sealBatch(ctx, n, batch, recovery)
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range batch {
		res := st.res
		if err != nil {
			res.Err = fmt.Errorf("batch %d not sealed: %w", n, err)
			p.preserved.remove(st.rec.SHA256)
		} else {
			res.Batch, res.Index = n, idx
		}
		p.rep.add(res)
	}
	if err == nil {
		p.rep.Batches++
		if p.spec.Sealed != nil {
			p.spec.Sealed(len(batch))
		}
	}
}

// sealBatch makes batch n durable and logs it; it returns the index of
// its items.sealed event.
func (s *sealer) sealBatch(ctx context.Context, n int, batch []stored, recovery bool) (uint64, error) {
	p, c := s.p, s.p.c
	inStore, inSpool := false, p.down.Load()
	for _, st := range batch {
		inSpool = inSpool || st.rec.Stored == chain.StoredInSpool
		inStore = inStore || st.rec.Stored == chain.StoredInStore
	}
	lines := make([][]byte, len(batch))
	var size int64
	subjects := make([]chain.Subject, len(batch))
	for i := range batch {
		rec := &batch[i].rec
		salt := make([]byte, chain.SaltSize)
		if _, err := rand.Read(salt); err != nil {
			return 0, err
		}
		rec.Salt = hex.EncodeToString(salt)
		line, err := chain.FormatRecord(rec)
		if err != nil {
			return 0, fmt.Errorf("record of %s: %w", rec.Name, err)
		}
		lines[i] = line
		size += rec.Size
		digest := map[string]string{"sha256": rec.SHA256, "sha512": rec.SHA512}
		subjects[i] = chain.Subject{Name: rec.Key, Digest: digest, MediaType: rec.MediaType}
	}
	manifest := chain.FormatManifest(lines)
	msum := sha256.Sum256(manifest)
	sb := &chain.SealedBatch{
		Capture: p.capture, Batch: n, Count: len(batch), Bytes: size, ManifestSHA256: hex.EncodeToString(msum[:]),
		Root: chain.NewRecordTree(lines).Root(), Stored: chain.StoredInStore, Recovery: recovery,
	}
	stmt, err := chain.SignStatement(c.Signer, subjects, BatchPredicateType, batchPredicate{
		Order: p.spec.Order, Capture: p.capture, Batch: n, Count: sb.Count, Bytes: size, ManifestSHA256: sb.ManifestSHA256,
		Root: hex.EncodeToString(sb.Root), Agent: c.Agent, Actor: p.spec.Actor, CutOff: p.spec.Request.CutOff.UTC(),
		SealedAt: c.now(), Recovery: recovery,
	})
	if err != nil {
		return 0, err
	}
	ssum := sha256.Sum256(stmt)
	sb.StatementSHA256 = hex.EncodeToString(ssum[:])

	target := c.Store
	opts := storage.PutOptions{RetainUntil: p.spec.RetainUntil, LegalHold: p.spec.LegalHold, Deferred: true}
	if inSpool {
		target, sb.Stored = c.Spool, chain.StoredInSpool
		opts.RetainUntil, opts.LegalHold = time.Time{}, false
	}
	for _, o := range []struct {
		key  string
		data []byte
		sum  string
	}{
		{ManifestKey(p.spec.Order, p.capture, n), manifest, sb.ManifestSHA256},
		{StatementKey(p.spec.Order, p.capture, n), stmt, sb.StatementSHA256},
	} {
		opts.SHA256 = o.sum
		if _, err := target.Put(ctx, o.key, bytes.NewReader(o.data), opts); err != nil {
			return 0, fmt.Errorf("%s: %w", o.key, err)
		}
	}
	// Every item of the batch, its manifest and statement durable before
	// the event that claims them.
	if inStore || !inSpool {
		if err := c.Store.Sync(ctx); err != nil {
			return 0, err
		}
	}
	if inSpool {
		if err := c.Spool.Sync(ctx); err != nil {
			return 0, err
		}
	}
	e := c.event(chain.ItemsSealed, p.spec, "", sb.Details())
	rec, err := c.Log.Append(ctx, e)
	if err != nil {
		p.stop(fmt.Errorf("%w: %w", errNotLogged, err))
		return 0, fmt.Errorf("%w: %w", errNotLogged, err)
	}
	if c.Manifests != nil {
		_ = c.Manifests.Keep(p.spec.Order, p.capture, n, manifest)
	}
	return rec.Index, nil
}

// errNotLogged is a batch stored and not logged: the log failing stops the
// capture, where any other item's failure does not.
var errNotLogged = errors.New("stored, but not logged")

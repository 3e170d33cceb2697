package capture

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// Lister lists the objects under a prefix: what recovery needs of the
// store and the spool besides reading.
type Lister interface {
	Getter
	List(ctx context.Context, prefix string) iter.Seq2[*storage.ObjectInfo, error]
}

// recover seals what captures that died (spec.Interrupted) stored and
// never sealed: every item of the order in the store (or the spool) that
// no batch names yet, and this capture's sources did not yield again, is
// read back, re-hashed, and sealed in a recovery batch of this capture.
// It runs once the capture's own batches are sealed. Its record comes from a manifest the dead
// capture wrote and never logged, when there is one; otherwise it says
// only what the object is. Nothing is claimed that is not sealed, and
// nothing stored is left unclaimed.
func (p *pipeline) recover(ctx context.Context) error {
	if len(p.spec.Interrupted) == 0 {
		return nil
	}
	var found []stored
	for _, where := range []struct {
		src     Lister
		spooled bool
	}{{p.c.Store, false}, {p.c.Spool, true}} {
		if where.src == nil || (!where.spooled && p.down.Load()) {
			continue
		}
		orphans := p.orphanRecords(ctx, where.src)
		prefix := ItemKey(p.spec.Order, "")
		for info, err := range where.src.List(ctx, prefix) {
			if err != nil {
				return fmt.Errorf("recover interrupted captures: %w", err)
			}
			sum := strings.TrimPrefix(info.Key, prefix)
			if len(sum) != 64 || strings.Contains(sum, "/") || !p.claim(sum) {
				continue // a legacy item's metadata, or sealed already
			}
			st, err := p.recovered(ctx, where.src, info, orphans[sum], where.spooled)
			if err != nil {
				p.unclaim(sum)
				return fmt.Errorf("recover %s: %w", info.Key, err)
			}
			found = append(found, st)
		}
	}
	for len(found) > 0 { // the sealer's goroutine has ended: see finish
		n := min(len(found), p.c.batchItems())
		p.sealer.seal(found[:n], true)
		found = found[n:]
	}
	return p.stopped()
}

// orphanRecords reads the manifests the interrupted captures stored and
// never logged, by item.
func (p *pipeline) orphanRecords(ctx context.Context, src Lister) map[string]*chain.ItemRecord {
	out := map[string]*chain.ItemRecord{}
	for _, id := range p.spec.Interrupted {
		for info, err := range src.List(ctx, "orders/"+p.spec.Order+"/captures/"+id+"/") {
			if err != nil || !strings.HasSuffix(info.Key, ".jsonl") {
				continue
			}
			r, _, err := src.Get(ctx, info.Key)
			if err != nil {
				continue
			}
			raw, err := io.ReadAll(io.LimitReader(r, MaxManifestSize))
			r.Close()
			if err != nil {
				continue
			}
			if _, recs, err := chain.ParseManifest(raw); err == nil {
				for _, rec := range recs {
					if rec.Order == p.spec.Order {
						out[rec.SHA256] = rec
					}
				}
			}
		}
	}
	return out
}

// recovered reads an unsealed object back, re-hashing it, and makes its
// record.
func (p *pipeline) recovered(ctx context.Context, src Lister, info *storage.ObjectInfo, orphan *chain.ItemRecord, spooled bool) (stored, error) {
	r, got, err := src.Get(ctx, info.Key)
	if err != nil {
		return stored{}, err
	}
	defer r.Close()
	h := sha512.New()
	n, err := io.Copy(h, r) // the store checks the SHA-256 at the end
	if err != nil {
		return stored{}, err
	}
	sum := path.Base(info.Key)
	if got.SHA256 != sum || n != got.Size {
		return stored{}, fmt.Errorf("stored as %s (%d bytes) under the key of %s: %w", got.SHA256, n, sum, chain.ErrTamper)
	}
	res := ItemResult{Source: "recovery", Name: sum, Size: n, Key: info.Key, Spooled: spooled,
		Digests: Digests{SHA256: sum, SHA512: hex.EncodeToString(h.Sum(nil))}, seq: p.seq.Add(1)}
	rec := chain.ItemRecord{
		Version: chain.RecordVersion, Order: p.spec.Order, Capture: p.capture, CapturedAt: got.Created.UTC(),
		Name: sum, Source: "recovery", Kind: "recovery", Size: n, SHA256: sum, SHA512: res.Digests.SHA512,
		Key: info.Key, Stored: chain.StoredInStore, VersionID: got.VersionID,
		Connector: map[string]any{"interrupted_captures": strings.Join(p.spec.Interrupted, ",")},
	}
	if orphan != nil && orphan.SHA512 == rec.SHA512 {
		// What the dead capture knew of it: its name, source and origin.
		rec.Name, rec.Source, rec.Kind, rec.Categories = orphan.Name, orphan.Source, orphan.Kind, orphan.Categories
		rec.MediaType, rec.Modified, rec.MD5, rec.SHA1 = orphan.MediaType, orphan.Modified, orphan.MD5, orphan.SHA1
		rec.Connector = orphan.Connector
		res.Source, res.Name = orphan.Source, orphan.Name
	}
	if rec.CapturedAt.IsZero() {
		rec.CapturedAt = p.c.now()
	}
	if spooled {
		rec.Stored, rec.VersionID = chain.StoredInSpool, ""
	}
	return stored{rec: rec, res: res}, nil
}

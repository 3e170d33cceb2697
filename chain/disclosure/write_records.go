package disclosure

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/custos-evidence/custos/chain"
)

// Items sealed in batches (SPEC section 3): no event names such an item,
// so the package proves each through its record, carried with its
// inclusion proof under custody/records and checked against the root of
// its batch's items.sealed event, itself proven in the log like every
// event. The batch's other records appear only as sibling hashes in the
// proof, and their salts keep those hashes from confirming a guess.

// checkRecords checks, before anything is written, every item that comes
// with a record: the record is canonical, of order, and of the item's
// content; its proof is of the batch that the items.sealed event at the
// item's PreservedIndex seals, and leads to that event's root. Items of
// the same content carry the same record, since the package holds one per
// content digest. A package Write would make of anything else would not
// verify.
func (c *Contents) checkRecords(order string) error {
	sealed := map[uint64]*chain.Record{}
	for _, e := range c.Events {
		if e.Event != nil && e.Event.Type == chain.ItemsSealed {
			sealed[e.Index] = e
		}
	}
	byDigest := map[string][]byte{}
	for i := range c.Items {
		it := &c.Items[i]
		if it.Record == nil && it.Proof == nil {
			continue
		}
		if prev, ok := byDigest[it.SHA256]; ok && !bytes.Equal(prev, it.Record) {
			return fmt.Errorf("item %s: two items of this content with different records: a package holds one record per content digest", it.SHA256)
		}
		byDigest[it.SHA256] = it.Record
		if err := it.checkRecord(order, sealed); err != nil {
			return fmt.Errorf("item %s: %w", it.SHA256, err)
		}
	}
	return nil
}

// checkRecord checks one item's record and proof against the items.sealed
// events of the package, by index.
func (it *Item) checkRecord(order string, sealed map[uint64]*chain.Record) error {
	if it.Record == nil || it.Proof == nil {
		return errors.New("a record without its proof, or a proof without its record")
	}
	r, err := chain.ParseRecord(it.Record)
	if err != nil {
		return err
	}
	switch {
	case r.Order != order:
		return fmt.Errorf("its record is of order %s, the package's is %s", r.Order, order)
	case r.SHA256 != it.SHA256 || r.SHA512 != it.SHA512 || r.Size != it.Size:
		return fmt.Errorf("its record says %d bytes, SHA-256 %s, SHA-512 %s; the item is %d bytes, %s, %s",
			r.Size, r.SHA256, r.SHA512, it.Size, it.SHA256, it.SHA512)
	}
	if _, err := chain.FormatRecordProof(it.Proof); err != nil {
		return err
	}
	e := sealed[it.PreservedIndex]
	if e == nil {
		return fmt.Errorf("event %d, where it was preserved, is not an items.sealed event of the order's events", it.PreservedIndex)
	}
	sb, err := chain.ParseSealedBatch(e.Event)
	if err != nil {
		return fmt.Errorf("event %d: %w", e.Index, err)
	}
	p := it.Proof
	switch {
	case sb.Capture != p.Capture || sb.Batch != p.Batch:
		return fmt.Errorf("its proof is of batch %d of capture %s; event %d seals batch %d of capture %s", p.Batch, p.Capture, e.Index, sb.Batch, sb.Capture)
	case uint64(sb.Count) != p.Size:
		return fmt.Errorf("its proof is in a batch of %d records; event %d seals %d", p.Size, e.Index, sb.Count)
	}
	if chain.VerifyRecord(it.Record, p, sb.Root) != nil {
		// The manifest the record came from is not the one the log sealed.
		return &chain.TamperError{File: recordPath(it.SHA256), Index: int64(e.Index),
			What: fmt.Sprintf("its record, record %d of %d by its proof, does not lead to the root %x that event %d seals", p.Index, p.Size, sb.Root, e.Index)}
	}
	return nil
}

// hasRecords reports whether an item comes with its record: the package
// is then of Version.
func (c *Contents) hasRecords() bool {
	return slices.ContainsFunc(c.Items, func(it Item) bool { return it.Record != nil })
}

// records writes the record and the proof of every item sealed in a
// batch, once per content digest, in the order of the items.
func (b *bagBuilder) records(items []Item) error {
	done := map[string]bool{}
	for _, it := range items {
		if it.Record == nil || done[it.SHA256] {
			continue
		}
		done[it.SHA256] = true
		proof, err := chain.FormatRecordProof(it.Proof)
		if err != nil {
			return err
		}
		if err := b.put(recordPath(it.SHA256), it.Record); err != nil {
			return err
		}
		if err := b.put(recordProofPath(it.SHA256), proof); err != nil {
			return err
		}
	}
	return nil
}

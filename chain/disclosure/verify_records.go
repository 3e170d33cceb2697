package disclosure

import (
	"fmt"
	"path"
	"slices"

	"github.com/custos-evidence/custos/chain"
)

// batchKey names a batch: its capture and its number in it.
type batchKey struct {
	capture string
	batch   int
}

// sealedBatch is an items.sealed event of the package and the batch it
// seals.
type sealedBatch struct {
	index uint64
	sb    *chain.SealedBatch
}

// sealedItem is a payload file's content proven by its record: sealed in
// the batch of the items.sealed event at index.
type sealedItem struct {
	index        uint64
	batch        batchKey
	source, name string // as its record says
}

// sealedBatches reads the items.sealed events of the order, by batch, in
// log order. An event that does not say which batch it seals is reported
// to c.
func (v *pkgVerifier) sealedBatches(c *Check) map[batchKey][]sealedBatch {
	out := map[batchKey][]sealedBatch{}
	for _, l := range v.lines {
		if l.ev == nil || l.ev.Type != chain.ItemsSealed || l.ev.Order != v.order {
			continue
		}
		sb, err := chain.ParseSealedBatch(l.ev)
		if err != nil {
			c.fail(pkgEvents, int64(l.index), "%v", err)
			continue
		}
		k := batchKey{sb.Capture, sb.Batch}
		out[k] = append(out[k], sealedBatch{index: l.index, sb: sb})
	}
	return out
}

// recordFiles are the files of one content digest under custody/records.
type recordFiles struct {
	record, proof bool
}

// listRecords lists the files under custody/records with a proper name,
// by content digest, and the digests sorted.
func (v *pkgVerifier) listRecords() (map[string]recordFiles, []string) {
	files := map[string]recordFiles{}
	for _, p := range v.tagPaths {
		if path.Dir(p) != pkgRecordsDir {
			continue
		}
		if sum, isProof, ok := recordName(path.Base(p)); ok {
			f := files[sum]
			if isProof {
				f.proof = true
			} else {
				f.record = true
			}
			files[sum] = f
		}
	}
	sums := make([]string, 0, len(files))
	for sum := range files {
		sums = append(sums, sum)
	}
	slices.Sort(sums)
	return files, sums
}

// checkRecords checks every record of the package (docs/package.md,
// "Records"): that some payload file needs it, that its proof is there,
// and that the record, of this order and of exactly that file's content,
// is proven by its proof in the tree whose root the items.sealed event of
// its batch carries. The contents it proves are v.sealed.
func (v *pkgVerifier) checkRecords() {
	c := v.c[CheckRecords]
	v.sealed = map[string]*sealedItem{}
	batches := v.sealedBatches(c)
	files, sums := v.listRecords()
	payload := map[string]fileSums{}
	for _, p := range v.payloadPaths {
		if _, ok := payload[v.payload[p].sha256]; !ok {
			payload[v.payload[p].sha256] = v.payload[p]
		}
	}
	for _, sum := range sums {
		f, rec, proof := files[sum], recordPath(sum), recordProofPath(sum)
		if _, ok := payload[sum]; !ok {
			for _, stray := range []struct {
				name    string
				present bool
			}{{rec, f.record}, {proof, f.proof}} {
				if stray.present {
					c.fail(stray.name, noIndex, "no payload file has this SHA-256: a record or proof that no item of the package needs")
				}
			}
			continue
		}
		switch {
		case !f.record:
			c.fail(rec, noIndex, "missing: %s is the proof of a record the package does not hold", proof)
			continue
		case !f.proof:
			c.fail(proof, noIndex, "missing: the record %s has no proof in its batch", rec)
			continue
		}
		if it := v.verifyRecord(c, sum, payload[sum], batches); it != nil {
			v.sealed[sum] = it
		}
	}
	if !c.failed() {
		c.Summary = fmt.Sprintf("%s, each proven in its batch's tree under the root of its items.sealed event", plural(len(v.sealed), "record"))
		if len(sums) == 0 {
			c.Summary = "no item of the package was sealed in a batch: none needs a record"
		}
	}
}

// verifyRecord checks the record of the content sum and its proof; it
// returns where the record is proven sealed, or nil having reported why
// not.
func (v *pkgVerifier) verifyRecord(c *Check, sum string, f fileSums, batches map[batchKey][]sealedBatch) *sealedItem {
	recPath, proofPath := recordPath(sum), recordProofPath(sum)
	raw, ok := v.content(c, recPath)
	if !ok {
		return nil
	}
	r, err := chain.ParseRecord(raw)
	if err != nil {
		c.fail(recPath, noIndex, "not a canonical item record: %v", err)
		return nil
	}
	bad := false
	if r.Order != v.order {
		c.fail(recPath, noIndex, "a record of order %s, not of the package's order %s", r.Order, v.order)
		bad = true
	}
	if r.SHA256 != sum || r.SHA512 != f.sha512 || r.Size != f.size {
		c.fail(recPath, noIndex, "the record is of %d bytes, SHA-256 %s, SHA-512 %s; the payload file of this SHA-256 is %d bytes, SHA-512 %s",
			r.Size, r.SHA256, r.SHA512, f.size, f.sha512)
		bad = true
	}
	text, ok := v.content(c, proofPath)
	if !ok {
		return nil
	}
	p, err := chain.ParseRecordProof(text)
	if err != nil {
		c.fail(proofPath, noIndex, "not a record proof: %v", err)
		return nil
	}
	k := batchKey{p.Capture, p.Batch}
	cands := batches[k]
	if len(cands) == 0 {
		c.fail(proofPath, noIndex, "no items.sealed event of the order seals batch %d of capture %s, which the proof names", p.Batch, p.Capture)
		return nil
	}
	// The first batch of that name whose event agrees; else what the first
	// one says against the record.
	var first *Problem
	for _, b := range cands {
		idx := b.index
		switch {
		case uint64(b.sb.Count) != p.Size:
			if first == nil {
				first = &Problem{File: proofPath, Index: &idx, What: fmt.Sprintf(
					"the proof is of record %d of a batch of %d; items.sealed event %d seals %d records in batch %d of capture %s",
					p.Index, p.Size, idx, b.sb.Count, p.Batch, p.Capture)}
			}
		case chain.VerifyRecord(raw, p, b.sb.Root) != nil:
			if first == nil {
				first = &Problem{File: recPath, Index: &idx, What: fmt.Sprintf(
					"the record and its proof (record %d of %d) do not lead to the root %x that items.sealed event %d carries for batch %d of capture %s: the record, its proof or the event was altered",
					p.Index, p.Size, b.sb.Root, idx, p.Batch, p.Capture)}
			}
		case bad:
			return nil
		default:
			return &sealedItem{index: idx, batch: k, source: r.Source, name: r.Name}
		}
	}
	c.fail(first.File, int64(*first.Index), "%s", first.What)
	return nil
}

// checkRecordsNeeded reports the payload files that the signed statement
// says a batch sealed (their preserved_index is an items.sealed event) and
// that come without their record: nothing else can prove them.
func (v *pkgVerifier) checkRecordsNeeded() {
	if v.pred == nil {
		return
	}
	c := v.c[CheckRecords]
	sealing := map[uint64]bool{}
	for _, l := range v.lines {
		if l.ev != nil && l.ev.Type == chain.ItemsSealed {
			sealing[l.index] = true
		}
	}
	present := map[string]bool{}
	for _, p := range v.tagPaths {
		present[p] = true
	}
	for _, it := range v.pred.Items {
		if _, isPayload := v.payload[it.Path]; !isPayload || !sealing[it.PreservedIndex] || !isHex(it.SHA256, 64) {
			continue // the statement checks name what does not hold
		}
		if rec := recordPath(it.SHA256); !present[rec] && !present[recordProofPath(it.SHA256)] { // a proof alone: said already
			c.fail(rec, int64(it.PreservedIndex), "missing: the signed statement says the batch of items.sealed event %d preserved %s, and only its record can prove it",
				it.PreservedIndex, it.Path)
		}
	}
}

// holdsRecords reports whether anything is under custody/records.
func (v *pkgVerifier) holdsRecords() bool {
	return slices.ContainsFunc(v.tagPaths, func(p string) bool { return path.Dir(p) == pkgRecordsDir })
}

// sealedAt reports whether the content sum is proven sealed by the
// items.sealed event at index.
func (v *pkgVerifier) sealedAt(sum string, index uint64) bool {
	s := v.sealed[sum]
	return s != nil && s.index == index
}

package disclosure

import (
	"fmt"
	"strconv"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// MaxEventClockStep is how far an event's time may lie before the time of
// the event logged before it without the package failing the event-times
// check. Events of one capture are timed before they wait for the order's
// turn to append, so concurrent sources may log them a little out of time
// order; a minute is far above that and far below anything that matters to
// an order's deadlines.
const MaxEventClockStep = time.Minute

// preservedItem is what the events say of one item, by SHA-256.
type preservedItem struct {
	sha512       string
	index        uint64 // its item.preserved event
	purgedAt     int64  // its item.purged event after that, or noIndex
	source, name string // as the event says
}

// checkItems checks that every payload file is an item of the order: an
// item.preserved event whose items[0] has the file's SHA-256 and SHA-512,
// or a record proven in a sealed batch (the records check); and that no
// item.purged after it names its digest or, for a sealed item, its batch
// (an item.purged with no items and the capture and batch details purges
// the whole batch).
func (v *pkgVerifier) checkItems() {
	c := v.c[CheckItemsPreserved]
	items := map[string]*preservedItem{}
	purgedAt := map[string]uint64{}        // the newest item.purged naming a digest
	batchPurgedAt := map[batchKey]uint64{} // the newest item.purged of a whole batch
	for _, l := range v.lines {
		if l.ev == nil {
			continue
		}
		switch l.ev.Type {
		case chain.ItemPreserved:
			if len(l.ev.Items) == 0 {
				continue
			}
			d := l.ev.Items[0]
			if it := items[d.SHA256]; it == nil || it.purgedAt != noIndex {
				items[d.SHA256] = &preservedItem{sha512: d.SHA512, index: l.index, purgedAt: noIndex,
					source: l.ev.Details["source"], name: l.ev.Details["name"]}
			}
		case chain.ItemPurged:
			for _, d := range l.ev.Items {
				purgedAt[d.SHA256] = l.index
				if it := items[d.SHA256]; it != nil {
					it.purgedAt = int64(l.index)
				}
			}
			if k, ok := purgedBatch(l.ev); ok {
				batchPurgedAt[k] = l.index
			}
		}
	}
	for i, f := range v.rep.Items {
		if s := v.sealed[f.SHA256]; s != nil {
			switch p, pb := purgedAt[f.SHA256], batchPurgedAt[s.batch]; {
			case p > s.index:
				c.fail(f.Path, int64(p), "the item sealed in batch %d of capture %s (event %d) was purged", s.batch.batch, s.batch.capture, s.index)
			case pb > s.index:
				c.fail(f.Path, int64(pb), "batch %d of capture %s, sealed at event %d with the item, was purged", s.batch.batch, s.batch.capture, s.index)
			default:
				idx := s.index
				v.rep.Items[i].PreservedIndex = &idx
				v.rep.Items[i].Source, v.rep.Items[i].Name = s.source, s.name
			}
			continue
		}
		it := items[f.SHA256]
		switch {
		case it == nil:
			c.fail(f.Path, noIndex, "no item.preserved event of the order has the file's SHA-256 %s, and no record proves it sealed in a batch", f.SHA256)
		case it.purgedAt != noIndex:
			c.fail(f.Path, it.purgedAt, "the item preserved at event %d was purged", it.index)
		case it.sha512 != f.SHA512:
			c.fail(f.Path, int64(it.index), "item.preserved records SHA-512 %s, the file's is %s", it.sha512, f.SHA512)
		default:
			idx := it.index
			v.rep.Items[i].PreservedIndex = &idx
			v.rep.Items[i].Source, v.rep.Items[i].Name = it.source, it.name
		}
	}
}

// purgedBatch reads the batch an item.purged event of no items purges
// whole: its capture and batch details.
func purgedBatch(e *chain.Event) (batchKey, bool) {
	if len(e.Items) > 0 {
		return batchKey{}, false
	}
	n, err := strconv.Atoi(e.Details["batch"])
	if err != nil || n < 1 || e.Details["capture"] == "" {
		return batchKey{}, false
	}
	return batchKey{e.Details["capture"], n}, true
}

// checkCaptures checks that every item.preserved and items.sealed lies
// inside a capture (after its capture.started, same capture detail,
// before its end: a recovery batch inside the capture that recovered it,
// which it names) and after order.received, and that every capture
// started before the order's expiry as it stood then: the newest
// expires_at of order.received or order.extended before it. A capture of
// a held order may start after that expiry: a hold has no fixed end.
func (v *pkgVerifier) checkCaptures() {
	c := v.c[CheckCaptureWindow]
	received := false
	var expiry time.Time
	var status chain.OrderStatus
	open, ended := map[string]bool{}, map[string]uint64{}
	captures, items, batches := 0, 0, 0
	for _, l := range v.lines {
		e := l.ev
		if e == nil {
			continue
		}
		idx := int64(l.index)
		if e.Type == chain.OrderReceived || e.Type == chain.OrderExtended {
			switch {
			case l.orderErr != nil:
				c.fail(pkgEvents, idx, "%v", l.orderErr)
			case l.order.ExpiresAt.IsZero():
				c.fail(pkgEvents, idx, "%s names no expires_at", e.Type)
			default:
				expiry = l.order.ExpiresAt
			}
		}
		id := l.capture.Capture
		switch e.Type {
		case chain.OrderReceived:
			received = true
		case chain.CaptureStarted:
			captures++
			switch {
			case l.captureErr != nil:
				c.fail(pkgEvents, idx, "%v", l.captureErr)
			case id == "":
				c.fail(pkgEvents, idx, "capture.started names no capture")
			case !received:
				c.fail(pkgEvents, idx, "capture %s started before the order was received", id)
			case status != chain.StatusHeld && !e.Time.Before(expiry):
				c.fail(pkgEvents, idx, "capture %s started at %s, when the order had expired (at %s)", id, stamp(e.Time), stamp(expiry))
			}
			open[id] = true
			delete(ended, id)
		case chain.CaptureCompleted, chain.CaptureFailed:
			if open[id] {
				delete(open, id)
				ended[id] = l.index
			}
		case chain.ItemPreserved, chain.ItemsSealed:
			what := "item preserved"
			if e.Type == chain.ItemPreserved {
				items++
			} else {
				batches++
				what = "batch " + e.Details["batch"] + " sealed"
				if sb, err := chain.ParseSealedBatch(e); err == nil {
					items += sb.Count
				}
			}
			end, wasEnded := ended[id]
			switch {
			case !received:
				c.fail(pkgEvents, idx, "%s before the order was received", what)
			case open[id]:
			case wasEnded:
				c.fail(pkgEvents, idx, "%s by capture %s after the capture ended at event %d", what, id, end)
			default:
				c.fail(pkgEvents, idx, "%s by capture %q, which no earlier capture.started began", what, id)
			}
		}
		if l.order.Status != "" && l.order.OrderSHA256 != "" {
			status = l.order.Status
		}
	}
	if !c.failed() {
		sealed := ""
		switch {
		case batches == 1:
			sealed = " (in 1 sealed batch)"
		case batches > 1:
			sealed = fmt.Sprintf(" (in %d sealed batches)", batches)
		}
		c.Summary = fmt.Sprintf("%d items preserved%s inside %s, each begun after receipt and before expiry", items, sealed, plural(captures, "capture"))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// disclosedAt is when the package was made: the signed statement's
// disclosed_at, else bag-info's Custos-Disclosed-At (whole seconds, so
// with a second's slack).
func (v *pkgVerifier) disclosedAt() (t time.Time, slack time.Duration, ok bool) {
	if v.pred != nil && !v.pred.DisclosedAt.IsZero() {
		return v.pred.DisclosedAt, 0, true
	}
	t, err := time.Parse(time.RFC3339, v.bagInfo["Custos-Disclosed-At"])
	return t, time.Second, err == nil
}

// checkTimes checks that times never go back along the order's chain (by
// more than MaxEventClockStep) and that no event is later than the
// disclosure, which was made after the checkpoint covering them all.
func (v *pkgVerifier) checkTimes() {
	c := v.c[CheckEventTimes]
	disclosed, slack, ok := v.disclosedAt()
	if !ok {
		c.fail(pkgBagInfo, noIndex, "no disclosure time to compare the events with (Custos-Disclosed-At)")
	}
	var prev *eventLine
	for i := range v.lines {
		l := &v.lines[i]
		if l.ev == nil {
			continue
		}
		if prev != nil && l.ev.Time.Before(prev.ev.Time.Add(-MaxEventClockStep)) {
			c.fail(pkgEvents, int64(l.index), "time %s is before the previous event's (%d, %s) by more than %v: times go backwards",
				l.ev.Time.UTC().Format(time.RFC3339Nano), prev.index, prev.ev.Time.UTC().Format(time.RFC3339Nano), MaxEventClockStep)
		}
		if ok && l.ev.Time.After(disclosed.Add(slack)) {
			c.fail(pkgEvents, int64(l.index), "time %s is after the disclosure (%s)", l.ev.Time.UTC().Format(time.RFC3339Nano), disclosed.UTC().Format(time.RFC3339Nano))
		}
		prev = l
	}
	if !c.failed() {
		c.Summary = fmt.Sprintf("times never go back along the chain; none after the disclosure at %s", stamp(disclosed))
	}
}

// checkStatus checks the order's status after its newest order event.
func (v *pkgVerifier) checkStatus() {
	c := v.c[CheckOrderStatus]
	l := v.newestOrderEvent()
	switch {
	case l == nil:
		c.fail(pkgEvents, noIndex, "no event names the order's status")
	case !l.order.Status.AllowsDisclosure():
		c.fail(pkgEvents, int64(l.index), "the order is %q after its newest order event: it may be disclosed only when preserved, extended, held or disclosed", l.order.Status)
	default:
		c.Summary = fmt.Sprintf("the order is %s after event %d, which allows disclosure", l.order.Status, l.index)
	}
}

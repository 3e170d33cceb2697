package disclosure

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// Adverse events (issue 18 item 6): what went wrong in the order's story,
// even where the package still verifies. A reader of the text or JSON
// report must not need the HTML timeline to learn that a capture failed,
// that an item failed its fixity check or was purged, that the log was
// recovered after a crash or that a disclosure was abandoned.

// adverseTypes are the event types a report summarises as adverse.
var adverseTypes = []chain.EventType{
	chain.CaptureFailed, chain.FixityFailed, chain.LogRecovered, chain.DisclosureAbandoned, chain.ItemPurged,
}

// AdverseEvent is one adverse event of the package's events.
type AdverseEvent struct {
	Index  uint64          `json:"index"`
	Type   chain.EventType `json:"type"`
	Time   time.Time       `json:"time"`
	Proven bool            `json:"proven"` // its inclusion proof led to the checkpoint
	What   string          `json:"what"`   // its reason and details, on one line
}

// maxAdverseWhat bounds the summary of one adverse event.
const maxAdverseWhat = 300

// collectAdverse lists the adverse events among the report's events.
func (r *Report) collectAdverse() {
	r.AdverseEvents = []AdverseEvent{}
	for _, e := range r.Events {
		if e.Event == nil || !slices.Contains(adverseTypes, e.Event.Type) {
			continue
		}
		r.AdverseEvents = append(r.AdverseEvents, AdverseEvent{
			Index: e.Index, Type: e.Event.Type, Time: e.Event.Time.UTC(), Proven: e.Proven, What: adverseWhat(e.Event),
		})
	}
}

// adverseWhat is an event's reason, details and items on one line.
func adverseWhat(e *chain.Event) string {
	var parts []string
	if e.Reason != "" {
		parts = append(parts, e.Reason)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		parts = append(parts, k+"="+e.Details[k])
	}
	for _, d := range e.Items {
		parts = append(parts, "sha256:"+d.SHA256)
	}
	s := oneLine(strings.Join(parts, "; "))
	if len(s) > maxAdverseWhat {
		s = s[:maxAdverseWhat] + "..."
	}
	return s
}

// writeAdverse writes the adverse events section of the text report.
func (r *Report) writeAdverse(w io.Writer) {
	if len(r.AdverseEvents) == 0 {
		return
	}
	fmt.Fprintf(w, "ADVERSE %s in the order's story:\n", plural(len(r.AdverseEvents), "adverse event"))
	for _, a := range r.AdverseEvents {
		fmt.Fprintf(w, "        event %d  %s  %s: %q\n", a.Index, a.Time.Format(time.RFC3339), a.Type, a.What)
	}
}

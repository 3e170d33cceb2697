package capture

import (
	"time"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/source"
)

// NewSpec is the Spec of a capture of o from srcs, of the data that
// existed at cutOff: the order's selectors, categories and time window
// drive the sources; its expiry is the items' retention, its hold their
// legal hold, and its legal basis the authority every event records.
func NewSpec(o *order.Order, srcs []NamedSource, cutOff time.Time) Spec {
	return Spec{
		Order: o.ID, RetainUntil: o.ExpiresAt, LegalHold: o.Status == order.StatusHeld, Legacy: o.LegacyDigests,
		Authority: o.LegalBasis, Sources: srcs,
		Request: source.Request{
			Order: o.ID, Selectors: sourceSelectors(o.Selectors), Categories: categoryNames(o.Categories),
			From: o.Window.From, To: o.Window.To, CutOff: cutOff,
		},
	}
}

func sourceSelectors(sels []order.Selector) []source.Selector {
	out := make([]source.Selector, len(sels))
	for i, s := range sels {
		out[i] = source.Selector{Type: string(s.Type), Value: s.Value}
	}
	return out
}

func categoryNames(cats []order.Category) []string {
	out := make([]string, len(cats))
	for i, c := range cats {
		out[i] = string(c)
	}
	return out
}

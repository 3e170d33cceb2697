package agent

import (
	"slices"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
)

// StepResult is the outcome of a lifecycle step (extend, hold, lift,
// release, purge) as the CLI's --output json and the daemon's API give
// it. Absent parts are left out; the fields are in the order their JSON
// names sort.
type StepResult struct {
	Kept   *[]KeptJSON     `json:"kept,omitempty"`
	Order  *order.Order    `json:"order"`
	Purged *[]chain.Digest `json:"purged,omitempty"`
	Store  *StoreJSON      `json:"store,omitempty"`
}

// StoreJSON is a StoreReport in a StepResult.
type StoreJSON struct {
	Objects int      `json:"objects"`
	Pending int      `json:"pending"`
	Missing []string `json:"missing"`
}

// KeptJSON is a KeptItem in a StepResult.
type KeptJSON struct {
	SHA256      string    `json:"sha256"`
	RetainUntil time.Time `json:"retain_until"`
}

// NewStepResult is the result of a step that changed the order's objects
// in the store (rep, which may be nil for a step that touches none).
func NewStepResult(o *order.Order, rep *StoreReport) *StepResult {
	r := &StepResult{Order: o}
	if rep != nil {
		r.Store = &StoreJSON{Objects: rep.Objects, Pending: rep.Pending, Missing: append([]string{}, rep.Missing...)}
	}
	return r
}

// Result is the purge's StepResult.
func (p *PurgeReport) Result() *StepResult {
	kept := make([]KeptJSON, 0, len(p.Kept))
	for _, k := range p.Kept {
		kept = append(kept, KeptJSON{SHA256: k.Digest.SHA256, RetainUntil: k.RetainUntil})
	}
	purged := append([]chain.Digest{}, p.Purged...)
	return &StepResult{Order: p.Order, Purged: &purged, Kept: &kept}
}

// OrderSummary is an order in a list, as `custos order list --output json`
// and the API give it.
type OrderSummary struct {
	Order    *order.Order   `json:"order"`
	Deadline order.Deadline `json:"deadline"`
	Items    int            `json:"items"`
}

// OrderDetail is one order, as `custos order show --output json` and the
// API give it; the fields are in the order their JSON names sort.
type OrderDetail struct {
	Deadline     order.Deadline `json:"deadline"`
	Events       int            `json:"events"`
	Items        []ItemView     `json:"items"`
	Order        *order.Order   `json:"order"`
	Purged       []chain.Digest `json:"purged"`
	RecordSHA256 string         `json:"record_sha256"`
}

// ItemView is an item the order holds, in an OrderDetail.
type ItemView struct {
	SHA256  string `json:"sha256"`
	SHA512  string `json:"sha512"`
	Key     string `json:"key"`
	Spooled bool   `json:"spooled,omitempty"`
}

// NewOrderDetail describes v with its deadline d.
func NewOrderDetail(v *OrderView, d order.Deadline) *OrderDetail {
	st := v.State
	out := &OrderDetail{Order: v.Order, Deadline: d, Items: []ItemView{}, Purged: []chain.Digest{}, Events: st.Events, RecordSHA256: st.Record}
	for _, sum := range st.ItemOrder {
		out.Items = append(out.Items, ItemView{SHA256: sum, SHA512: st.Items[sum].SHA512, Key: capture.ItemKey(v.Order.ID, sum), Spooled: st.Spooled[sum]})
	}
	for _, dg := range st.Purged {
		out.Purged = append(out.Purged, dg)
	}
	slices.SortFunc(out.Purged, func(a, b chain.Digest) int { return strings.Compare(a.SHA256, b.SHA256) })
	return out
}

// CaptureSummary is a capture's outcome as the CLI's --output json and
// the API give it.
type CaptureSummary struct {
	Order        string                    `json:"order"`
	Capture      string                    `json:"capture"`
	CutOff       time.Time                 `json:"cut_off"`
	Items        []ItemSummary             `json:"items"`
	Summaries    map[string]source.Summary `json:"summaries"`
	SourceErrors map[string]string         `json:"source_errors"`
	Preserved    int                       `json:"preserved"`
	Failed       bool                      `json:"failed"`
	// Index is the log index of the event that ended the capture.
	Index uint64 `json:"index"`
}

// ItemSummary is one item of a CaptureSummary.
type ItemSummary struct {
	Source    string          `json:"source"`
	Name      string          `json:"name"`
	Digests   capture.Digests `json:"digests"`
	Size      int64           `json:"size"`
	Key       string          `json:"key,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Spooled   bool            `json:"spooled,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// CaptureSummaryOf gives the report of a capture of order as a
// CaptureSummary.
func CaptureSummaryOf(order string, r *capture.Report) CaptureSummary {
	items := make([]ItemSummary, 0, len(r.Items))
	for _, it := range r.Items {
		is := ItemSummary{Source: it.Source, Name: it.Name, Digests: it.Digests, Size: it.Size, Key: it.Key, Duplicate: it.Duplicate, Spooled: it.Spooled}
		if it.Err != nil {
			is.Error = it.Err.Error()
		}
		items = append(items, is)
	}
	srcErrs := map[string]string{}
	for name, err := range r.SourceErrs {
		srcErrs[name] = err.Error()
	}
	return CaptureSummary{Order: order, Capture: r.ID, CutOff: r.CutOff, Items: items, Summaries: r.Summaries,
		SourceErrors: srcErrs, Preserved: r.Preserved(), Failed: r.Failed(), Index: r.Index}
}

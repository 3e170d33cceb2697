package api

import (
	"slices"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// DocumentErrorHeader says, on an order received with a document, why the
// document could not be preserved; the order is received all the same.
const DocumentErrorHeader = "Custos-Document-Error"

// OrderSummary is an order in a list, as GET /v1/orders and
// `custos order list --output json` give it.
type OrderSummary struct {
	Order    *order.Order   `json:"order"`
	Deadline order.Deadline `json:"deadline"`
	Items    int            `json:"items"`
}

// NewOrderSummary lists v with its deadline d.
func NewOrderSummary(v *agent.OrderView, d order.Deadline) OrderSummary {
	return OrderSummary{Order: v.Order, Deadline: d, Items: len(v.State.Items)}
}

// OrderDetail is one order, as GET /v1/orders/{id} and
// `custos order show --output json` give it; the fields are in the order
// their JSON names sort.
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
func NewOrderDetail(v *agent.OrderView, d order.Deadline) *OrderDetail {
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

// StepRequest is the body of a lifecycle step (POST
// /v1/orders/{id}/extend, hold, release, purge; DELETE .../hold): the
// legal basis (extend, hold) or the reason (lift, release, purge)
// recorded in its event, and for extend the new expiry (a date, an RFC
// 3339 time or a duration after the current expiry).
type StepRequest struct {
	Expires    string `json:"expires,omitempty"`
	LegalBasis string `json:"legal_basis,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// StepResult is the outcome of a lifecycle step (extend, hold, lift,
// release, purge) as the API and `custos order ... --output json` give
// it. Absent parts are left out; the fields are in the order their JSON
// names sort.
type StepResult struct {
	Kept   *[]KeptItem     `json:"kept,omitempty"`
	Order  *order.Order    `json:"order"`
	Purged *[]chain.Digest `json:"purged,omitempty"`
	Store  *StepStore      `json:"store,omitempty"`
}

// StepStore is what a step did to the order's objects in the store (an
// agent.StoreReport).
type StepStore struct {
	Objects int      `json:"objects"`
	Pending int      `json:"pending"`
	Missing []string `json:"missing"`
}

// KeptItem is an item a purge could not delete yet, and when its
// retention ends.
type KeptItem struct {
	SHA256      string    `json:"sha256"`
	RetainUntil time.Time `json:"retain_until"`
}

// NewStepResult is the result of a step that changed the order's objects
// in the store (rep, which may be nil for a step that touches none).
func NewStepResult(o *order.Order, rep *agent.StoreReport) *StepResult {
	r := &StepResult{Order: o}
	if rep != nil {
		r.Store = &StepStore{Objects: rep.Objects, Pending: rep.Pending, Missing: append([]string{}, rep.Missing...)}
	}
	return r
}

// NewPurgeResult is the result of a purge.
func NewPurgeResult(p *agent.PurgeReport) *StepResult {
	kept := make([]KeptItem, 0, len(p.Kept))
	for _, k := range p.Kept {
		kept = append(kept, KeptItem{SHA256: k.Digest.SHA256, RetainUntil: k.RetainUntil})
	}
	purged := append([]chain.Digest{}, p.Purged...)
	return &StepResult{Order: p.Order, Purged: &purged, Kept: &kept}
}

package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent"
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
	// Production is a production order's deadline at the time of the
	// list; absent for any other order.
	Production *order.ProductionState `json:"production,omitempty"`
}

// NewOrderSummary lists v with its deadline d and, for a production
// order, its production deadline at now.
func NewOrderSummary(v *agent.OrderView, d order.Deadline, now time.Time) OrderSummary {
	return OrderSummary{Order: v.Order, Deadline: d, Items: v.State.ItemCount(), Production: v.Order.ProductionState(now, v.State.Produced)}
}

// OrderDetail is one order, as GET /v1/orders/{id} and
// `custos order show --output json` give it; the fields are in the order
// their JSON names sort.
type OrderDetail struct {
	// ApprovedBy are the identities whose approval of an emergency
	// order's next disclosure is pending.
	ApprovedBy []string       `json:"approved_by,omitempty"`
	Deadline   order.Deadline `json:"deadline"`
	Events     int            `json:"events"`
	Items      []ItemView     `json:"items"`
	Order      *order.Order   `json:"order"`
	// Production is a production order's deadline when shown; absent
	// for any other order.
	Production   *order.ProductionState `json:"production,omitempty"`
	Purged       []chain.Digest         `json:"purged"`
	RecordSHA256 string                 `json:"record_sha256"`
	// Replies are the replies to the order's authority, oldest first.
	Replies []Reply `json:"replies"`
	// Requester is the newest check of the order's requester; nil before
	// any, when a disclosure is refused.
	Requester *RequesterView `json:"requester,omitempty"`
}

// RequesterView is a check of an order's requester, in an OrderDetail.
type RequesterView struct {
	Result string `json:"result"` // confirmed or failed
	Method string `json:"method"`
	Actor  string `json:"actor"`
	Index  uint64 `json:"index"` // of its event in the custody log
}

// ItemView is an item the order holds, in an OrderDetail.
type ItemView struct {
	SHA256  string `json:"sha256"`
	SHA512  string `json:"sha512"`
	Key     string `json:"key"`
	Spooled bool   `json:"spooled,omitempty"`
	// Of an item sealed in a batch, what its record says: its name and
	// source, and its size.
	Name   string `json:"name,omitempty"`
	Source string `json:"source,omitempty"`
	Size   int64  `json:"size,omitempty"`
}

// NewOrderDetail describes v, which holds items, with its deadline d and,
// for a production order, its production deadline at now.
func NewOrderDetail(v *agent.OrderView, d order.Deadline, items []agent.HeldItem, now time.Time) *OrderDetail {
	st := v.State
	out := &OrderDetail{Order: v.Order, Deadline: d, Items: []ItemView{}, Purged: []chain.Digest{}, Events: st.Events, RecordSHA256: st.Record,
		Production: v.Order.ProductionState(now, st.Produced), Replies: loggedReplies(st.ID, st.Replies)}
	for _, it := range items {
		iv := ItemView{SHA256: it.Digest.SHA256, SHA512: it.Digest.SHA512, Key: it.Key, Spooled: it.Spooled}
		if it.Record != nil {
			iv.Name, iv.Source, iv.Size = it.Record.Name, it.Record.Source, it.Record.Size
		}
		out.Items = append(out.Items, iv)
	}
	for _, dg := range st.Purged {
		out.Purged = append(out.Purged, dg)
	}
	slices.SortFunc(out.Purged, func(a, b chain.Digest) int { return strings.Compare(a.SHA256, b.SHA256) })
	if q := st.Requester; q != nil {
		out.Requester = &RequesterView{Result: ResultFailed, Method: q.Method, Actor: q.Actor, Index: q.Index}
		if q.Confirmed {
			out.Requester.Result = ResultConfirmed
		}
	}
	for _, a := range st.Approvals {
		out.ApprovedBy = append(out.ApprovedBy, a.Identity)
	}
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

// AddOrder receives an order (POST /v1/orders): draft holds the fields of
// an order file (`custos order add --file`). It returns the order as
// recorded.
func (c *Client) AddOrder(ctx context.Context, draft *order.Order) (*order.Order, error) {
	var o order.Order
	if err := c.call(ctx, "POST", "/v1/orders", draft, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// AddOrderWithDocument receives an order with its document (a PDF, an
// email, a scan), streamed from doc under the file name name in one
// multipart request; the daemon preserves the document as the order's
// first item. The order is received even when its document cannot be
// preserved: docErr then says why, and err is nil.
func (c *Client) AddOrderWithDocument(ctx context.Context, draft *order.Order, name string, doc io.Reader) (o *order.Order, docErr string, err error) {
	body, err := json.Marshal(draft)
	if err != nil {
		return nil, "", err
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(func() error {
			w, err := mw.CreateFormField("order")
			if err != nil {
				return err
			}
			if _, err := w.Write(body); err != nil {
				return err
			}
			if w, err = mw.CreateFormFile("document", name); err != nil {
				return err
			}
			if _, err := io.Copy(w, doc); err != nil {
				return err
			}
			return mw.Close()
		}())
	}()
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/v1/orders", pr)
	if err != nil {
		pr.Close()
		return nil, "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	o = &order.Order{}
	if err := json.NewDecoder(res.Body).Decode(o); err != nil {
		return nil, "", fmt.Errorf("the daemon's answer: %w", err)
	}
	return o, res.Header.Get(DocumentErrorHeader), nil
}

// Orders lists the orders this identity may see (GET /v1/orders), only
// those of the given status unless status is empty. An order whose record
// the daemon cannot read is left out (its log says so).
func (c *Client) Orders(ctx context.Context, status order.Status) ([]OrderSummary, error) {
	path := "/v1/orders"
	if status != "" {
		path += "?" + url.Values{"status": {string(status)}}.Encode()
	}
	var list []OrderSummary
	if err := c.call(ctx, "GET", path, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// Order is one order with its deadline and items (GET /v1/orders/{id}).
func (c *Client) Order(ctx context.Context, id string) (*OrderDetail, error) {
	var d OrderDetail
	if err := c.call(ctx, "GET", "/v1/orders/"+url.PathEscape(id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Extend extends order id's expiry and the retention of all its objects,
// on legal basis basis, to expires (a date, an RFC 3339 time or a
// duration after the current expiry; empty: the profile's extension
// period).
func (c *Client) Extend(ctx context.Context, id, expires, basis string) (*StepResult, error) {
	return c.step(ctx, "POST", id, "extend", StepRequest{Expires: expires, LegalBasis: basis})
}

// Hold holds order id while its profile's condition holds (a production
// order or a mutual assistance request, basis), with a legal hold on all
// its objects.
func (c *Client) Hold(ctx context.Context, id, basis string) (*StepResult, error) {
	return c.step(ctx, "POST", id, "hold", StepRequest{LegalBasis: basis})
}

// LiftHold lifts order id's hold for reason.
func (c *Client) LiftHold(ctx context.Context, id, reason string) (*StepResult, error) {
	return c.step(ctx, "DELETE", id, "hold", StepRequest{Reason: reason})
}

// Release ends order id's preservation for reason; its objects stay
// retained until its expiry.
func (c *Client) Release(ctx context.Context, id, reason string) (*StepResult, error) {
	return c.step(ctx, "POST", id, "release", StepRequest{Reason: reason})
}

// Purge deletes what retention allows of released order id, for reason.
func (c *Client) Purge(ctx context.Context, id, reason string) (*StepResult, error) {
	return c.step(ctx, "POST", id, "purge", StepRequest{Reason: reason})
}

// step sends a lifecycle step. Objects the log names and the store lacks
// are in the result's Store.Missing: the step was recorded, and they are
// evidence lost.
func (c *Client) step(ctx context.Context, method, id, path string, req StepRequest) (*StepResult, error) {
	var res StepResult
	if err := c.call(ctx, method, "/v1/orders/"+url.PathEscape(id)+"/"+path, req, &res); err != nil {
		return nil, err
	}
	if res.Order == nil {
		return nil, errors.New("the daemon's answer holds no order")
	}
	return &res, nil
}

// ReadItem reads the content of the item of order id whose SHA-256 is sum
// (GET /v1/orders/{id}/items/{sha256}); the daemon logs item.accessed by
// this identity first. The reader re-hashes what it reads: at its end,
// content that does not hash to sum is an error matching chain.ErrTamper.
// An answer cut short is an error too, not tampering in itself: the daemon
// cuts off an item it finds altered while it sends it (and logs
// fixity.failed), but a network can cut it as well. The caller must close
// it.
func (c *Client) ReadItem(ctx context.Context, id, sum string) (io.ReadCloser, error) {
	res, err := c.send(ctx, "GET", "/v1/orders/"+url.PathEscape(id)+"/items/"+url.PathEscape(sum), nil)
	if err != nil {
		return nil, err
	}
	return &itemReader{body: res.Body, h: sha256.New(), want: sum}, nil
}

// itemReader checks an item's content against its digest as it is read.
type itemReader struct {
	body io.ReadCloser
	h    hash.Hash
	want string
}

func (r *itemReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	r.h.Write(p[:n])
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, fmt.Errorf("item %s: the daemon's answer was cut short (it cuts off an item it finds altered; its log says whether it did): %w", r.want, err)
	case errors.Is(err, io.EOF):
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.want {
			return n, fmt.Errorf("item %s: the content read hashes to %s: %w", r.want, got, chain.ErrTamper)
		}
	}
	return n, err
}

func (r *itemReader) Close() error { return r.body.Close() }

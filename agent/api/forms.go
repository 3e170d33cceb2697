package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/order"
)

// ImportResult is an imported EU form, as POST /v1/forms and `custos
// order import --output json` give it: the form, and either the order it
// made (an EPOC-PR or EPOC: the receipt, as POST /v1/orders answers) or,
// for an Annex V or VI applied to an order received before, only what the
// step did (Step): the intake that sends forms reads no order. The fields
// are in the order their JSON names sort.
type ImportResult struct {
	Applied bool         `json:"applied"`
	Form    FormSummary  `json:"form"`
	Order   *order.Order `json:"order,omitempty"`
	Step    *FormStep    `json:"step,omitempty"`
}

// FormSummary names an imported form.
type FormSummary struct {
	CertificateID string         `json:"certificate_id"`
	SHA256        string         `json:"sha256"`
	Type          order.FormType `json:"type"`
}

// FormStep is what an Annex V or VI did to its order: the order's id,
// status and expiry after the step, and its objects in the store.
type FormStep struct {
	ExpiresAt time.Time    `json:"expires_at"`
	Order     string       `json:"order"`
	Status    order.Status `json:"status"`
	Store     *StepStore   `json:"store"`
}

// NewImportResult describes what agent.Registry.Import did.
func NewImportResult(r *agent.ImportResult) *ImportResult {
	out := &ImportResult{
		Applied: r.Applied,
		Form:    FormSummary{CertificateID: r.Form.CertificateID(), SHA256: r.Form.SHA256, Type: r.Form.Type},
	}
	if !r.Applied {
		out.Order = r.Order
		return out
	}
	out.Step = &FormStep{ExpiresAt: r.Order.ExpiresAt, Order: r.Order.ID, Status: r.Order.Status, Store: NewStepResult(r.Order, r.Store).Store}
	return out
}

// ImportForm sends an EU form's XML, read from form (POST /v1/forms): an
// EPOC-PR or EPOC becomes an order, an Annex V or VI holds or extends the
// order it names. A refused form is an *Error with code invalid_form
// whose Fields name the form's fields. A new order is received even when
// the form could not be preserved as its document: docErr then says why,
// and err is nil.
func (c *Client) ImportForm(ctx context.Context, form io.Reader) (res *ImportResult, docErr string, err error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/v1/forms", form)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/xml")
	answer, err := c.do(req)
	if err != nil {
		return nil, "", err
	}
	defer answer.Body.Close()
	res = &ImportResult{}
	if err := json.NewDecoder(answer.Body).Decode(res); err != nil {
		return nil, "", fmt.Errorf("the daemon's answer: %w", err)
	}
	if res.Order == nil && res.Step == nil {
		return nil, "", fmt.Errorf("the daemon's answer holds no order")
	}
	return res, answer.Header.Get(DocumentErrorHeader), nil
}

package scheduler

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/custos-evidence/custos/agent/order"
)

// The headers of a reminder webhook (see the package doc).
const (
	HeaderTimestamp = "X-Custos-Timestamp"
	HeaderSignature = "X-Custos-Signature"
	HeaderDelivery  = "X-Custos-Delivery"
)

// ReminderType is the Type of every Reminder.
const ReminderType = "custos.order.expiry_reminder"

// Reminder is the JSON body of a reminder webhook. It never carries the
// order's selectors: they are personal data.
type Reminder struct {
	Type string `json:"type"` // ReminderType
	// Delivery identifies this reminder of this order: the same on every
	// retry, so a receiver can drop repeats.
	Delivery   string    `json:"delivery"`
	Order      string    `json:"order"`
	Reference  string    `json:"reference"`
	Authority  string    `json:"authority"`
	Status     string    `json:"status"`
	ExpiresAt  time.Time `json:"expires_at"`
	DaysLeft   int       `json:"days_left"`
	Lead       string    `json:"lead"`        // "14d": the profile's lead time
	ReminderAt time.Time `json:"reminder_at"` // the expiry less the lead
}

func newReminder(o *order.Order, d order.Deadline, at time.Time, lead order.Days) *Reminder {
	return &Reminder{
		Type: ReminderType, Delivery: deliveryID(o.ID, at), Order: o.ID, Reference: o.Reference,
		Authority: o.Authority, Status: string(o.Status), ExpiresAt: o.ExpiresAt.UTC(), DaysLeft: d.DaysLeft,
		Lead: lead.String(), ReminderAt: at.UTC(),
	}
}

// deliveryID names the reminder of order at time at, here and in the state
// file.
func deliveryID(order string, at time.Time) string {
	return order + "/" + at.UTC().Format(time.RFC3339Nano)
}

// webhook posts signed reminders.
type webhook struct {
	url    string
	shown  string // scheme and host only, for errors and logs: a path, a query or credentials may carry a token
	secret []byte
	client *http.Client
}

// maxAnswer is how much of a webhook's answer is read (and discarded).
const maxAnswer = 64 << 10

func newWebhook(cfg Config) *webhook {
	u, _ := url.Parse(cfg.Webhook) // checked by validate
	w := &webhook{
		url: cfg.Webhook, shown: u.Scheme + "://" + u.Host,
		secret: bytes.Clone(cfg.WebhookSecret), client: cfg.HTTPClient,
	}
	if w.client == nil {
		w.client = &http.Client{
			Timeout: 10 * time.Second,
			// A redirect would carry the signed reminder somewhere not
			// configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return w
}

// send posts v (a Reminder or a DeadlineNotice) as JSON, signed at now,
// with its delivery id; only a 2xx answer is success.
func (w *webhook) send(ctx context.Context, now time.Time, delivery string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.shown, w.scrub(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "custos-scheduler")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, "sha256="+sign(w.secret, ts, body))
	req.Header.Set(HeaderDelivery, delivery)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.shown, w.scrub(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: answered %s", w.shown, resp.Status)
	}
	return nil
}

// sign is the hex HMAC-SHA256, under secret, of timestamp "." body.
func sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// scrub drops the URL net/http puts in its errors: its path, query or
// credentials may carry a token, which must not reach a log line.
func (w *webhook) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

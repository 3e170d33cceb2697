package api

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"

	"github.com/custos-evidence/custos/chain"
)

// Event is one log entry: its index and its canonical encoding, the exact
// bytes its leaf hash is computed over.
type Event struct {
	Index uint64          `json:"index"`
	Event json.RawMessage `json:"event"`
}

// EventPage is a page of GET /v1/events.
type EventPage struct {
	Events []Event `json:"events"`
	// Next is the index to ask for the next page from; Size the log's
	// durable size when the page was read.
	Next uint64 `json:"next"`
	Size uint64 `json:"size"`
}

// NoteRequest is the body of POST /v1/notes: a custody note, about an
// order or about none.
type NoteRequest struct {
	Order string `json:"order,omitempty"`
	Note  string `json:"note"`
}

// eventPageSize is how many events AllEvents asks for at a time.
const eventPageSize = 1000

// EventsQuery selects a page of events: from log index From, at most
// Limit (0: the daemon's default, 100; at most 1000), of one Order unless
// it is empty.
type EventsQuery struct {
	From  uint64
	Limit int
	Order string
}

// Events is a page of the custody events this identity may see (GET
// /v1/events). Ask for the next page from its Next, until Next reaches
// its Size.
func (c *Client) Events(ctx context.Context, q EventsQuery) (*EventPage, error) {
	v := url.Values{"from": {strconv.FormatUint(q.From, 10)}}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Order != "" {
		v.Set("order", q.Order)
	}
	var page EventPage
	if err := c.call(ctx, "GET", "/v1/events?"+v.Encode(), nil, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// AllEvents pages through the events this identity may see from index
// from, of one order unless order is empty, each parsed from its
// canonical encoding. It stops at the first error.
func (c *Client) AllEvents(ctx context.Context, order string, from uint64) iter.Seq2[*chain.Record, error] {
	return func(yield func(*chain.Record, error) bool) {
		for {
			page, err := c.Events(ctx, EventsQuery{From: from, Limit: eventPageSize, Order: order})
			if err != nil {
				yield(nil, err)
				return
			}
			for _, ev := range page.Events {
				rec, err := ev.Record()
				if !yield(rec, err) || err != nil {
					return
				}
			}
			if page.Next >= page.Size || page.Next <= from {
				return
			}
			from = page.Next
		}
	}
}

// Record parses the event, as the log holds it.
func (e *Event) Record() (*chain.Record, error) {
	ev, err := chain.ParseEvent(e.Event)
	if err != nil {
		return nil, fmt.Errorf("entry %d from the daemon: %w", e.Index, err)
	}
	return &chain.Record{Index: e.Index, Event: ev, Encoded: e.Event}, nil
}

// Note records a custody note (what happened outside the agent: a paper
// order received, a call from the authority) by this identity, about
// order unless it is empty (POST /v1/notes). It returns the entry logged.
func (c *Client) Note(ctx context.Context, order, note string) (*Event, error) {
	var ev Event
	if err := c.call(ctx, "POST", "/v1/notes", NoteRequest{Order: order, Note: note}, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// Checkpoint is the newest signed checkpoint covering every durable entry
// (GET /v1/checkpoint), the C2SP signed note as the daemon sent it. Its
// signature is not checked here: chain.ParseCheckpoint checks it against
// the provider's key, obtained apart from the daemon.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.text(ctx, "/v1/checkpoint")
}

// InclusionProof is the C2SP tlog-proof of entry index against the newest
// checkpoint (GET /v1/proofs/inclusion/{index}).
func (c *Client) InclusionProof(ctx context.Context, index uint64) ([]byte, error) {
	return c.text(ctx, "/v1/proofs/inclusion/"+strconv.FormatUint(index, 10))
}

// ConsistencyProof is the proof that the kept checkpoint of size newer
// extends the one of size older (GET /v1/proofs/consistency): its hashes,
// base64, one a line.
func (c *Client) ConsistencyProof(ctx context.Context, older, newer uint64) ([]byte, error) {
	return c.text(ctx, "/v1/proofs/consistency?old="+strconv.FormatUint(older, 10)+"&new="+strconv.FormatUint(newer, 10))
}

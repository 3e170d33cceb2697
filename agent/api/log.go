package api

import (
	"encoding/json"
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

package api

import (
	"time"

	"github.com/custos-evidence/custos/agent"
)

// DisclosureRequest is the body of POST /v1/orders/{id}/disclosures.
type DisclosureRequest struct {
	Items      []string `json:"items,omitempty"`
	Categories []string `json:"categories,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	Format     string   `json:"format,omitempty"` // zip (default) or tar
}

// Disclosure is a package built through the API, as the API answers with
// it and the daemon keeps its record. Download is the path of its package
// (GET, until the daemon's disclosure retention ends; then Removed is
// set). SHA256 is the package's digest, logged in disclosure.created.
type Disclosure struct {
	ID         string                `json:"id"`
	Order      string                `json:"order"`
	File       string                `json:"file"`
	SHA256     string                `json:"sha256"`
	Size       int64                 `json:"size"`
	Items      []agent.DisclosedItem `json:"items"`
	Partial    bool                  `json:"partial"`
	Events     int                   `json:"events"`
	Checkpoint uint64                `json:"checkpoint_size"`
	Index      uint64                `json:"index"`
	Encrypted  bool                  `json:"encrypted"`
	Created    time.Time             `json:"created"`
	Identity   string                `json:"identity"`
	Download   string                `json:"download"`
	Removed    time.Time             `json:"removed,omitzero"`
}

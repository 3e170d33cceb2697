package disclosure

import (
	"encoding/json"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// What the package's custody files say, read by the writer from its
// inputs and by the verifier from the package: one type each, so the two
// sides cannot drift apart.

// orderRecord is what a package uses of custody/order.json, the agent's
// canonical order record (its SHA-256, named by the order's newest order
// event, binds all of it): bag-info.txt's order fields, README.txt and
// case.jsonld's authorization.
type orderRecord struct {
	ID              string    `json:"id"`
	Reference       string    `json:"reference"`
	Authority       string    `json:"authority"`
	RequestingState string    `json:"requesting_state"`
	Profile         string    `json:"profile"`
	LegalBasis      string    `json:"legal_basis"`
	ReceivedAt      time.Time `json:"received_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	Selectors       []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"selectors"`
	Categories []string `json:"categories"`
}

func parseOrderRecord(b []byte) (*orderRecord, error) {
	var r orderRecord
	if err := chain.CheckJSONKeys(b, &r); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// predicate is the predicate of the statement a package carries
// (PredicateType): what was disclosed, to whom, when, and from which log.
type predicate struct {
	Order       string            `json:"order"`
	Reference   string            `json:"reference"`
	Recipient   string            `json:"recipient"`
	DisclosedAt time.Time         `json:"disclosed_at"`
	Agent       string            `json:"agent"`
	Actor       string            `json:"actor"`
	Partial     bool              `json:"partial"`
	Checkpoint  checkpointRef     `json:"checkpoint"`
	Events      eventsRef         `json:"events"`
	Files       map[string]string `json:"files"` // the SHA-256 of signedTagFiles: nothing else signs them
	Items       []File            `json:"items"`
}

// checkpointRef names the checkpoint every proof of the package is
// against.
type checkpointRef struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Hash   []byte `json:"hash"`
}

// eventsRef binds the events a package carries: how many, and the newest's
// index and EventHash, so that dropping any, even the newest, breaks the
// signed statement.
type eventsRef struct {
	Count     int    `json:"count"`
	LastIndex uint64 `json:"last_index"`
	LastHash  string `json:"last_sha256"`
}

package api

import (
	"context"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// Timestamp is one RFC 3161 token the log keeps over one of its
// checkpoints, checked against it (chain.CheckKeptTimestamps): size,
// authority, genTime, and whether the token covers the checkpoint. Trust
// in the authority is not checked: custos verify does, with the
// verifier's own roots.
type Timestamp struct {
	Size    uint64    `json:"size"`
	TSA     string    `json:"tsa"`
	File    string    `json:"file"` // its path in the data directory: log/timestamps/<size>.<tsa>.tsr
	GenTime time.Time `json:"gen_time,omitzero"`
	Digest  string    `json:"digest,omitempty"`
	Matches bool      `json:"digest_matches"`
	Problem string    `json:"problem,omitempty"`
}

// TimestampList is the answer of GET /v1/timestamps.
type TimestampList struct {
	Timestamps []Timestamp `json:"timestamps"`
}

// NewTimestamp is the token c describes, as the API lists it.
func NewTimestamp(c chain.TimestampCheck) Timestamp {
	return Timestamp{Size: c.Size, TSA: c.TSA, File: "log/" + c.File, GenTime: c.GenTime, Digest: c.Digest,
		Matches: c.Problem == "", Problem: c.Problem}
}

// Timestamps lists the tokens the log keeps over its checkpoints, by
// size then authority (GET /v1/timestamps).
func (c *Client) Timestamps(ctx context.Context) ([]Timestamp, error) {
	var list TimestampList
	if err := c.call(ctx, "GET", "/v1/timestamps", nil, &list); err != nil {
		return nil, err
	}
	return list.Timestamps, nil
}

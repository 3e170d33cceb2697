package agent

import (
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/chain"
)

// HeldItem is an item an order holds: preserved and not purged.
type HeldItem struct {
	Digest  chain.Digest
	Key     string
	Size    int64 // -1 when the log does not say (an item preserved before batches)
	Spooled bool  // in the spool, not yet in the store
	// Index is the log index of the event that preserved it: its batch's
	// items.sealed, or its item.preserved before batches.
	Index uint64
	// Batch is the batch that sealed it, Record and Line its record there
	// (decoded, and its canonical bytes) and Leaf its place in the batch's
	// manifest; all zero for an item preserved before batches.
	Batch  *capture.LoggedBatch
	Record *chain.ItemRecord
	Line   []byte
	Leaf   uint64
}

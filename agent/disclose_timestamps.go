package agent

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// packageTimestamps gathers, from the log directory fsys, the tokens a
// package of events carries (docs/package.md, custody/timestamps): for
// the order's receipt, its first sealed items and its first disclosure
// among events, every token over the smallest kept checkpoint that
// includes that event and that cp covers, with that checkpoint and the
// consistency proof from it to cp. A role with no such token is left out:
// the package then proves no time for it.
func packageTimestamps(ctx context.Context, fsys fs.FS, events []*chain.Record, cp *chain.Checkpoint) ([]disclosure.Timestamp, error) {
	kept, err := chain.KeptTimestamps(fsys)
	if err != nil || len(kept) == 0 {
		return nil, err
	}
	var want []uint64 // the first event of each role, by index
	seen := map[string]bool{}
	for _, e := range events {
		role := ""
		switch e.Event.Type {
		case chain.OrderReceived:
			role = "received"
		case chain.ItemsSealed, chain.ItemPreserved:
			role = "sealed"
		case chain.DisclosureCreated:
			role = "disclosed"
		}
		if role != "" && !seen[role] {
			seen[role] = true
			want = append(want, e.Index)
		}
	}
	sizes := map[uint64]bool{}
	for _, idx := range want {
		for _, k := range kept {
			if k.Size > idx && k.Size <= cp.Size {
				sizes[k.Size] = true
				break
			}
		}
	}
	var out []disclosure.Timestamp // by size, then authority, as kept
	proofs := map[uint64][][]byte{}
	for _, k := range kept {
		if !sizes[k.Size] {
			continue
		}
		t, err := packageTimestamp(ctx, fsys, k, cp, proofs)
		if err != nil {
			return nil, fmt.Errorf("timestamp %s: %w", k.File, err)
		}
		out = append(out, *t)
	}
	return out, nil
}

func packageTimestamp(ctx context.Context, fsys fs.FS, k chain.KeptTimestamp, cp *chain.Checkpoint, proofs map[uint64][][]byte) (*disclosure.Timestamp, error) {
	tok, err := fs.ReadFile(fsys, k.File)
	if err != nil {
		return nil, err
	}
	note, err := fs.ReadFile(fsys, chain.CheckpointsDir+"/"+strconv.FormatUint(k.Size, 10))
	if err != nil {
		return nil, err
	}
	// A token that does not cover its checkpoint never leaves.
	if _, err := chain.ParseTimestamp(k.File, tok, note); err != nil {
		return nil, err
	}
	hashes, ok := proofs[k.Size]
	if !ok && k.Size < cp.Size {
		if hashes, err = chain.BuildConsistencyProof(ctx, fsys, k.Size, cp.Size); err != nil {
			return nil, err
		}
		proofs[k.Size] = hashes
	}
	return &disclosure.Timestamp{TSA: k.TSA, Size: k.Size, Token: tok, Checkpoint: note, Consistency: hashes}, nil
}

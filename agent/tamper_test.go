package agent

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// TestOneSentinelOfTampering: chain.ErrTamper is the one sentinel callers
// check. The store's finding that an object does not match its digest
// (storage.ErrTamper, declared there because storage imports nothing of
// ours) is the same in errors.Is, both ways; an I/O failure is neither.
func TestOneSentinelOfTampering(t *testing.T) {
	store := fmt.Errorf("get orders/x/items/y: %w", storage.ErrTamper)
	log := &chain.TamperError{File: "tile/entries/000", Index: 3, What: "not a custody event"}
	for name, err := range map[string]error{"the store's": store, "the log's": log, "wrapped twice": fmt.Errorf("fixity: %w", store)} {
		if !errors.Is(err, chain.ErrTamper) || !errors.Is(err, storage.ErrTamper) {
			t.Errorf("%s tampering is not matched by both sentinels: %v", name, err)
		}
	}
	for _, err := range []error{io.ErrUnexpectedEOF, storage.ErrUnavailable, storage.ErrNotExist, errors.New("tampering detected")} {
		if errors.Is(err, chain.ErrTamper) {
			t.Errorf("%v matches chain.ErrTamper", err)
		}
	}
}

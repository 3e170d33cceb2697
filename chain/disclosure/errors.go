package disclosure

import (
	"fmt"

	"github.com/custos-evidence/custos/chain"
)

// noIndex is the index of a finding that concerns no single event.
const noIndex = chain.NoIndex

// tamper is a finding that the package is not what was signed, or not a
// package at all.
func tamper(file string, index int64, format string, args ...any) *chain.TamperError {
	return &chain.TamperError{File: file, Index: index, What: fmt.Sprintf(format, args...)}
}

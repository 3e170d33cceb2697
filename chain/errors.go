package chain

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTamper matches, through errors.Is, every finding that the log, a
// checkpoint, an event or a proof is not what was signed: tampering, a
// wrong key or a missing piece. It never matches an I/O failure.
var ErrTamper = errors.New("tampering detected")

// TamperError names one piece of evidence that does not verify and where it is.
type TamperError struct {
	File  string // path inside the log directory or package, if known
	Index int64  // log index of the entry concerned, or -1
	What  string // what does not hold
}

// NoIndex is the Index of a TamperError that concerns no single entry.
const NoIndex = -1

func (e *TamperError) Error() string {
	var b strings.Builder
	b.WriteString("tampering detected: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Index >= 0 {
		fmt.Fprintf(&b, "entry %d: ", e.Index)
	}
	b.WriteString(e.What)
	return b.String()
}

// Is makes errors.Is(err, ErrTamper) true for every TamperError.
func (e *TamperError) Is(target error) bool { return target == ErrTamper }

func tamper(file string, index int64, format string, args ...any) *TamperError {
	return &TamperError{File: file, Index: index, What: fmt.Sprintf(format, args...)}
}

package chain

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTamper matches, through errors.Is, every finding that the log, a
// checkpoint, an event, a proof or a stored object is not what was signed
// or stored: tampering, a wrong key or a missing piece. It never matches an
// I/O failure. It is the one sentinel of tampering callers check: the
// evidence store's (storage.ErrTamper, which storage declares because it
// imports nothing of ours) is the same in errors.Is, both ways, as is any
// sentinel with a Tampering method (see tamperSentinel).
var ErrTamper error = tamperSentinel("tampering detected")

// tamperSentinel is a sentinel of tampering. errors.Is finds one sentinel
// of tampering where another is asked for: the marker method Tampering is
// what they share, so that packages which cannot import each other have
// one sentinel in effect.
type tamperSentinel string

func (s tamperSentinel) Error() string { return string(s) }

// Tampering marks a sentinel of tampering.
func (tamperSentinel) Tampering() {}

// Is makes every sentinel of tampering match every other.
func (tamperSentinel) Is(target error) bool { return isTamperSentinel(target) }

func isTamperSentinel(err error) bool {
	_, ok := err.(interface{ Tampering() })
	return ok
}

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
func (e *TamperError) Is(target error) bool { return isTamperSentinel(target) }

func tamper(file string, index int64, format string, args ...any) *TamperError {
	return &TamperError{File: file, Index: index, What: fmt.Sprintf(format, args...)}
}

// ErrLogFailed matches, through errors.Is, the error of every write to a
// Log after a check of its files found tampering (see Log.Verify): the
// log refuses to append or sign until it is restored. Such an error also
// matches ErrTamper.
var ErrLogFailed = errors.New("the custody log failed verification")

// LogFailedError is the error of a Log that found tampering in its files.
// It names the first problem found and what the operator does next.
type LogFailedError struct {
	Problem *TamperError // the first problem found
	More    int          // how many more were found
}

func (e *LogFailedError) Error() string {
	more := ""
	if e.More > 0 {
		more = fmt.Sprintf(" (and %d more problems)", e.More)
	}
	return fmt.Sprintf("%s: %v%s; refusing to write to it: run `custos log verify` to see every problem, then `custos log restore` to rebuild the log from its mirror in the evidence store",
		ErrLogFailed, e.Problem, more)
}

// Unwrap gives the problem, a *TamperError.
func (e *LogFailedError) Unwrap() error { return e.Problem }

// Is makes errors.Is(err, ErrLogFailed) true.
func (e *LogFailedError) Is(target error) bool { return target == ErrLogFailed }

// logFailed makes the LogFailedError of err, a verification's error
// holding one or more *TamperError, or nil if it holds none.
func logFailed(rep *LogReport, err error) *LogFailedError {
	te := asTamper(err)
	if te == nil {
		return nil
	}
	more := 0
	if rep != nil && len(rep.Problems) > 1 {
		more = len(rep.Problems) - 1
	}
	return &LogFailedError{Problem: te, More: more}
}

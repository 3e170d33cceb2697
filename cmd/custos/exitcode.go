package main

import (
	"errors"
	"fmt"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// Exit codes of custos. They are part of its interface: scripts branch on
// them, so a number never changes meaning.
const (
	exitOK     = 0 // the command did what was asked
	exitError  = 1 // it failed: I/O, a locked data directory, a bad key file, ...
	exitUsage  = 2 // bad flags, arguments or configuration; nothing was done
	exitTamper = 3 // verification failed: tampering, a wrong key or a missing piece
	exitExtra  = 4 // verified, but the copy holds extra files (.DS_Store, __MACOSX/) that are not part of the package
)

// exitCodesHelp is shown in `custos --help`.
const exitCodesHelp = `EXIT CODES:
   0  success
   1  error (I/O, locked data directory, unreadable key, ...)
   2  usage: bad flags, arguments or configuration; nothing was done
   3  verification failed: tampering found, wrong key or missing evidence
   4  verified, but the copy holds extra files that are not part of the package (.DS_Store, __MACOSX/)`

// exitCode maps an error to the process exit code. It is the only place
// that does: commands return errors and never exit.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, chain.ErrTamper):
		return exitTamper
	case errors.Is(err, disclosure.ErrExtraFiles):
		return exitExtra
	case errors.As(err, &ue), errors.Is(err, api.ErrBadRequest):
		// The daemon refusing a request as made (client mode) is bad
		// input too, as it is in-process.
		return exitUsage
	default:
		return exitError
	}
}

// usageError marks an error in how custos was invoked or configured.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// argCountError is the usage error for a wrong number of arguments.
func argCountError(cmd, want string, args []string) error {
	if want == "" {
		return usageErrorf("%s: unexpected arguments %q", cmd, args)
	}
	return usageErrorf("%s: need %s", cmd, want)
}

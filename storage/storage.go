// Package storage keeps evidence: write-once objects addressed by key, each
// with the SHA-256 its writer computed while streaming it, a retention date
// that can only be extended, and a legal hold.
//
// Two stores implement the same contract: Local, a directory under the data
// directory (the embedded default), and — to come — S3 with Object Lock.
// Every read re-hashes what it returns and fails with ErrTamper on any
// difference. Consumers declare the methods they use; this package exports
// concrete types and the errors they classify into.
package storage

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Errors every store classifies its failures into; test with errors.Is.
var (
	ErrNotExist     = errors.New("object does not exist")
	ErrExist        = errors.New("a different object exists under this key")
	ErrPrecondition = errors.New("precondition failed")
	ErrRetention    = errors.New("object is under retention or legal hold")
	ErrTamper       = errors.New("stored object does not match its digest")
	ErrInvalidKey   = errors.New("invalid object key")
)

// PutOptions are the custody properties of a new object.
type PutOptions struct {
	SHA256      string    // lower-case hex of the content, computed by the caller while streaming
	RetainUntil time.Time // zero: no retention
	LegalHold   bool
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key         string
	Size        int64
	SHA256      string
	RetainUntil time.Time
	LegalHold   bool
	Created     time.Time
}

// CheckKey refuses keys that could name something outside the store:
// empty, absolute, with "." or ".." segments, back slashes, or not clean.
func CheckKey(key string) error {
	switch {
	case key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") || strings.ContainsRune(key, 0):
	case path.Clean(key) != key:
	default:
		for _, seg := range strings.Split(key, "/") {
			if seg == "." || seg == ".." || seg == "" {
				return fmt.Errorf("%w %q", ErrInvalidKey, key)
			}
		}
		return nil
	}
	return fmt.Errorf("%w %q", ErrInvalidKey, key)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Package storage keeps evidence: write-once objects addressed by key, each
// with the SHA-256 its writer computed while streaming it, a retention date
// that can only be extended, and a legal hold.
//
// Two stores implement the same contract: Local, a directory under the data
// directory (the embedded default), and S3 with Object Lock.
// Every read re-hashes what it returns and fails with ErrTamper on any
// difference. Consumers declare the methods they use; this package exports
// concrete types and the errors they classify into.
package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Errors every store classifies its failures into; test with errors.Is.
var (
	ErrNotExist           = errors.New("object does not exist")
	ErrExist              = errors.New("a different object exists under this key")
	ErrPrecondition       = errors.New("precondition failed")
	ErrRetention          = errors.New("object is under retention or legal hold")
	ErrTamper       error = tamperSentinel("stored object does not match its digest")
	ErrInvalidKey         = errors.New("invalid object key")
)

// PutOptions are the custody properties of a new object.
type PutOptions struct {
	SHA256      string    // lower-case hex of the content, computed by the caller while streaming
	RetainUntil time.Time // zero: no retention
	LegalHold   bool
	// Deferred lets the put return before the object is durable: the
	// object is readable at once, and durable after the store's next
	// Sync. A caller storing many objects (a batch of items) makes them
	// all durable with one Sync instead of paying for each.
	Deferred bool
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key         string
	Size        int64
	SHA256      string
	RetainUntil time.Time
	LegalHold   bool
	Created     time.Time

	// Set by the S3 store: the object's version, ETag, the checksum the
	// server verified ("CRC32C:<base64>" or "CRC64NVME:<base64>", with
	// " (when staged)" for content committed in parts) and the multipart
	// part size (0 for a single put).
	VersionID string
	ETag      string
	Checksum  string
	PartSize  int64
}

// Staged is content streamed once into a store, hashed, and not yet
// visible under any key. Commit places it; Discard drops it. A capture
// learns an item's digest, and so its content-addressed key, only after
// streaming it: Stage then Commit is the single pass it needs.
type Staged struct {
	Size   int64
	SHA256 string

	commit  func(ctx context.Context, key string, opts PutOptions) (*ObjectInfo, error)
	discard func(ctx context.Context) error
}

// Commit places the staged content under key, write-once, with the
// retention and legal hold of opts, and discards the staging copy.
// opts.SHA256, if set, must equal the staged digest (ErrPrecondition). An
// identical object already there is success; a different one is ErrExist.
func (s *Staged) Commit(ctx context.Context, key string, opts PutOptions) (*ObjectInfo, error) {
	return s.commit(ctx, key, opts)
}

// Discard drops staged content that will not be committed.
func (s *Staged) Discard(ctx context.Context) error { return s.discard(ctx) }

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

// checkPut refuses a put before anything is written: a bad key, a digest
// that is not SHA-256 hex, or a retention date that is not in the future.
func checkPut(key string, opts PutOptions, now time.Time) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if !isHex(opts.SHA256, 64) {
		return fmt.Errorf("put %s: sha256 %q is not 64 lower-case hex digits: %w", key, opts.SHA256, ErrPrecondition)
	}
	if !opts.RetainUntil.IsZero() && !opts.RetainUntil.After(now) {
		return fmt.Errorf("put %s: retention date %s is in the past: %w", key, opts.RetainUntil.Format(time.RFC3339), ErrRetention)
	}
	return nil
}

// tamperSentinel is storage's sentinel of tampering. Like chain's
// (chain.ErrTamper), it has a Tampering method, and each matches the other
// in errors.Is: callers above storage check chain.ErrTamper alone.
type tamperSentinel string

func (s tamperSentinel) Error() string { return string(s) }

// Tampering marks a sentinel of tampering.
func (tamperSentinel) Tampering() {}

// Is makes every sentinel of tampering match every other.
func (tamperSentinel) Is(target error) bool {
	_, ok := target.(interface{ Tampering() })
	return ok
}

package storage

import (
	"context"
	"io"
)

// SetCopyLimits makes commits of staged content above maxBytes copy parts
// of partBytes, until the test ends: the part-by-part copy of content over
// 5 GiB, exercised with small objects.
func SetCopyLimits(t interface{ Cleanup(func()) }, maxBytes, partBytes int64) {
	oldMax, oldPart := maxCopy, copyPartSize
	maxCopy, copyPartSize = maxBytes, partBytes
	t.Cleanup(func() { maxCopy, copyPartSize = oldMax, oldPart })
}

// CommitInParts stages r and copies it to key part by part, without the
// look at key that commits make first: what a commit meets when another
// writer puts key between that look and the completion.
func CommitInParts(ctx context.Context, s *S3, r io.Reader, key string, opts PutOptions) (*ObjectInfo, error) {
	st, err := s.stage(ctx, r)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.discard(ctx) }()
	opts.SHA256 = st.SHA256
	return st.commitParts(ctx, key, opts)
}

// HeldLocks is how many keys of l have a lock in its table.
func HeldLocks(l *Local) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.locks)
}

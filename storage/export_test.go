package storage

// SetCopyLimits makes commits of staged content above maxBytes copy parts
// of partBytes, until the test ends: the part-by-part copy of content over
// 5 GiB, exercised with small objects.
func SetCopyLimits(t interface{ Cleanup(func()) }, maxBytes, partBytes int64) {
	oldMax, oldPart := maxCopy, copyPartSize
	maxCopy, copyPartSize = maxBytes, partBytes
	t.Cleanup(func() { maxCopy, copyPartSize = oldMax, oldPart })
}

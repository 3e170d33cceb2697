package source

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
)

// Estimator is a source that can tell, before a capture, about how many
// bytes the capture will read: the total of a progress bar. An estimate is
// only that (files change, some are skipped); it never decides what is
// preserved.
type Estimator interface {
	Estimate(ctx context.Context, req Request) (int64, error)
}

// Estimate is the size of the file.
func (s *fileSource) Estimate(_ context.Context, _ Request) (int64, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Estimate is the total size of the regular files the walk selects; it
// does not follow symlinks.
func (s *dirSource) Estimate(ctx context.Context, _ Request) (int64, error) {
	var total int64
	err := filepath.WalkDir(s.p.Root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // the capture reports it
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		name, rerr := filepath.Rel(s.p.Root, path)
		if rerr != nil || name == "." {
			return nil
		}
		name = filepath.ToSlash(name)
		if d.IsDir() {
			if s.matches(s.p.Exclude, name) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || (len(s.p.Include) > 0 && !s.matches(s.p.Include, name)) || s.matches(s.p.Exclude, name) {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			total += fi.Size()
		}
		return nil
	})
	return total, err
}

package chain

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// sweepTemp removes from the log directory dir what writes cut short left
// behind. The POSIX driver writes each file as a temporary beside it,
// named after it with random digits appended, and then links or renames
// it into place; a write that fails on a full disk leaves that temporary
// behind, empty or part-written (the driver forgets its name before it
// removes it), and so does a crash. Our own temporaries (.tmp-*) are left
// only by a crash. None is ever part of the log. Run before the driver
// starts, with the data directory locked.
func sweepTemp(dir string) error {
	err := filepath.WalkDir(filepath.Join(dir, "tile"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && isDriverTileTemp(d.Name()) {
			return removeTemp(p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for sub, names := range map[string][]string{
		".":             {CheckpointPath},
		".state":        {"treeState", "gcState", "version"},
		CheckpointsDir:  nil,
		TimestampsDir:   nil,
		CosignaturesDir: nil,
	} {
		if err := sweepDir(filepath.Join(dir, sub), names); err != nil {
			return err
		}
	}
	return nil
}

// sweepDir removes, from one directory, our temporaries and the driver's
// temporaries of the files named.
func sweepDir(dir string, names []string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		temp := isTempName(e.Name())
		for _, n := range names {
			digits, ok := strings.CutPrefix(e.Name(), n)
			temp = temp || (ok && allDigits(digits))
		}
		if temp {
			if err := removeTemp(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// isDriverTileTemp reports whether name, of a file under tile/, is a
// temporary of the driver: a file of the layout is named by three digits
// (a tile or bundle) or by a partial width of at most three digits, so a
// name of more digits is one of those with random digits appended.
func isDriverTileTemp(name string) bool {
	return len(name) > 3 && allDigits(name)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func removeTemp(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

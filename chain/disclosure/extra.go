package disclosure

import (
	"errors"
	"io/fs"
	"path"
	"strings"
)

// Extra files (issue 18 item 7). A copy of a package made on a Mac, or
// unpacked from a zip one made, carries files no builder wrote: .DS_Store
// (Finder's folder settings), ._NAME (AppleDouble: a file's extended
// attributes) and a top-level __MACOSX/ (where the Archive Utility keeps
// them). They are not part of the package and change nothing in it: the
// verifier sets them aside, names them as extra files, and checks the
// package without them. Nothing of the package can be one: payload names
// never start with a dot (the builder replaces it) and the format's own
// names are fixed. Any other file that is not part of the format is still
// a failed files check: tampering.

// ErrExtraFiles is what a caller returns, wrapped, for a package that
// verified but whose copy carries extra files (Report.ExtraFiles): it is
// not tampering, and custos verify gives it its own exit status.
var ErrExtraFiles = errors.New("the copy holds extra files that are not part of the package")

// macOSArchiveDir is where macOS's Archive Utility keeps the extended
// attributes of a zip's files.
const macOSArchiveDir = "__MACOSX"

// copyArtefact says whether the entry p of the package is a file that an
// operating system or archiver adds to a copy, and if so what a WalkDir
// callback returns for it (fs.SkipDir for a directory).
func copyArtefact(p string, dir bool) (extra bool, skip error) {
	base := path.Base(p)
	switch {
	case dir && p == macOSArchiveDir:
		return true, fs.SkipDir
	case dir:
		return false, nil
	case base == ".DS_Store", strings.HasPrefix(base, "._"):
		return true, nil
	}
	return false, nil
}

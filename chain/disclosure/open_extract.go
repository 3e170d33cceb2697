package disclosure

import (
	"archive/tar"
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// Names longer than Linux allows are refused as such, whatever the
// file system, so that every verifier refuses the same packages.
const (
	maxNameBytes    = 4096 // PATH_MAX
	maxElementBytes = 255  // NAME_MAX
)

// extractor writes the entries of one archive into root, holding every
// rule and limit of Open.
type extractor struct {
	ctx     context.Context
	root    *os.Root
	opts    OpenOptions
	archive string // the received file's base name, for messages
	inSize  int64  // bytes of the archive, for the ratio; 0 for a directory
	buf     []byte // the one copy buffer

	entries int
	total   int64           // bytes written so far
	dirs    map[string]bool // directory entries seen
}

// shown is name as a chain.TamperError may carry it: quoted when it holds
// anything a terminal could take for a command.
func shown(name string) string {
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return strconv.Quote(name)
		}
	}
	return name
}

// checkName refuses any name but a clean relative path of a package.
func checkName(name string) error {
	bad := func(format string, args ...any) error {
		return tamper(shown(name), noIndex, format, args...)
	}
	switch {
	case name == "":
		return bad("an entry without a name")
	case !utf8.ValidString(name):
		return bad("name is not valid UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return bad("name holds a control character")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path refused: a package holds only relative names")
	case strings.Contains(name, `\`):
		return bad(`name holds a backslash: refused, as a path separator elsewhere`)
	case len(name) > maxNameBytes:
		return bad("name longer than %d bytes", maxNameBytes)
	}
	for _, elem := range strings.Split(name, "/") {
		switch {
		case elem == "..":
			return bad("path escapes the package (..)")
		case len(elem) > maxElementBytes:
			return bad("path element longer than %d bytes", maxElementBytes)
		}
	}
	if !fs.ValidPath(name) || name == "." {
		return bad("name is not clean (an empty or . element, or a trailing /)")
	}
	return nil
}

// entry counts one entry and checks its name.
func (x *extractor) entry(name string) error {
	if err := x.ctx.Err(); err != nil {
		return err
	}
	x.entries++
	if x.entries > x.opts.MaxEntries {
		return tamper(x.archive, noIndex, "more than %d entries (limit MaxEntries)", x.opts.MaxEntries)
	}
	return checkName(name)
}

// dir makes the directory of a directory entry.
func (x *extractor) dir(name string) error {
	if x.dirs[name] {
		return tamper(shown(name), noIndex, "duplicate entry: the name appears twice")
	}
	x.dirs[name] = true
	return x.mkdirAll(name, name)
}

// mkdirAll makes dir and its parents for the entry name.
func (x *extractor) mkdirAll(dir, name string) error {
	err := x.root.MkdirAll(dir, 0o700)
	if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTDIR) {
		return tamper(shown(name), noIndex, "duplicate entry: %s is both a file and a directory", shown(dir))
	}
	if err != nil {
		return fmt.Errorf("extract %s: %w", shown(name), err)
	}
	return nil
}

// file writes the file of a regular entry from r. compressed is the most
// bytes of the archive r can read, for the ratio; -1 when the archive as
// a whole is the only measure.
func (x *extractor) file(name string, r io.Reader, compressed int64) error {
	if dir := path.Dir(name); dir != "." {
		if err := x.mkdirAll(dir, name); err != nil {
			return err
		}
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if fi, err := x.root.Lstat(name); err == nil && fi.IsDir() {
			return tamper(shown(name), noIndex, "duplicate entry: %s is both a file and a directory", shown(name))
		}
		return tamper(shown(name), noIndex, "duplicate entry: the name appears twice")
	}
	if err != nil {
		return fmt.Errorf("extract %s: %w", shown(name), err)
	}
	err = x.copy(name, f, r, compressed)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("extract %s: %w", shown(name), cerr)
	}
	return err
}

// copy streams r into w through the one buffer, checking every limit
// before each write: a file never grows past a limit on disk.
func (x *extractor) copy(name string, w io.Writer, r io.Reader, compressed int64) error {
	var n int64
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		k, rerr := r.Read(x.buf)
		if k > 0 {
			n += int64(k)
			x.total += int64(k)
			if err := x.limit(name, n, compressed); err != nil {
				return err
			}
			if _, err := w.Write(x.buf[:k]); err != nil {
				return fmt.Errorf("extract %s: %w", shown(name), err)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return x.readErr(name, rerr)
		}
	}
}

// limit checks the limits once n bytes of name are read.
func (x *extractor) limit(name string, n, compressed int64) error {
	o := x.opts
	switch {
	case n > o.MaxEntryBytes:
		return tamper(shown(name), noIndex, "larger than the limit of %d bytes for one file (limit MaxEntryBytes)", o.MaxEntryBytes)
	case x.total > o.MaxTotalBytes:
		return tamper(shown(name), noIndex, "the package's files pass the limit of %d bytes in all (limit MaxTotalBytes)", o.MaxTotalBytes)
	case compressed >= 0 && n > ratioSlack && n/o.MaxRatio > compressed:
		return tamper(shown(name), noIndex, "expands more than %d times (limit MaxRatio): a zip bomb", o.MaxRatio)
	case x.inSize > 0 && x.total > ratioSlack && x.total/o.MaxRatio > x.inSize:
		return tamper(shown(name), noIndex, "the archive expands more than %d times its size (limit MaxRatio)", o.MaxRatio)
	}
	return nil
}

// readErr sorts a read error: cancellation and I/O failures are returned
// as they are; anything else is the archive or its encryption failing to
// parse, a damaged package.
func (x *extractor) readErr(name string, err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &pe):
		return fmt.Errorf("read package %s: %w", x.archive, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return tamper(shown(name), noIndex, "damaged package: it ends too soon (truncated)")
	}
	return tamper(shown(name), noIndex, "damaged package: %v", err)
}

// tarCounter counts the bytes the tar reader consumed, to find where the
// archive ended.
type tarCounter struct {
	r io.Reader
	n int64
}

func (c *tarCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// tar extracts a tar stream. archive/tar reads exactly the blocks it
// needs, so the count below it says where each entry ends.
func (x *extractor) tar(r io.Reader) error {
	c := &tarCounter{r: r}
	tr := tar.NewReader(c)
	var end int64 // where the last entry's data and padding end
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			// Go's reader stops at a zero block followed by a zero block or
			// by the end of the stream: only the first is the whole marker.
			if c.n < end+2*512 {
				return tamper(x.archive, noIndex, "damaged package: the tar lacks its end-of-archive marker (truncated)")
			}
			return x.tarPadding(r)
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return x.readErr(x.archive, err)
		}
		start := c.n
		if err := x.tarEntry(tr, hdr); err != nil {
			return err
		}
		end = start
		if hdr.Typeflag == tar.TypeReg {
			end += (hdr.Size + 511) &^ 511
		}
	}
}

// tarPadding reads what follows the end-of-archive marker: zeros only, the
// padding of a tar to its record size. Anything else is hidden from a
// reader that stops at the marker, so it is refused.
func (x *extractor) tarPadding(r io.Reader) error {
	for {
		k, err := r.Read(x.buf)
		if slices.ContainsFunc(x.buf[:k], func(b byte) bool { return b != 0 }) {
			return tamper(x.archive, noIndex, "data after the end of the tar archive")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return x.readErr(x.archive, err)
		}
	}
}

// archiveName is an entry's name without the "./" that an archive of the
// current directory puts before each (tar -cf x.tar . writes "./",
// "./bagit.txt", ...); root reports the entry of the root itself. The
// name left is checked as any other.
func archiveName(name string) (_ string, root bool) {
	if name == "." || name == "./" {
		return name, true
	}
	return strings.TrimPrefix(name, "./"), false
}

// tarEntry extracts one tar entry, refusing every type but files and
// directories.
func (x *extractor) tarEntry(tr *tar.Reader, hdr *tar.Header) error {
	name := hdr.Name
	refuse := func(format string, args ...any) error {
		return tamper(shown(name), noIndex, format+": a package holds only files and directories", args...)
	}
	name, root := archiveName(name)
	if root && hdr.Typeflag == tar.TypeDir {
		return nil // "./", of tar -cf x.tar .: the package root itself
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return refuse("sparse file refused")
			}
		}
	case tar.TypeDir:
		name = strings.TrimSuffix(name, "/")
	case tar.TypeSymlink:
		return refuse("symbolic link to %s refused", strconv.Quote(hdr.Linkname))
	case tar.TypeLink:
		return refuse("hard link to %s refused", strconv.Quote(hdr.Linkname))
	case tar.TypeChar, tar.TypeBlock:
		return refuse("device file refused")
	case tar.TypeFifo:
		return refuse("named pipe refused")
	case tar.TypeGNUSparse:
		return refuse("sparse file refused")
	case tar.TypeXGlobalHeader:
		return refuse("pax global header refused")
	default:
		return refuse("entry of type %q refused", hdr.Typeflag)
	}
	if err := x.entry(name); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		return x.dir(name)
	}
	if hdr.Size > x.opts.MaxEntryBytes {
		return tamper(shown(name), noIndex, "larger than the limit of %d bytes for one file (limit MaxEntryBytes)", x.opts.MaxEntryBytes)
	}
	return x.file(name, tr, -1)
}

// zipSource reads a zip file. An offset before its start, which only a
// damaged zip makes archive/zip ask for, is a format error rather than the
// I/O error *os.File would give.
type zipSource struct{ r io.ReaderAt }

func (z zipSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errZipFormat
	}
	return z.r.ReadAt(p, off)
}

// zip extracts the zip r of size bytes.
func (x *extractor) zip(f io.ReaderAt, size int64) error {
	r := zipSource{f}
	// archive/zip holds the whole central directory in memory: count it
	// first, in a streaming pass.
	if err := x.zipIndex(r, size); err != nil {
		return err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return x.readErr(x.archive, err)
	}
	if err := x.zipExact(r, size, zr.File); err != nil {
		return err
	}
	for _, zf := range zr.File {
		if err := x.zipEntry(zf, size); err != nil {
			return err
		}
	}
	return nil
}

// zipEntry extracts one zip entry, refusing every type but files and
// directories.
func (x *extractor) zipEntry(zf *zip.File, size int64) error {
	name, root := archiveName(zf.Name)
	if root && zf.Mode().IsDir() {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return tamper(shown(name), noIndex, format, args...)
	}
	mode := zf.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return refuse("symbolic link refused: a package holds only files and directories")
	case mode.IsDir():
		name = strings.TrimSuffix(name, "/")
	case mode.Type() != 0:
		return refuse("special file (%v) refused: a package holds only files and directories", mode.Type())
	case zf.Flags&0x1 != 0:
		return refuse("encrypted zip entry refused")
	}
	if err := x.entry(name); err != nil {
		return err
	}
	if mode.IsDir() {
		return x.dir(name)
	}
	if zf.UncompressedSize64 > uint64(x.opts.MaxEntryBytes) {
		return refuse("larger than the limit of %d bytes for one file (limit MaxEntryBytes)", x.opts.MaxEntryBytes)
	}
	rc, err := zf.Open()
	if errors.Is(err, zip.ErrAlgorithm) {
		return refuse("compression method %d not supported", zf.Method)
	}
	if err != nil {
		return x.readErr(name, err)
	}
	defer rc.Close()
	// The entry's reader cannot read more than CompressedSize64 bytes,
	// nor more than the archive holds.
	return x.file(name, rc, int64(min(zf.CompressedSize64, uint64(size))))
}

// openDirectory opens a directory package in place, after walking it: it
// must hold only regular files and directories under clean names, within
// the limits on entries and bytes (so that a package is accepted or
// refused alike in every form).
func openDirectory(ctx context.Context, dir string, opts OpenOptions) (_ *Package, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	defer func() {
		if err != nil {
			root.Close()
		}
	}()
	x := &extractor{ctx: ctx, root: root, opts: opts, archive: filepath.Base(abs)}
	fsys := root.FS()
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || name == "." {
			return err
		}
		if err := x.entry(name); err != nil {
			return err
		}
		return x.dirEntry(name, d)
	})
	if err != nil {
		return nil, err
	}
	return &Package{FS: fsys, Dir: abs, root: root,
		Outer: OuterFile{Path: dir, Kind: "directory"}}, nil
}

// dirEntry checks one entry of a directory package.
func (x *extractor) dirEntry(name string, d fs.DirEntry) error {
	switch t := d.Type(); {
	case t&fs.ModeSymlink != 0:
		target, err := x.root.Readlink(name)
		if err != nil {
			return tamper(shown(name), noIndex, "symbolic link refused: a package holds none")
		}
		return tamper(shown(name), noIndex, "symbolic link to %s refused: a package holds none", strconv.Quote(target))
	case t.IsDir():
		return nil
	case t != 0:
		return tamper(shown(name), noIndex, "special file (%v) refused: a package holds only files and directories", t)
	}
	info, err := d.Info()
	if err != nil {
		return fmt.Errorf("open package: %w", err)
	}
	x.total += info.Size()
	return x.limit(name, info.Size(), -1)
}

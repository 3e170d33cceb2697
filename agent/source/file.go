package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fileParams are the parameters of a "file" source: one file.
//
//   - path (required): the file, an absolute path. It must lie inside one
//     of roots; a symlink (the file itself or a directory on the way) is
//     followed only while it stays inside that root.
//   - roots: the directories the file may be read from, absolute paths;
//     by default the directory of path. The item's name is the path
//     relative to the innermost root that holds it.
//   - include_newer: preserve the file even when it was modified after the
//     capture's cut-off; by default such a file is skipped and counted
//     (Summary "skipped_newer"), because only data that existed when the
//     order was received is preserved.
type fileParams struct {
	Path         string   `json:"path"`
	Roots        []string `json:"roots"`
	IncludeNewer bool     `json:"include_newer"`
}

// fileSource captures one file through an os.Root, so that nothing
// outside its root can be read, even through a symlink swapped in while
// the capture runs.
type fileSource struct {
	path, root, name string // name: path relative to root, slash-separated
	includeNewer     bool
}

func newFile(params map[string]any) (Source, error) {
	var p fileParams
	if err := decodeParams(params, &p); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if p.Path == "" || !filepath.IsAbs(p.Path) {
		return nil, fmt.Errorf("file: path %q is not an absolute path", p.Path)
	}
	file := filepath.Clean(p.Path)
	roots := p.Roots
	if len(roots) == 0 {
		roots = []string{filepath.Dir(file)}
	}
	best := ""
	for _, r := range roots {
		if r == "" || !filepath.IsAbs(r) {
			return nil, fmt.Errorf("file: root %q is not an absolute path", r)
		}
		r = filepath.Clean(r)
		if within(r, file) && len(r) > len(best) {
			best = r
		}
	}
	if best == "" {
		return nil, fmt.Errorf("file: path %s is outside the allowed roots %s", file, strings.Join(roots, ", "))
	}
	rel, err := filepath.Rel(best, file)
	if err != nil {
		return nil, fmt.Errorf("file: path %s: %w", file, err)
	}
	return &fileSource{path: file, root: best, name: filepath.ToSlash(rel), includeNewer: p.IncludeNewer}, nil
}

// within reports whether file lies strictly inside dir; both are clean,
// absolute paths, compared as written (no symlink is resolved here: the
// os.Root the capture opens does that safely).
func within(dir, file string) bool {
	if dir == file {
		return false
	}
	if dir == string(filepath.Separator) {
		return true
	}
	return strings.HasPrefix(file, dir+string(filepath.Separator))
}

func (s *fileSource) Kind() string { return "file" }

// Capture preserves the file, or skips and counts it when it is newer than
// the cut-off. A symlink that leaves the root, a dangling one, or a path
// that is not a regular file is an error naming it, and nothing is
// preserved.
func (s *fileSource) Capture(ctx context.Context, req Request, emit Emit) (Summary, error) {
	c, err := openTree(s.root, req, s.includeNewer)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", s.path, err)
	}
	defer c.close()
	if err := ctx.Err(); err != nil {
		return c.sum.summary(), err
	}
	link := ""
	if fi, err := c.root.Lstat(filepath.FromSlash(s.name)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, sk, err := c.classifyLink(s.name)
		if err != nil {
			return c.sum.summary(), fmt.Errorf("file %s: %w", s.path, err)
		}
		if sk != nil {
			return c.sum.summary(), fmt.Errorf("file %s: %s", s.path, sk.why())
		}
		link = target
	}
	sk, err := c.capture(s.name, link, emit)
	if err != nil {
		return c.sum.summary(), err
	}
	if sk != nil && sk.kind != skipNewer {
		return c.sum.summary(), fmt.Errorf("file %s: %s", s.path, sk.why())
	}
	return c.sum.summary(), nil
}

// tree is one capture of files under one root. Every file is opened
// through root, an os.Root: a name that leads outside it, by "..", an
// absolute symlink or a symlink that climbs out, cannot be opened, even
// if the link was swapped in after the walk saw a plain file or directory.
type tree struct {
	root         *os.Root
	rootPath     string // as configured
	cutOff       time.Time
	includeNewer bool
	names        map[string]string // "u1000" / "g100": the user or group name, "" if unknown
	sum          treeSummary
}

func openTree(rootPath string, req Request, includeNewer bool) (*tree, error) {
	if req.CutOff.IsZero() && !includeNewer {
		return nil, errors.New("the request has no cut-off time")
	}
	root, err := os.OpenRoot(rootPath)
	if err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	return &tree{root: root, rootPath: rootPath, cutOff: req.CutOff, includeNewer: includeNewer,
		names: map[string]string{}, sum: treeSummary{includeNewer: includeNewer}}, nil
}

func (c *tree) close() { _ = c.root.Close() }

// abs is the absolute path of name (relative to the root, slash-separated)
// as configured: the path a person would type to find it.
func (c *tree) abs(name string) string { return filepath.Join(c.rootPath, filepath.FromSlash(name)) }

// Why a file was not preserved.
const (
	skipNewer    = "newer than the cut-off"
	skipOutside  = "symlink leaves the root"
	skipDangling = "dangling symlink"
	skipLinkDir  = "symlink to a directory (not followed)"
	skipBadLink  = "symlink cannot be resolved"
	skipSpecial  = "not a regular file"
)

// skip says why a file was not preserved, for the summary.
type skip struct {
	kind   string // one of the skip... constants
	name   string
	detail string // the link's target, the time, the file type, the error
}

func (s *skip) why() string {
	if s.detail == "" {
		return s.kind
	}
	return s.kind + " (" + s.detail + ")"
}

// classifyLink decides what becomes of the symlink name: its target when
// it names a regular file inside the root (it is followed), or why it is
// skipped. An absolute target is always outside: os.Root refuses it, and
// resolving it by hand would trust a path outside the root's descriptor.
func (c *tree) classifyLink(name string) (string, *skip, error) {
	rel := filepath.FromSlash(name)
	target, err := c.root.Readlink(rel)
	if err != nil {
		return "", nil, fmt.Errorf("read symlink %s: %w", c.abs(name), err)
	}
	sk := &skip{name: name, detail: "-> " + target}
	if filepath.IsAbs(target) {
		sk.kind = skipOutside
		return target, sk, nil
	}
	fi, err := c.root.Stat(rel)
	switch {
	case err == nil && fi.IsDir():
		sk.kind = skipLinkDir
	case err == nil && !fi.Mode().IsRegular():
		sk.kind, sk.detail = skipSpecial, sk.detail+", "+fileType(fi.Mode())
	case err == nil:
		return target, nil, nil
	case errors.Is(err, fs.ErrNotExist):
		sk.kind = skipDangling
	case leavesRoot(err):
		sk.kind = skipOutside
	default:
		sk.kind, sk.detail = skipBadLink, sk.detail+": "+pathErrText(err)
	}
	return target, sk, nil
}

// leavesRoot reports whether err is os.Root's refusal of a name that
// leads outside it. os.Root has no sentinel for it; its refusal is the one
// path error that is neither "not found" nor an error of the system.
func leavesRoot(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) && !errors.As(pe.Err, &errno)
}

func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// capture opens name under the root and passes it to emit, or says why it
// skipped it. link is the symlink's target when name is a followed link.
// What is recorded is what the open file says (fstat), not what the walk
// saw, so a file swapped after the walk listed it is described as read.
func (c *tree) capture(name, link string, emit Emit) (*skip, error) {
	// O_NONBLOCK: a FIFO swapped in for a file must not block the open.
	f, err := c.root.OpenFile(filepath.FromSlash(name), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if leavesRoot(err) {
			return c.sum.skip(&skip{kind: skipOutside, name: name, detail: "found when opened: " + pathErrText(err)}), nil
		}
		return nil, fmt.Errorf("open %s: %w", c.abs(name), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", c.abs(name), err)
	}
	if !fi.Mode().IsRegular() {
		return c.sum.skip(&skip{kind: skipSpecial, name: name, detail: fileType(fi.Mode())}), nil
	}
	if !c.includeNewer && fi.ModTime().After(c.cutOff) {
		return c.sum.skip(&skip{kind: skipNewer, name: name, detail: "modified " + stamp(fi.ModTime())}), nil
	}
	it := &Item{
		Name:      name,
		MediaType: mime.TypeByExtension(path.Ext(name)),
		Modified:  fi.ModTime(),
		Record:    c.record(name, link, fi),
	}
	r := &watchedFile{f: f, path: c.abs(name), size: fi.Size(), mtime: fi.ModTime()}
	if err := emit(it, r); err != nil {
		return nil, err
	}
	c.sum.emitted++
	c.sum.bytes += r.n
	if link != "" {
		c.sum.followed++
	}
	return nil, nil
}

// record describes a file as opened: where it is, its size, mode, times
// and owner.
func (c *tree) record(name, link string, fi fs.FileInfo) map[string]any {
	rec := map[string]any{
		"root":  c.rootPath,
		"path":  c.abs(name),
		"name":  name,
		"size":  fi.Size(),
		"mode":  fi.Mode().String(),
		"mtime": stamp(fi.ModTime()),
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		rec["mode_octal"] = fmt.Sprintf("%04o", uint32(st.Mode)&0o7777)
		rec["uid"], rec["gid"] = int64(st.Uid), int64(st.Gid)
		rec["inode"] = uint64(st.Ino) // not a uint64 on every system
		if u := c.owner("u", st.Uid); u != "" {
			rec["user"] = u
		}
		if g := c.owner("g", st.Gid); g != "" {
			rec["group"] = g
		}
	}
	if link != "" {
		rec["symlink"] = link // the content is that of the file the link names
	}
	return rec
}

// owner resolves a user ("u") or group ("g") id to its name, once per
// capture; "" when the system does not know it.
func (c *tree) owner(kind string, id uint32) string {
	key := kind + strconv.FormatUint(uint64(id), 10)
	if n, ok := c.names[key]; ok {
		return n
	}
	n := ""
	if kind == "u" {
		if u, err := user.LookupId(key[1:]); err == nil {
			n = u.Username
		}
	} else if g, err := user.LookupGroupId(key[1:]); err == nil {
		n = g.Name
	}
	c.names[key] = n
	return n
}

// fileType names what a file that is not a regular file is.
func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "type " + m.Type().String()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// watchedFile reads an open file and fails, naming it, when the file
// changed while it was read: it grew past the size it had when opened, or
// at the end its size or modification time differ from those it had then.
type watchedFile struct {
	f     *os.File
	path  string
	size  int64
	mtime time.Time
	n     int64
}

func (w *watchedFile) Read(p []byte) (int, error) {
	n, err := w.f.Read(p)
	w.n += int64(n)
	if w.n > w.size {
		return n, fmt.Errorf("%s changed while it was read: it grew beyond the %d bytes it had when opened", w.path, w.size)
	}
	if err != io.EOF {
		return n, err
	}
	fi, serr := w.f.Stat()
	if serr != nil {
		return n, fmt.Errorf("stat %s after reading it: %w", w.path, serr)
	}
	if w.n != w.size || fi.Size() != w.size || !fi.ModTime().Equal(w.mtime) {
		return n, fmt.Errorf("%s changed while it was read: size %d when opened, %d read, %d at the end; modified %s when opened, %s at the end",
			w.path, w.size, w.n, fi.Size(), stamp(w.mtime), stamp(fi.ModTime()))
	}
	return n, io.EOF
}

// maxListed bounds the skipped files a summary names; the counts cover
// them all.
const maxListed = 100

// treeSummary counts what a capture of files did beyond its items.
type treeSummary struct {
	includeNewer bool
	emitted      int
	bytes        int64
	followed     int // symlinks followed to a file inside the root
	excluded     int // files and directories left out by include/exclude
	counts       map[string]int
	listed       []map[string]string
}

func (s *treeSummary) skip(sk *skip) *skip {
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[sk.kind]++
	if len(s.listed) < maxListed {
		s.listed = append(s.listed, map[string]string{"name": sk.name, "reason": sk.why()})
	}
	return sk
}

// summary is the Summary of a file or dir capture: "emitted" and "bytes"
// (items preserved), "symlinks_followed", "excluded" (by the globs),
// "skipped_newer", "skipped_symlink_outside", "skipped_symlink_dangling",
// "skipped_symlink_dir", "skipped_symlink_unresolved", "skipped_special",
// "include_newer", and "skipped": the first 100 skipped files, each with
// its name and the reason.
func (s *treeSummary) summary() Summary {
	sum := Summary{
		"emitted": s.emitted, "bytes": s.bytes, "symlinks_followed": s.followed, "excluded": s.excluded,
		"include_newer":              s.includeNewer,
		"skipped_newer":              s.counts[skipNewer],
		"skipped_symlink_outside":    s.counts[skipOutside],
		"skipped_symlink_dangling":   s.counts[skipDangling],
		"skipped_symlink_dir":        s.counts[skipLinkDir],
		"skipped_symlink_unresolved": s.counts[skipBadLink],
		"skipped_special":            s.counts[skipSpecial],
	}
	if len(s.listed) > 0 {
		sum["skipped"] = s.listed
	}
	return sum
}

package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
)

// Work in progress (issue 19). A disclosure is built, checked and, when
// encrypted, encrypted in a private directory of its own under
// Config.WorkDir (the data directory's work/, mode 0700), and only then
// moved to the path asked for. A process killed meanwhile leaves that
// directory behind; the next start removes it (Recover, or
// ParkAbandonedWork for a start that may not write the log) and logs
// disclosure.abandoned for each that held any bytes: they were copies of
// evidence. A process killed after it moved its package into place and
// before disclosure.created was logged leaves a package no event
// records: its work directory names it (publishMarker), and the next
// writer's start removes it too.

// workPrefix starts the name of a disclosure's work directory:
// disclose-<order id>-<12 hex digits>.
const workPrefix = "disclose-"

var workOrder = regexp.MustCompile(`^disclose-([0-9A-HJKMNP-TV-Z]{26})-[0-9a-f]{12}$`)

// partialMarker is the file of a work directory that names the partial
// copy it is making beside the output, on another file system.
const partialMarker = "partial"

// publishMarker is the file of a work directory that names the package
// it moves into place, written before the move and removed with the work
// directory once disclosure.created is logged.
const publishMarker = "publishing"

// publishing is what publishMarker holds.
type publishing struct {
	Path   string `json:"path"`   // absolute
	SHA256 string `json:"sha256"` // as disclosure.created records it
	Order  string `json:"order"`
	Dir    bool   `json:"dir,omitempty"` // a directory package
}

// partialName is how such a copy is named: the output's name, then
// .partial- and 12 hex digits.
var partialName = regexp.MustCompile(`.\.partial-[0-9a-f]{12}$`)

// parkedSuffix ends the name of the record a start that may not write the
// log leaves of work it removed, for the next start that may.
const parkedSuffix = ".abandoned.json"

// work is the private directory of one disclosure being built.
type work struct {
	dir   string
	order string // the order disclosed
}

// newWork makes the work directory of a disclosure of order id under
// WorkDir (without one, under the system's temporary directory, where no
// start sweeps it).
func (r *Registry) newWork(id string) (*work, error) {
	root := r.WorkDir
	if root == "" {
		root = os.TempDir()
	} else {
		if err := os.MkdirAll(root, 0o700); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		if err := os.Chmod(root, 0o700); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
	}
	dir := filepath.Join(root, workPrefix+id+"-"+randomHex(6))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	return &work{dir: dir, order: id}, nil
}

func (w *work) path(name string) string { return filepath.Join(w.dir, name) }

func (w *work) remove() { _ = os.RemoveAll(w.dir) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AbandonedWork is what a killed process left in the work directory, as
// a start found it and removed it.
type AbandonedWork struct {
	Name  string `json:"name"`            // its entry in the work directory
	Order string `json:"order,omitempty"` // the order it was for, from its name
	Files int    `json:"files"`           // regular files in it
	Bytes int64  `json:"bytes"`           // their bytes
	// Partial is the partial copy of a package it was making beside the
	// output (on another file system), removed with it.
	Partial string `json:"partial,omitempty"`
	// Published is a package it had moved into place whose
	// disclosure.created was never logged, removed with it.
	Published string `json:"published,omitempty"`

	// publishing is its publishMarker, if it has one; logged says that
	// marker's package was logged as disclosed: the process died after
	// its disclosure was complete, and nothing was abandoned.
	publishing *publishing
	logged     bool
}

// held reports whether it held anything of a package that no
// disclosure.created records.
func (a *AbandonedWork) held() bool { return a.Bytes > 0 && !a.logged }

// sweepWork removes everything in the work directory: at a writer's
// start, what is there was left by a process that died. Each entry that
// held any bytes is logged as disclosure.abandoned (naming its order,
// files and bytes) before it is removed; so are those a start that could
// not write the log removed (ParkAbandonedWork). It returns what it
// found. An entry that cannot be logged is removed all the same: a copy
// of evidence must not stay because the log is unwell; the error says so.
func sweepWork(ctx context.Context, cfg StartConfig) ([]AbandonedWork, error) {
	if cfg.WorkDir == "" {
		return nil, nil
	}
	found, err := scanWork(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range found {
		a := &found[i]
		if a.publishing != nil {
			if err := unpublish(ctx, cfg.Log, a); err != nil {
				errs = append(errs, fmt.Errorf("work %s: %w", a.Name, err))
				continue // left, private, for the next start
			}
		}
		if a.held() {
			if _, err := cfg.Log.Append(ctx, abandonedEvent(*a, cfg)); err != nil {
				errs = append(errs, fmt.Errorf("work %s removed without its disclosure.abandoned event: %w", a.Name, err))
			}
		}
		if err := removeWork(cfg.WorkDir, *a, true); err != nil {
			errs = append(errs, err)
		}
	}
	found = slices.DeleteFunc(found, func(a AbandonedWork) bool { return a.logged })
	return found, errors.Join(errs...)
}

// unpublish removes the package a's work directory was moving into place
// unless disclosure.created of its order logged it (then a.logged): a
// package that no event records must not stay where it was put. A path
// that holds something else (not the package's digest) is left alone.
func unpublish(ctx context.Context, l StartLog, a *AbandonedWork) error {
	p := a.publishing
	sum, err := packageDigest(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never moved, or removed since
	}
	if err != nil {
		return err
	}
	if sum != p.SHA256 {
		return nil
	}
	size, err := l.Size(ctx)
	if err != nil {
		return err
	}
	for rec, err := range chain.Entries(ctx, l.FS(), 0, size) {
		if err != nil {
			return err
		}
		if e := rec.Event; e.Type == chain.DisclosureCreated && e.Order == p.Order && e.Details["package_sha256"] == p.SHA256 {
			a.logged = true
			return nil
		}
	}
	if err := os.RemoveAll(p.Path); err != nil {
		return err
	}
	a.Published = p.Path
	return datadir.SyncDir(filepath.Dir(p.Path))
}

// packageDigest is the digest disclosure.created records of the package
// p names: of its file, or of a directory's tagmanifest-sha256.txt.
func packageDigest(p *publishing) (string, error) {
	path := p.Path
	if p.Dir {
		path = filepath.Join(path, "tagmanifest-sha256.txt")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ParkAbandonedWork removes what a killed process left in the work
// directory root, for a start that may not write the log (a reader): of
// each entry that held bytes it first writes a record (NAME.abandoned.json,
// mode 0600) that the next writer's start (Recover) logs and removes. An
// entry that was moving its package into place is left, private, for that
// writer, which alone can tell from the log whether the package was
// disclosed.
func ParkAbandonedWork(root string) error {
	found, err := scanWork(root)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range found {
		if a.publishing != nil {
			continue
		}
		if a.held() {
			b, err := json.Marshal(a)
			if err == nil {
				err = datadir.WriteFile(filepath.Join(root, a.Name+parkedSuffix), b, 0o600)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("work %s: %w", a.Name, err))
				continue // left for a writer, private as it is
			}
		}
		errs = append(errs, removeWork(root, a, false))
	}
	return errors.Join(errs...)
}

// abandonedEvent is the disclosure.abandoned event of a.
func abandonedEvent(a AbandonedWork, cfg StartConfig) chain.Event {
	e := chain.Event{
		Type: chain.DisclosureAbandoned, Time: cfg.Now().UTC(), Actor: cfg.Agent, Agent: cfg.Agent, Host: cfg.Host,
		Reason: "interrupted: the process building a disclosure stopped before its package was checked and moved into place; " +
			"what it had written was removed at the next start",
		Details: map[string]string{"work": a.Name, "files": strconv.Itoa(a.Files), "bytes": strconv.FormatInt(a.Bytes, 10)},
	}
	if a.Partial != "" {
		e.Details["partial"] = a.Partial
	}
	if a.Published != "" {
		e.Details["published"] = a.Published
		e.Reason = "interrupted: the process building a disclosure stopped after it moved its package into place and " +
			"before it logged the disclosure; the package and what it had written were removed at the next start"
	}
	if chain.ValidateOrderID(a.Order) == nil {
		e.Order = a.Order
	}
	return e
}

// scanWork lists what the work directory root holds, measured, changing
// nothing: each entry, and each record a reader parked (which stands for
// its entry, if a reader was killed while removing it).
func scanWork(root string) ([]AbandonedWork, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	parked := map[string]AbandonedWork{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), parkedSuffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		var a AbandonedWork
		b, err := readSmall(filepath.Join(root, e.Name()))
		if err == nil && json.Unmarshal(b, &a) == nil && a.Name == name {
			parked[name] = a
		}
	}
	var out []AbandonedWork
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, datadir.TempPrefix) {
			_ = os.Remove(filepath.Join(root, name)) // a record half-written
			continue
		}
		if a, ok := parked[name]; ok {
			out = append(out, a)
			continue
		}
		if strings.HasSuffix(name, parkedSuffix) {
			if _, ok := parked[strings.TrimSuffix(name, parkedSuffix)]; ok {
				continue
			}
		}
		out = append(out, measureWork(root, name))
	}
	for name, a := range parked {
		if _, err := os.Lstat(filepath.Join(root, name)); errors.Is(err, fs.ErrNotExist) {
			out = append(out, a)
		}
	}
	return out, nil
}

// measureWork counts the files and bytes of the entry name of root, and
// of the partial copy beside an output its marker names.
func measureWork(root, name string) AbandonedWork {
	a := AbandonedWork{Name: name}
	if m := workOrder.FindStringSubmatch(name); m != nil {
		a.Order = m[1]
	}
	count := func(p string) {
		_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					a.Files++
					a.Bytes += fi.Size()
				}
			}
			return nil
		})
	}
	dir := filepath.Join(root, name)
	count(dir)
	if b, err := readSmall(filepath.Join(dir, publishMarker)); err == nil {
		var p publishing
		if json.Unmarshal(b, &p) == nil && filepath.IsAbs(p.Path) && chain.ValidateOrderID(p.Order) == nil {
			a.publishing = &p
		}
	}
	if b, err := readSmall(filepath.Join(dir, partialMarker)); err == nil {
		if p := string(b); filepath.IsAbs(p) && partialName.MatchString(p) {
			a.Partial = p
			count(p)
		}
	}
	return a
}

// removeWork removes a's entry and partial copy, and with parked its
// parked record.
func removeWork(root string, a AbandonedWork, parked bool) error {
	var errs []error
	if a.Partial != "" && partialName.MatchString(a.Partial) {
		errs = append(errs, os.RemoveAll(a.Partial))
	}
	errs = append(errs, os.RemoveAll(filepath.Join(root, a.Name)))
	if parked {
		if err := os.Remove(filepath.Join(root, a.Name+parkedSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("work %s: %w", a.Name, err)
	}
	return nil
}

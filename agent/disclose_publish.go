package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"filippo.io/age"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// A package is written into its work directory, opened and verified there
// by the code `custos verify` runs (disclosure.Open and Verify, trusting
// only the log's key), encrypted if it is to be, and only then moved to
// the path asked for. Nothing of it is visible there before it verified.

// builtPackage is a package ready in its work directory.
type builtPackage struct {
	path   string // in the work directory
	sha256 string // as disclosure.created records it
	files  []disclosure.File
	dir    bool // a directory package
}

// buildPackage writes the package of c into w, verifies it and, with
// recipients, encrypts it. out is the path asked for: its extension
// chooses the form.
func (r *Registry) buildPackage(ctx context.Context, w *work, out string, c *disclosure.Contents, recipients []age.Recipient) (*builtPackage, error) {
	name := "package"
	f := disclosure.FormatFor(out)
	if f != disclosure.FormatDir {
		name += "." + string(f)
	}
	written, err := disclosure.Write(ctx, w.path(name), c)
	if err != nil {
		return nil, err
	}
	if err := r.verifyPackage(ctx, w, written); err != nil {
		return nil, err
	}
	b := &builtPackage{path: written.Path, sha256: written.SHA256, files: written.Files, dir: f == disclosure.FormatDir}
	if len(recipients) == 0 {
		return b, nil
	}
	enc := written.Path + ".age"
	if b.sha256, err = disclosure.Encrypt(ctx, enc, written.Path, written.SHA256, recipients); err != nil {
		return nil, err
	}
	b.path = enc
	return b, nil
}

// verifyPackage opens and verifies the package as an investigator would,
// trusting only the log's key; an archive is extracted into w. A package
// that does not verify is never let go: the error names what failed and
// matches chain.ErrTamper.
func (r *Registry) verifyPackage(ctx context.Context, w *work, written *disclosure.Written) error {
	trust, err := chain.ParseTrustLine(r.Log.Key().Verifier)
	if err != nil {
		return fmt.Errorf("the log's key: %w", err)
	}
	pkg, err := disclosure.Open(ctx, written.Path, disclosure.OpenOptions{TempDir: w.dir})
	if err != nil {
		return fmt.Errorf("the package built does not open: %w", err)
	}
	defer pkg.Close()
	if pkg.Outer.SHA256 != "" && pkg.Outer.SHA256 != written.SHA256 {
		return &chain.TamperError{File: written.Path, Index: chain.NoIndex,
			What: fmt.Sprintf("the package hashes to %s, written as %s", pkg.Outer.SHA256, written.SHA256)}
	}
	rep, err := disclosure.Verify(ctx, pkg.FS, trust)
	if err != nil && !errors.Is(err, chain.ErrTamper) {
		return fmt.Errorf("verify the package built: %w", err)
	}
	if rep.Result != disclosure.ResultOK {
		return fmt.Errorf("the package built does not verify (%s failed): %w", strings.Join(rep.Failed(), ", "), errors.Join(rep.Err(), chain.ErrTamper))
	}
	return nil
}

// publish moves the package b to final, which must not exist: a link (a
// file) or a rename (a directory) on the same file system, else a copy
// under a partial name beside final that w's marker names, so that a
// start after a kill removes it too. Before it moves anything, w's
// publishMarker names final, so that a start after a kill that came
// before disclosure.created was logged removes the package.
func (w *work) publish(ctx context.Context, b *builtPackage, final string) error {
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("%s exists: a package is never written over", final)
	}
	abs, err := filepath.Abs(final)
	if err != nil {
		return err
	}
	marker, err := json.Marshal(publishing{Path: abs, SHA256: b.sha256, Order: w.order, Dir: b.dir})
	if err != nil {
		return err
	}
	if err := datadir.WriteFile(w.path(publishMarker), marker, 0o600); err != nil {
		return err
	}
	if b.dir {
		err = os.Rename(b.path, final)
	} else {
		err = os.Link(b.path, final)
	}
	if errors.Is(err, syscall.EXDEV) {
		return w.publishCopy(ctx, b, final)
	}
	if err != nil {
		return err
	}
	return datadir.SyncDir(filepath.Dir(final))
}

// publishCopy copies b to a partial name beside final (an archive checked
// against its digest as it is copied) and moves it into place.
func (w *work) publishCopy(ctx context.Context, b *builtPackage, final string) error {
	partial := final + ".partial-" + randomHex(6)
	abs, err := filepath.Abs(partial)
	if err != nil {
		return err
	}
	if err := datadir.WriteFile(w.path(partialMarker), []byte(abs), 0o600); err != nil {
		return err
	}
	defer os.RemoveAll(partial)
	if b.dir {
		err = copyTree(ctx, b.path, partial)
	} else {
		err = copyFile(ctx, b.path, partial, b.sha256)
	}
	if err != nil {
		return fmt.Errorf("copy the package to %s: %w", filepath.Dir(final), err)
	}
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("%s exists: a package is never written over", final)
	}
	if b.dir {
		err = os.Rename(partial, final)
	} else {
		err = os.Link(partial, final)
	}
	if err != nil {
		return err
	}
	return datadir.SyncDir(filepath.Dir(final))
}

// copyFile copies src to the new file dst (mode 0600), synced, and checks
// that what it copied hashes to sum.
func copyFile(ctx context.Context, src, dst, sum string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), &ctxReader{ctx: ctx, r: in}); err != nil {
		return err
	}
	if sum != "" {
		if got := hex.EncodeToString(h.Sum(nil)); got != sum {
			return &chain.TamperError{File: src, Index: chain.NoIndex, What: fmt.Sprintf("the package hashes to %s, checked as %s", got, sum)}
		}
	}
	return out.Sync()
}

// copyTree copies the directory package src to the new directory dst
// (directories 0700, files 0600, each synced) and verifies nothing: the
// caller does.
func copyTree(ctx context.Context, src, dst string) error {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(to, 0o700)
		case d.Type().IsRegular():
			return copyFile(ctx, p, to, "")
		}
		return fmt.Errorf("%s: not a file or directory", p)
	})
	if err != nil {
		return err
	}
	return datadir.SyncTree(dst)
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

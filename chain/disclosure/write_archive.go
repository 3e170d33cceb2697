package disclosure

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// ParseRecipients reads the recipients of an encrypted package: age X25519
// public keys (age1...) and SSH public keys (ssh-ed25519, ssh-rsa).
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		k = strings.TrimSpace(k)
		var (
			r   age.Recipient
			err error
		)
		if strings.HasPrefix(k, "ssh-") {
			r, err = agessh.ParseRecipient(k)
		} else {
			r, err = age.ParseX25519Recipient(k)
		}
		if err != nil {
			return nil, fmt.Errorf("recipient %q: not an age (age1...) or SSH public key: %v", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Format is the form a package is written in.
type Format string

// The formats: a directory, a zip or a tar file.
const (
	FormatDir Format = "dir"
	FormatZip Format = "zip"
	FormatTar Format = "tar"
)

// FormatFor tells the format from the output path: .zip, .tar, else a
// directory.
func FormatFor(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".zip":
		return FormatZip
	case ".tar":
		return FormatTar
	}
	return FormatDir
}

// packageWriter receives the files of a package one after another. Nothing
// is visible at the output path until close has succeeded; abort removes
// everything written. What it writes is evidence: files are mode 0600 and
// directories 0700, readable by the writer's user alone (the modes inside
// an archive, 0644, are the recipient's business).
type packageWriter interface {
	// create opens the next file, name slash-separated; size is exact.
	create(name string, size int64) (io.WriteCloser, error)
	// close finishes the package and moves it into place; it returns the
	// path written and the SHA-256 of the file (empty for a directory).
	close() (path, sha256 string, err error)
	abort()
}

// newPackageWriter writes a package of format f to out, which must not
// exist; with recipients, a zip or tar is encrypted with age to out+".age".
func newPackageWriter(out string, f Format, recipients []age.Recipient, modTime time.Time) (packageWriter, error) {
	final := out
	if len(recipients) > 0 {
		if f == FormatDir {
			return nil, errors.New("an encrypted package is a .zip or a .tar: give --out PATH.zip or PATH.tar")
		}
		final = out + ".age"
	}
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("%s exists: a package is never written over", final)
	}
	tmp := fmt.Sprintf("%s.partial-%s", final, randomSuffix())
	if f == FormatDir {
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return nil, err
		}
		return &dirWriter{tmp: tmp, final: final}, nil
	}
	file, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	a := &archiveWriter{file: file, tmp: tmp, final: final, sum: sha256.New(), modTime: modTime}
	a.out = io.MultiWriter(file, a.sum)
	if len(recipients) > 0 {
		enc, err := age.Encrypt(a.out, recipients...)
		if err != nil {
			a.abort()
			return nil, fmt.Errorf("age: %w", err)
		}
		a.enc = enc
		a.out = enc
	}
	switch f {
	case FormatZip:
		a.zip = zip.NewWriter(a.out)
		a.zip.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(w, a.level)
		})
	default:
		a.tar = tar.NewWriter(a.out)
	}
	return a, nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dirWriter writes a directory package under a temporary name.
type dirWriter struct {
	tmp, final string
}

func (d *dirWriter) create(name string, _ int64) (io.WriteCloser, error) {
	path := filepath.Join(d.tmp, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return syncCloser{f}, nil
}

// syncCloser makes a file durable when it is closed.
type syncCloser struct{ *os.File }

func (s syncCloser) Close() error {
	err := s.Sync()
	return errors.Join(err, s.File.Close())
}

func (d *dirWriter) close() (string, string, error) {
	if err := os.Rename(d.tmp, d.final); err != nil {
		d.abort()
		return "", "", err
	}
	return d.final, "", syncDir(filepath.Dir(d.final))
}

func (d *dirWriter) abort() { _ = os.RemoveAll(d.tmp) }

// archiveWriter writes a zip or a tar, optionally through age.
type archiveWriter struct {
	file       *os.File
	tmp, final string
	sum        hash.Hash
	out        io.Writer
	enc        io.WriteCloser
	zip        *zip.Writer
	tar        *tar.Writer
	modTime    time.Time
	level      int // the deflate level of the zip entry being written
}

func (a *archiveWriter) create(name string, size int64) (io.WriteCloser, error) {
	if a.zip != nil {
		// Every entry is deflated, its CRC-32 and sizes in a data
		// descriptor after it, as a streamed entry must be. A stored entry
		// with a data descriptor is refused by Java's ZipInputStream
		// ("only DEFLATED entries can have EXT descriptor"), and a stored
		// entry without one needs its CRC-32 before its bytes, which a
		// streamed item does not have. Evidence is deflated at level 0:
		// stored blocks of its bytes as they are, no CPU spent compressing
		// and no size surprise (5 bytes per 64 KiB).
		h := &zip.FileHeader{Name: name, Modified: a.modTime, Method: zip.Deflate}
		a.level = 5 // archive/zip's own default
		if strings.HasPrefix(name, "data/") {
			a.level = flate.NoCompression
		}
		h.SetMode(0o644)
		w, err := a.zip.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		return nopCloser{w}, nil
	}
	err := a.tar.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: a.modTime, Format: tar.FormatPAX})
	if err != nil {
		return nil, err
	}
	return &sizedWriter{w: a.tar, left: size, name: name}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// sizedWriter checks that a tar entry gets exactly the bytes its header
// announced.
type sizedWriter struct {
	w    io.Writer
	left int64
	name string
}

func (s *sizedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > s.left {
		return 0, fmt.Errorf("%s: more bytes than its size", s.name)
	}
	n, err := s.w.Write(p)
	s.left -= int64(n)
	return n, err
}

func (s *sizedWriter) Close() error {
	if s.left != 0 {
		return fmt.Errorf("%s: %d bytes short of its size", s.name, s.left)
	}
	return nil
}

func (a *archiveWriter) close() (string, string, error) {
	var err error
	if a.zip != nil {
		err = a.zip.Close()
	} else {
		err = a.tar.Close()
	}
	if err == nil && a.enc != nil {
		err = a.enc.Close()
	}
	if err == nil {
		err = a.file.Sync()
	}
	err = errors.Join(err, a.file.Close())
	if err == nil {
		err = os.Rename(a.tmp, a.final)
	}
	if err != nil {
		_ = os.Remove(a.tmp)
		return "", "", err
	}
	return a.final, hex.EncodeToString(a.sum.Sum(nil)), syncDir(filepath.Dir(a.final))
}

func (a *archiveWriter) abort() {
	_ = a.file.Close()
	_ = os.Remove(a.tmp)
}

// syncDir makes the entries of dir (a rename) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

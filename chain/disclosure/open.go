package disclosure

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"
)

// Opening a package an investigator received (SPEC section 6, issue 5
// item 3). The package is untrusted: an archive is extracted into a private
// directory by rules that refuse anything a package built by custos never
// holds, with limits enforced on the bytes actually written, never on what
// the archive's headers claim. Nothing in it is executed or fetched.

// The defaults of OpenOptions' limits. A package holds one file per item,
// two per custody event and a dozen tag files; the limits leave room for
// the largest orders while keeping a hostile archive from filling the disk.
const (
	// DefaultMaxTotalBytes bounds the bytes of all extracted files together.
	DefaultMaxTotalBytes int64 = 64 << 30
	// DefaultMaxEntryBytes bounds the bytes of one extracted file: one item
	// may be the whole package (a disk image).
	DefaultMaxEntryBytes int64 = 64 << 30
	// DefaultMaxEntries bounds the files and directories of a package.
	DefaultMaxEntries = 1_000_000
	// DefaultMaxRatio bounds how many bytes one byte of an archive may
	// expand to. The builder stores data uncompressed (ratio 1); text
	// compresses 3 to 20 times; deflate's ceiling is about 1032.
	DefaultMaxRatio int64 = 100
)

// ratioSlack is the output below which the ratio is not checked: small
// files of repetitive text compress well and are no threat.
const ratioSlack = 1 << 20

// ErrIdentity is returned, wrapped, when a package is encrypted and no
// identity given can decrypt it. It says nothing about tampering.
var ErrIdentity = errors.New("no identity that decrypts the package")

// OpenOptions says how Open decrypts and what it accepts. The zero
// value opens unencrypted packages with the default limits.
type OpenOptions struct {
	// Identities decrypt an age-encrypted package; ParseIdentities reads
	// them from an --identity file.
	Identities []age.Identity
	// TempDir is where the private directory of an archive is made; ""
	// means os.TempDir().
	TempDir string

	// Limits; zero or negative means the default of the same name.
	MaxTotalBytes int64 // bytes of all files together
	MaxEntryBytes int64 // bytes of one file
	MaxEntries    int   // files and directories
	MaxRatio      int64 // bytes written per byte read, per zip entry and per archive
}

func (o OpenOptions) withDefaults() OpenOptions {
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if o.MaxEntryBytes <= 0 {
		o.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxRatio <= 0 {
		o.MaxRatio = DefaultMaxRatio
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	return o
}

// OuterFile is what the investigator received, as Open found it.
type OuterFile struct {
	Path      string // as given to Open
	Kind      string // "directory", "zip" or "tar": the package's form, once decrypted
	Encrypted bool   // the file was age-encrypted
	Size      int64  // bytes of the file as received; 0 for a directory
	// Recipient is, for an encrypted package, the recipient whose identity
	// decrypted it: "age1..." or "ssh-ed25519 AAAA..." ("" if the
	// identity's type does not say); Report.CheckRecipient compares it
	// with the signed statement's.
	Recipient string
	// SHA256 is the lower-case hex SHA-256 of the file as received (of the
	// .age file if encrypted), the digest the builder logs in
	// disclosure.created; "" for a directory, for which the builder logs
	// the digest of tagmanifest-sha256.txt instead.
	SHA256 string
}

// Package is a package ready for the verifier. Close removes what
// Open extracted.
type Package struct {
	FS    fs.FS  // the package root; confined to Dir
	Dir   string // the package root on disk: the directory given, or the private extraction
	Outer OuterFile

	root    *os.Root
	private string // the private directory to remove; "" for a directory package
}

// Close releases the package and removes its private directory, if any.
// It may be called more than once.
func (p *Package) Close() error {
	if p.root == nil {
		return nil
	}
	err := p.root.Close()
	p.root = nil
	if p.private != "" {
		err = errors.Join(err, os.RemoveAll(p.private))
	}
	return err
}

// Open opens the package at path for verification: a directory, a
// .zip or a .tar, or either archive encrypted with age (the form is read
// from the content, not the name). An archive is extracted into a new
// private directory (mode 0700) under opts.TempDir, removed by Close or
// when Open fails.
//
// A package holds only regular files and directories under clean relative
// names. Anything else is refused with a *chain.TamperError naming the entry: an
// absolute name, a ".." element, an unclean or duplicate name, a symbolic
// or hard link, a device or named pipe, a sparse file; and so is a damaged
// (for instance truncated) archive, and an archive exceeding one of the
// limits of opts (the error names the limit). Every refusal matches
// chain.ErrTamper. A package that none of opts.Identities can decrypt gives an
// error wrapping ErrIdentity; other errors are I/O failures.
//
// Memory stays flat whatever the size of the package: files are streamed
// to disk through one buffer, and decryption streams too (a zip, which
// needs random access, is first decrypted into the private directory).
func Open(ctx context.Context, path string, opts OpenOptions) (*Package, error) {
	opts = opts.withDefaults()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	if fi.IsDir() {
		return openDirectory(ctx, path, opts)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open package %s: neither a directory nor a regular file", path)
	}
	return openArchive(ctx, path, opts)
}

// ParseIdentities reads the identities of an --identity file: age
// identities (AGE-SECRET-KEY-1..., one a line, # comments), or one SSH
// private key (ed25519 or RSA). For an SSH key protected by a passphrase,
// passphrase is called when the key is first needed; nil refuses such a key.
func ParseIdentities(data []byte, passphrase func() ([]byte, error)) ([]age.Identity, error) {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		ids, err := age.ParseIdentities(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("parse age identities: %w", err)
		}
		for i, id := range ids {
			ids[i] = namedIdentity{id, identityRecipient(id)}
		}
		return ids, nil
	}
	id, err := agessh.ParseIdentity(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, errors.New("parse SSH identity: the key is protected by a passphrase and none can be asked")
		}
		if missing.PublicKey == nil {
			return nil, errors.New("parse SSH identity: a key protected by a passphrase must carry its public key (OpenSSH format)")
		}
		enc, err := agessh.NewEncryptedSSHIdentity(missing.PublicKey, data, passphrase)
		if err != nil {
			return nil, fmt.Errorf("parse SSH identity: %w", err)
		}
		return []age.Identity{namedIdentity{enc, sshRecipient(missing.PublicKey)}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("parse SSH identity: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse SSH identity: %w", err)
	}
	return []age.Identity{namedIdentity{id, sshRecipient(signer.PublicKey())}}, nil
}

// openArchive extracts the archive at path into a private directory.
func openArchive(ctx context.Context, path string, opts OpenOptions) (_ *Package, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	private, err := os.MkdirTemp(opts.TempDir, "custos-package-*")
	if err != nil {
		return nil, fmt.Errorf("open package %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(private)
		}
	}()
	dir := filepath.Join(private, "package")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open package %s: %w", path, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open package %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			root.Close()
		}
	}()
	x := &extractor{
		ctx: ctx, root: root, opts: opts, archive: filepath.Base(path), inSize: fi.Size(),
		buf: make([]byte, 256<<10), dirs: map[string]bool{},
	}
	p := &Package{Dir: dir, root: root, private: private,
		Outer: OuterFile{Path: path, Size: fi.Size()}}
	if err := x.outer(f, private, &p.Outer); err != nil {
		return nil, err
	}
	p.FS = root.FS()
	return p, nil
}

// The forms a file can have, read from its first bytes.
const (
	formZip      = "zip"
	formTar      = "tar"
	formAge      = "age"
	formAgeArmor = "age-armor"
)

// sniff names the form of a file from its first 512 bytes, or "".
func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("age-encryption.org/")):
		return formAge
	case bytes.HasPrefix(head, []byte(armor.Header)):
		return formAgeArmor
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return formZip
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return formTar
	}
	return ""
}

// outer reads the file f as received: it hashes every byte of it, decrypts
// it if it is encrypted, and extracts the archive.
func (x *extractor) outer(f *os.File, private string, out *OuterFile) error {
	hash := sha256.New()
	in := bufio.NewReaderSize(io.TeeReader(&ctxReader{x.ctx, f}, hash), 64<<10)
	head, err := in.Peek(512)
	if err != nil && err != io.EOF {
		return x.readErr(x.archive, err)
	}
	form := sniff(head)
	switch form {
	case formZip:
		// Random access: hash in one pass, then extract from the file.
		if _, err := io.Copy(io.Discard, in); err != nil {
			return x.readErr(x.archive, err)
		}
		err = x.zip(f, out.Size)
	case formTar:
		err = x.tar(in)
	case formAge, formAgeArmor:
		out.Encrypted = true
		var src io.Reader = in
		if form == formAgeArmor {
			src = armor.NewReader(in)
		}
		form, err = x.decrypt(src, private, &out.Recipient)
	default:
		return tamper(x.archive, noIndex, "damaged or not a package: neither a directory, a zip, a tar nor an age-encrypted file")
	}
	if err != nil {
		return err
	}
	// Whatever follows the archive's end counts in the digest too.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return x.readErr(x.archive, err)
	}
	out.Kind = form
	out.SHA256 = hex.EncodeToString(hash.Sum(nil))
	return nil
}

// decrypt decrypts src, an age file, and extracts the archive it holds: a
// tar straight from the stream, a zip from a decrypted copy in private.
func (x *extractor) decrypt(src io.Reader, private string, recipient *string) (string, error) {
	ids := make([]age.Identity, len(x.opts.Identities))
	for i, id := range x.opts.Identities {
		ids[i] = recordingIdentity{id, recipient}
	}
	dec, err := age.Decrypt(src, ids...)
	if err != nil {
		return "", x.decryptErr(err)
	}
	in := bufio.NewReaderSize(dec, 64<<10)
	head, err := in.Peek(512)
	if err != nil && err != io.EOF {
		return "", x.readErr(x.archive, err)
	}
	switch form := sniff(head); form {
	case formTar:
		if err := x.tar(in); err != nil {
			return "", err
		}
		// Read to the end: age authenticates the last chunk only there.
		if _, err := io.Copy(io.Discard, in); err != nil {
			return "", x.readErr(x.archive, err)
		}
		return form, nil
	case formZip:
		return form, x.decryptedZip(in, filepath.Join(private, "decrypted.zip"))
	}
	return "", tamper(x.archive, noIndex, "the decrypted package is neither a zip nor a tar")
}

// decryptedZip writes the decrypted zip to name, then extracts it.
func (x *extractor) decryptedZip(in io.Reader, name string) error {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("open package %s: %w", x.archive, err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(f, in, x.buf)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == name {
			return fmt.Errorf("open package %s: %w", x.archive, err)
		}
		return x.readErr(x.archive, err)
	}
	return x.zip(f, n)
}

// decryptErr sorts what age.Decrypt returned: no identity for it, an I/O
// failure, or a damaged or altered header.
func (x *extractor) decryptErr(err error) error {
	var nomatch *age.NoIdentityMatchError
	switch {
	case len(x.opts.Identities) == 0:
		return fmt.Errorf("open package %s: it is encrypted with age and no identity was given: %w", x.archive, ErrIdentity)
	case errors.As(err, &nomatch):
		return fmt.Errorf("open package %s: it is encrypted to recipients of type %s and none of the identities given is one of them: %w",
			x.archive, strings.Join(nomatch.StanzaTypes, ", "), ErrIdentity)
	}
	return x.readErr(x.archive, err)
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

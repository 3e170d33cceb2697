package disclosure_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// archEntry is one member of a test archive; typ 0 is a regular file.
type archEntry struct {
	name string
	body string
	typ  byte   // a tar.Type...; for a zip, only symlinks are told apart
	link string // the target of a link
}

// openGoodFiles is a small package: a file larger than the copy buffer, one
// that compresses, and files in nested directories.
func openGoodFiles() map[string]string {
	big := make([]byte, 1<<20+12345)
	r := mrand.NewChaCha8([32]byte{1})
	_, _ = r.Read(big)
	return map[string]string{
		"bagit.txt":                   "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
		"data/mail/message.eml":       strings.Repeat("Subject: evidence\n", 100),
		"data/disk/image.bin":         string(big),
		"custody/events.jsonl":        `{"index":1,"event":{}}` + "\n",
		"custody/proofs/1.tlog-proof": "c2sp.org/tlog-proof@v1\n",
		"empty.txt":                   "",
	}
}

func openGoodEntries() []archEntry {
	files := openGoodFiles()
	ents := []archEntry{{name: "data/", typ: tar.TypeDir}}
	for _, name := range []string{"bagit.txt", "data/mail/message.eml", "data/disk/image.bin",
		"custody/events.jsonl", "custody/proofs/1.tlog-proof", "empty.txt"} {
		ents = append(ents, archEntry{name: name, body: files[name]})
	}
	return ents
}

func openWriteTar(t testing.TB, w io.Writer, ents []archEntry) {
	t.Helper()
	tw := tar.NewWriter(w)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link, Format: tar.FormatPAX}
		switch e.typ {
		case 0:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		case tar.TypeDir:
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func openTar(t testing.TB, ents []archEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	openWriteTar(t, &b, ents)
	return b.Bytes()
}

func openZip(t testing.TB, ents []archEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch e.typ {
		case tar.TypeSymlink:
			h.SetMode(fs.ModeSymlink | 0o777)
			e.body = e.link
		case tar.TypeDir:
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func openWriteFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func openEncrypt(t *testing.T, plain []byte, r age.Recipient) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := age.Encrypt(&b, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// openReadAll reads every file of fsys, and checks that it holds nothing
// but files and directories.
func openReadAll(t *testing.T, fsys fs.FS) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s: mode %v in an opened package", name, d.Type())
		}
		b, err := fs.ReadFile(fsys, name)
		got[name] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func openSame(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("opened %d files, want %d", len(got), len(want))
	}
	for name, body := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s missing", name)
		} else if g != body {
			t.Errorf("%s: %d bytes differ from the %d put in", name, len(g), len(body))
		}
	}
}

// openAssertEmpty checks that nothing is left in dir, the TempDir given to
// Open: neither the private directory nor anything beside it.
func openAssertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left in the temporary directory: %s", e.Name())
	}
}

func openX25519(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// openSSHKey returns an ed25519 SSH private key file and its age recipient.
func openSSHKey(t *testing.T, passphrase string) ([]byte, age.Recipient) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "investigator")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "investigator", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	r, err := agessh.NewEd25519Recipient(sshPub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), r
}

func openParseIDs(t *testing.T, data []byte, passphrase func() ([]byte, error)) []age.Identity {
	t.Helper()
	ids, err := disclosure.ParseIdentities(data, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestOpenPackageGood(t *testing.T) {
	want := openGoodFiles()
	tarb, zipb := openTar(t, openGoodEntries()), openZip(t, openGoodEntries())
	xid := openX25519(t)
	sshKey, sshRcp := openSSHKey(t, "")
	encSSHKey, encSSHRcp := openSSHKey(t, "secret")
	dirPkg := t.TempDir()
	for name, body := range want {
		p := filepath.Join(dirPkg, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var armored bytes.Buffer
	aw := armor.NewWriter(&armored)
	_, _ = aw.Write(openEncrypt(t, tarb, xid.Recipient()))
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		file      []byte // nil: the directory package
		ids       []age.Identity
		kind      string
		encrypted bool
	}{
		"directory":              {kind: "directory"},
		"zip":                    {file: zipb, kind: "zip"},
		"tar":                    {file: tarb, kind: "tar"},
		"tar padded to 10240":    {file: append(bytes.Clone(tarb), make([]byte, 10240-len(tarb)%10240)...), kind: "tar"},
		"tar.age X25519":         {file: openEncrypt(t, tarb, xid.Recipient()), ids: openParseIDs(t, []byte(xid.String()+"\n"), nil), kind: "tar", encrypted: true},
		"tar.age SSH ed25519":    {file: openEncrypt(t, tarb, sshRcp), ids: openParseIDs(t, sshKey, nil), kind: "tar", encrypted: true},
		"tar.age SSH passphrase": {file: openEncrypt(t, tarb, encSSHRcp), ids: openParseIDs(t, encSSHKey, func() ([]byte, error) { return []byte("secret"), nil }), kind: "tar", encrypted: true},
		"zip.age X25519":         {file: openEncrypt(t, zipb, xid.Recipient()), ids: []age.Identity{xid}, kind: "zip", encrypted: true},
		"tar.age armored":        {file: armored.Bytes(), ids: []age.Identity{xid}, kind: "tar", encrypted: true},
	} {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			path := dirPkg
			if tc.file != nil {
				path = openWriteFile(t, "package", tc.file)
			}
			p, err := disclosure.Open(context.Background(), path, disclosure.OpenOptions{Identities: tc.ids, TempDir: tmp})
			if err != nil {
				t.Fatal(err)
			}
			openSame(t, openReadAll(t, p.FS), want)
			o := p.Outer
			if o.Path != path || o.Kind != tc.kind || o.Encrypted != tc.encrypted {
				t.Errorf("outer = %+v, want path %s, kind %s, encrypted %v", o, path, tc.kind, tc.encrypted)
			}
			if tc.file != nil {
				sum := sha256.Sum256(tc.file)
				if o.SHA256 != hex.EncodeToString(sum[:]) || o.Size != int64(len(tc.file)) {
					t.Errorf("outer SHA-256 %s of %d bytes, want %x of %d", o.SHA256, o.Size, sum, len(tc.file))
				}
				if fi, err := os.Stat(filepath.Dir(p.Dir)); err != nil || fi.Mode().Perm() != 0o700 || filepath.Dir(filepath.Dir(p.Dir)) != tmp {
					t.Errorf("private directory %s: %v, %v; want mode 0700 under %s", filepath.Dir(p.Dir), fi.Mode(), err, tmp)
				}
			} else if o.SHA256 != "" || p.Dir != dirPkg {
				t.Errorf("directory package: outer %+v, dir %s", o, p.Dir)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			openAssertEmpty(t, tmp)
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// openRefused opens path and checks the refusal: a *chain.TamperError naming file
// (any, if "") and saying what, and nothing left in the temporary directory.
func openRefused(t *testing.T, path string, opts disclosure.OpenOptions, file, what string) {
	t.Helper()
	tmp := t.TempDir()
	opts.TempDir = tmp
	p, err := disclosure.Open(context.Background(), path, opts)
	if err == nil {
		p.Close()
		t.Fatalf("opened; want a refusal of %s: %s", file, what)
	}
	var te *chain.TamperError
	if !errors.As(err, &te) || !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("error %v (%T) is not a TamperError", err, err)
	}
	if file != "" && te.File != file || !strings.Contains(te.What, what) {
		t.Errorf("refusal %q: want file %q and %q", err, file, what)
	}
	t.Log(err)
	openAssertEmpty(t, tmp)
}

// TestOpenPackageRefuses: every entry a package never holds, and every
// limit, in a tar and in a zip; each case the good package plus one entry.
func TestOpenPackageRefuses(t *testing.T) {
	good := openGoodEntries()
	with := func(extra ...archEntry) []archEntry { return append(append([]archEntry{}, good...), extra...) }
	for name, tc := range map[string]struct {
		ents       []archEntry
		opts       disclosure.OpenOptions
		file, what string
	}{
		"tar zip-slip path":     {ents: with(archEntry{name: "../x", body: "x"}), file: "../x", what: "escapes the package"},
		"tar inner ..":          {ents: with(archEntry{name: "data/../../x", body: "x"}), file: "data/../../x", what: "escapes the package"},
		"tar absolute path":     {ents: with(archEntry{name: "/etc/cron.d/x", body: "x"}), file: "/etc/cron.d/x", what: "absolute path"},
		"tar symlink":           {ents: with(archEntry{name: "data/link", typ: tar.TypeSymlink, link: "/etc/passwd"}), file: "data/link", what: `symbolic link to "/etc/passwd" refused`},
		"tar hard link":         {ents: with(archEntry{name: "data/hard", typ: tar.TypeLink, link: "bagit.txt"}), file: "data/hard", what: `hard link to "bagit.txt" refused`},
		"tar device":            {ents: with(archEntry{name: "data/dev", typ: tar.TypeChar}), file: "data/dev", what: "device file refused"},
		"tar fifo":              {ents: with(archEntry{name: "data/fifo", typ: tar.TypeFifo}), file: "data/fifo", what: "named pipe refused"},
		"tar duplicate name":    {ents: with(archEntry{name: "bagit.txt", body: "BagIt-Version: 0.97\n"}), file: "bagit.txt", what: "duplicate entry"},
		"tar duplicate dir":     {ents: with(archEntry{name: "data/", typ: tar.TypeDir}), file: "data", what: "duplicate entry"},
		"tar file under a file": {ents: with(archEntry{name: "bagit.txt/x", body: "x"}), file: "bagit.txt/x", what: "both a file and a directory"},
		"tar dot element":       {ents: with(archEntry{name: "data/./x", body: "x"}), file: "data/./x", what: "not clean"},
		"tar dot-dot after ./":  {ents: with(archEntry{name: "./../x", body: "x"}), file: "../x", what: "escapes"},
		"tar empty element":     {ents: with(archEntry{name: "data//x", body: "x"}), file: "data//x", what: "not clean"},
		"tar backslash":         {ents: with(archEntry{name: `data\..\..\x`, body: "x"}), file: `data\..\..\x`, what: "backslash"},
		"tar control character": {ents: with(archEntry{name: "data/\x1b[2Jx", body: "x"}), file: `"data/\x1b[2Jx"`, what: "control character"},
		"tar entry too large":   {ents: good, opts: disclosure.OpenOptions{MaxEntryBytes: 1 << 20}, file: "data/disk/image.bin", what: "limit MaxEntryBytes"},
		"tar too much in all":   {ents: with(archEntry{name: "data/more.bin", body: strings.Repeat("x", 1<<20)}), opts: disclosure.OpenOptions{MaxTotalBytes: 2 << 20}, file: "data/more.bin", what: "limit MaxTotalBytes"},
		"tar too many entries":  {ents: good, opts: disclosure.OpenOptions{MaxEntries: 4}, file: "package", what: "more than 4 entries (limit MaxEntries)"},
		"zip zip-slip path":     {ents: with(archEntry{name: "../x", body: "x"}), file: "../x", what: "escapes the package"},
		"zip absolute path":     {ents: with(archEntry{name: "/tmp/x", body: "x"}), file: "/tmp/x", what: "absolute path"},
		"zip symlink":           {ents: with(archEntry{name: "data/link", typ: tar.TypeSymlink, link: "../../etc"}), file: "data/link", what: "symbolic link refused"},
		"zip duplicate name":    {ents: with(archEntry{name: "data/mail/message.eml", body: "forged"}), file: "data/mail/message.eml", what: "duplicate entry"},
		"zip dir and file":      {ents: with(archEntry{name: "data/mail", body: "x"}), file: "data/mail", what: "both a file and a directory"},
		"zip entry too large":   {ents: good, opts: disclosure.OpenOptions{MaxEntryBytes: 1 << 20}, file: "data/disk/image.bin", what: "limit MaxEntryBytes"},
		"zip too many entries":  {ents: good, opts: disclosure.OpenOptions{MaxEntries: 4}, file: "package", what: "more than 4 entries (limit MaxEntries)"},
	} {
		t.Run(name, func(t *testing.T) {
			build := openTar
			if strings.HasPrefix(name, "zip ") {
				build = openZip
			}
			openRefused(t, openWriteFile(t, "package", build(t, tc.ents)), tc.opts, tc.file, tc.what)
		})
	}
}

func TestOpenPackageTruncated(t *testing.T) {
	zipb, tarb := openZip(t, openGoodEntries()), openTar(t, openGoodEntries())
	for name, tc := range map[string]struct {
		file       string
		data       []byte
		what, item string
	}{
		"zip cut in half":             {"package.zip", zipb[:len(zipb)/2], "not a valid zip", "package.zip"},
		"zip without its last byte":   {"package.zip", zipb[:len(zipb)-1], "not a valid zip", "package.zip"},
		"tar cut in a file":           {"package.tar", tarb[:len(tarb)/2], "truncated", "data/disk/image.bin"},
		"tar without end marker":      {"package.tar", tarb[:len(tarb)-1024], "end-of-archive marker", "package.tar"},
		"tar with half its marker":    {"package.tar", tarb[:len(tarb)-512], "end-of-archive marker", "package.tar"},
		"tar with data after its end": {"package.tar", append(bytes.Clone(tarb), "hidden"...), "data after the end", "package.tar"},
		"not a package":               {"package.zip", []byte("hello, investigator\n"), "not a package", "package.zip"},
		"empty file":                  {"package.tar", nil, "not a package", "package.tar"},
	} {
		t.Run(name, func(t *testing.T) {
			openRefused(t, openWriteFile(t, tc.file, tc.data), disclosure.OpenOptions{}, tc.item, tc.what)
		})
	}
}

// A flipped byte in an entry's data, the central directory intact, is
// found when the entry is read: its CRC-32 does not match.
func TestOpenPackageDamagedZipEntry(t *testing.T) {
	zipb := openZip(t, openGoodEntries())
	// Deflate stores random data as it is, so the file's bytes are there.
	i := bytes.Index(zipb, []byte(openGoodFiles()["data/disk/image.bin"][5000:5032]))
	if i < 0 {
		t.Fatal("the random file's bytes are not in the zip")
	}
	zipb[i] ^= 0xff
	openRefused(t, openWriteFile(t, "package.zip", zipb), disclosure.OpenOptions{}, "data/disk/image.bin", "damaged package: zip: checksum error")
}

// TestOpenPackageZipBomb extracts 1 GiB of zeros deflated to about 1 MiB,
// built streaming: the ratio limit stops it after about 100 MiB, with the
// memory of Open flat all the while.
func TestOpenPackageZipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB through deflate")
	}
	path := filepath.Join(t.TempDir(), "bomb.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "data/bomb.bin", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 1024 {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	openRefused(t, path, disclosure.OpenOptions{}, "data/bomb.bin", "limit MaxRatio")
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("opening the bomb allocated %d bytes; the copy should stream", alloc)
	}

	// With the ratio out of the way, the total limit holds.
	openRefused(t, path, disclosure.OpenOptions{MaxRatio: 1 << 20, MaxTotalBytes: 300 << 20}, "data/bomb.bin", "limit MaxTotalBytes")
}

func TestOpenPackageRefusesDirectory(t *testing.T) {
	for name, tc := range map[string]struct {
		target     string
		file, what string
	}{
		"symlink out": {"/etc/passwd", "data/link", `symbolic link to "/etc/passwd" refused`},
		"symlink in":  {"../bagit.txt", "data/link", `symbolic link to "../bagit.txt" refused`},
		"dangling":    {"nowhere", "data/link", "symbolic link"},
		"dir symlink": {".", "data/link", "symbolic link"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, n := range []string{"bagit.txt", "data/item"} {
				p := filepath.Join(dir, n)
				_ = os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(tc.target, filepath.Join(dir, "data/link")); err != nil {
				t.Fatal(err)
			}
			openRefused(t, dir, disclosure.OpenOptions{}, tc.file, tc.what)
		})
	}
}

func TestOpenPackageIdentity(t *testing.T) {
	tarb := openTar(t, openGoodEntries())
	right := openX25519(t)
	sshKey, _ := openSSHKey(t, "")
	encrypted := openWriteFile(t, "package.tar.age", openEncrypt(t, tarb, right.Recipient()))
	for name, ids := range map[string][]age.Identity{
		"none":          nil,
		"wrong X25519":  {openX25519(t)},
		"wrong SSH key": openParseIDs(t, sshKey, nil),
	} {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			p, err := disclosure.Open(context.Background(), encrypted, disclosure.OpenOptions{Identities: ids, TempDir: tmp})
			if err == nil {
				p.Close()
				t.Fatal("opened with a wrong identity")
			}
			if !errors.Is(err, disclosure.ErrIdentity) || errors.Is(err, chain.ErrTamper) {
				t.Errorf("error %v: want ErrIdentity, not ErrTamper", err)
			}
			if !strings.Contains(err.Error(), "package.tar.age") {
				t.Errorf("error %v does not name the package", err)
			}
			t.Log(err)
			if ids != nil && !strings.Contains(err.Error(), "X25519") {
				t.Errorf("error %v does not say what the package is encrypted to", err)
			}
			openAssertEmpty(t, tmp)
		})
	}
}

// An encrypted package altered or cut short fails age's authentication:
// a damaged package, never a wrong identity.
func TestOpenPackageDamagedAge(t *testing.T) {
	id := openX25519(t)
	enc := openEncrypt(t, openTar(t, openGoodEntries()), id.Recipient())
	flipped := bytes.Clone(enc)
	flipped[len(flipped)/2] ^= 1
	mac := bytes.Clone(enc)
	mac[bytes.Index(mac, []byte("\n--- "))+6] ^= 1 // the header's MAC
	for name, data := range map[string][]byte{
		"flipped byte":   flipped,
		"altered header": mac,
		"truncated":      enc[:len(enc)-100],
	} {
		t.Run(name, func(t *testing.T) {
			openRefused(t, openWriteFile(t, "package.tar.age", data), disclosure.OpenOptions{Identities: []age.Identity{id}}, "", "damaged package")
		})
	}
}

func TestParseIdentitiesRefusesLockedSSHKeyWithoutPassphrase(t *testing.T) {
	key, _ := openSSHKey(t, "secret")
	if _, err := disclosure.ParseIdentities(key, nil); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("error %v; want one saying a passphrase is needed", err)
	}
	if _, err := disclosure.ParseIdentities([]byte("not a key\n"), nil); err == nil {
		t.Error("parsed garbage as an identity")
	}
}

func TestOpenPackageCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tmp := t.TempDir()
	path := openWriteFile(t, "package.zip", openZip(t, openGoodEntries()))
	if _, err := disclosure.Open(ctx, path, disclosure.OpenOptions{TempDir: tmp}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v; want context.Canceled", err)
	}
	openAssertEmpty(t, tmp)
}

// FuzzOpenPackage: whatever a received file holds, it is opened or refused
// as tampering, never with a panic or another error; what opens holds only
// files and directories within the limits; nothing is left behind.
func FuzzOpenPackage(f *testing.F) {
	small := []archEntry{{name: "data/", typ: tar.TypeDir}, {name: "data/a", body: "evidence"}, {name: "bagit.txt", body: "BagIt"}}
	tarb, zipb := openTar(f, small), openZip(f, small)
	f.Add(tarb)
	f.Add(zipb)
	f.Add(openTar(f, append(small, archEntry{name: "l", typ: tar.TypeSymlink, link: "/"})))
	f.Add(openZip(f, append(small, archEntry{name: "../x", body: "x"})))
	f.Add(tarb[:len(tarb)-700])
	f.Add(zipb[:len(zipb)-30])
	opts := disclosure.OpenOptions{MaxTotalBytes: 1 << 16, MaxEntryBytes: 1 << 15, MaxEntries: 64, MaxRatio: 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "package")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := t.TempDir()
		opts.TempDir = tmp
		p, err := disclosure.Open(context.Background(), path, opts)
		if err != nil {
			if !errors.Is(err, chain.ErrTamper) {
				t.Fatalf("refused with %v, not a TamperError", err)
			}
			openAssertEmpty(t, tmp)
			return
		}
		var total int64
		err = fs.WalkDir(p.FS, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if !d.IsDir() && !info.Mode().IsRegular() {
				t.Errorf("%s: mode %v", name, info.Mode())
			}
			total += info.Size()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if total > opts.MaxTotalBytes {
			t.Errorf("opened %d bytes, over the limit", total)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		openAssertEmpty(t, tmp)
	})
}

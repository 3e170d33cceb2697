package disclosure_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
	"github.com/custos-evidence/custos/chain/tsatest"
)

// readTree reads every file under dir, by slash-separated path.
func readTree(t testing.TB, fsys fs.FS) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s: not a regular file", p)
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		out[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree reports every file that differs between got and want.
func sameTree(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s: missing", p)
		case !bytes.Equal(g, w):
			t.Errorf("%s differs:\n got: %q\nwant: %q", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: not in the golden package", p)
		}
	}
}

// The writer writes the golden packages byte for byte from their inputs
// (a log, six items, a checked-in Ed25519 key and fixed times): the
// package of a log of item.preserved events, written before batches, and
// that of a log of sealed batches, whose items come with their records.
// With -update it writes testdata/golden and testdata/golden-batch anew.
// A directory's digest is that of its tagmanifest-sha256.txt.
func TestWriteGolden(t *testing.T) {
	for _, tc := range []struct {
		dir      string
		contents func(testing.TB) *disclosure.Contents
		records  int
	}{
		{"golden", goldenContents, 0},
		{"golden-batch", goldenBatchContents, 6},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			c := tc.contents(t)
			out := filepath.Join(t.TempDir(), "package")
			if *update {
				out = filepath.Join("testdata", tc.dir)
				if err := os.RemoveAll(out); err != nil {
					t.Fatal(err)
				}
			}
			w, err := disclosure.Write(context.Background(), out, c)
			if err != nil {
				t.Fatal(err)
			}
			got := readTree(t, os.DirFS(out))
			if w.Path != out || w.SHA256 != chain.EventHash(got["tagmanifest-sha256.txt"]) {
				t.Errorf("written %s with digest %s; the tag manifest's is %s", w.Path, w.SHA256, chain.EventHash(got["tagmanifest-sha256.txt"]))
			}
			var paths []string
			for _, f := range w.Files {
				paths = append(paths, f.Path)
			}
			want := []string{"data/mail/inbox.mbox", "data/mail/sent.mbox", "data/order-document/order.pdf",
				"data/subscriber/account~2.json", "data/traffic/empty-but-preserved.db", "data/traffic/records.csv"}
			if !slices.Equal(paths, want) {
				t.Errorf("files %v, want %v", paths, want)
			}
			records := 0
			for p := range got {
				if strings.HasPrefix(p, "custody/records/") {
					records++
				}
			}
			if records != 2*tc.records {
				t.Errorf("%d files under custody/records, want a record and a proof for each of %d items", records, tc.records)
			}
			sameTree(t, got, readTree(t, os.DirFS(filepath.Join("testdata", tc.dir))))
		})
	}
}

// The zip and the tar of the same inputs hold exactly the golden files;
// encrypted, they open with the recipient's identity only. Each verifies,
// and the digest Write returns is that of the file as the investigator
// receives it.
func TestWriteArchives(t *testing.T) {
	ctx := context.Background()
	golden := readTree(t, os.DirFS(filepath.Join("testdata", "golden")))
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	fx := newSmallPackage(t, pkgOptions{})
	for _, tc := range []struct {
		name    string
		out     string
		encrypt bool
	}{
		{"zip", "p.zip", false},
		{"tar", "p.tar", false},
		{"zip, encrypted", "p.zip", true},
		{"tar, encrypted", "p.tar", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goldenContents(t)
			var opts disclosure.OpenOptions
			if tc.encrypt {
				c.Recipients, c.Recipient = []age.Recipient{id.Recipient()}, id.Recipient().String()
				opts.Identities = []age.Identity{id}
			}
			out := filepath.Join(t.TempDir(), tc.out)
			w, err := disclosure.Write(ctx, out, c)
			if err != nil {
				t.Fatal(err)
			}
			if want := out + map[bool]string{true: ".age"}[tc.encrypt]; w.Path != want {
				t.Fatalf("written to %s, want %s", w.Path, want)
			}
			if tc.encrypt {
				if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("an unencrypted %s is left: %v", out, err)
				}
				if _, err := disclosure.Open(ctx, w.Path, disclosure.OpenOptions{}); !errors.Is(err, disclosure.ErrIdentity) {
					t.Errorf("opened without the identity: %v", err)
				}
			}
			p, err := disclosure.Open(ctx, w.Path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Outer.SHA256 != w.SHA256 || p.Outer.Encrypted != tc.encrypt {
				t.Errorf("opened %+v; Write said digest %s", p.Outer, w.SHA256)
			}
			got := readTree(t, p.FS)
			if tc.encrypt {
				// The recipient is named in bag-info, the statement and
				// case.jsonld, and so in the manifests that cover them.
				if !strings.Contains(string(got["bag-info.txt"]), "Custos-Recipient: "+id.Recipient().String()+"\n") {
					t.Errorf("bag-info.txt does not name the recipient:\n%s", got["bag-info.txt"])
				}
				for p := range got {
					if strings.HasPrefix(p, "data/") || strings.HasPrefix(p, "custody/proofs/") {
						if !bytes.Equal(got[p], golden[p]) {
							t.Errorf("%s differs from the golden package's", p)
						}
					}
				}
			} else {
				sameTree(t, got, golden)
			}
			rep, err := disclosure.Verify(ctx, p.FS, fx.trust)
			if err != nil || rep.Result != disclosure.ResultOK {
				t.Fatalf("does not verify: %v", err)
			}
		})
	}
}

// A zip deflates every entry, the payload at level 0 (stored blocks: its
// bytes as they are, no size surprise), and no stored entry has a data
// descriptor, which Java's ZipInputStream refuses (issue 18 item 8).
func TestWriteZipMethods(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.zip")
	if _, err := disclosure.Write(context.Background(), out, goldenContents(t)); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Method == zip.Store && f.Flags&0x8 != 0 {
			t.Errorf("%s: a stored entry with a data descriptor", f.Name)
		}
		if f.Method != zip.Deflate {
			t.Errorf("%s: method %d, want deflate", f.Name, f.Method)
		}
		// Level 0 adds 5 bytes per stored block of at most 64 KiB, and
		// one empty final block.
		if strings.HasPrefix(f.Name, "data/") && (f.CompressedSize64 < f.UncompressedSize64 || f.CompressedSize64 > f.UncompressedSize64+5*(f.UncompressedSize64/65535+2)) {
			t.Errorf("%s: %d bytes in the zip for %d: not level 0", f.Name, f.CompressedSize64, f.UncompressedSize64)
		}
	}
}

// shortReader gives fewer bytes than the item's size.
type shortReader struct{ io.Reader }

func (shortReader) Close() error { return nil }

// A package is written whole or not at all: an existing output, an
// encrypted directory, an item that cannot be read or reads short leave
// nothing behind, and an item that reads short is tampering.
func TestWriteRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		out    string
		change func(c *disclosure.Contents)
		exists bool
		want   string
		tamper bool
	}{
		{name: "existing output", out: "p", exists: true, want: "never written over"},
		{name: "encrypted directory", out: "p", change: func(c *disclosure.Contents) {
			id, _ := age.GenerateX25519Identity()
			c.Recipients = []age.Recipient{id.Recipient()}
		}, want: "an encrypted package is a .zip or a .tar"},
		{name: "an item that cannot be read", out: "p.zip", change: func(c *disclosure.Contents) {
			c.Items[2].Open = func(context.Context) (io.ReadCloser, error) { return nil, errors.New("store down") }
		}, want: "store down"},
		{name: "an item that reads short", out: "p.tar", change: func(c *disclosure.Contents) {
			c.Items[1].Open = func(context.Context) (io.ReadCloser, error) { return shortReader{strings.NewReader("From")}, nil }
		}, want: "read 4 bytes of the 44", tamper: true},
		{name: "an item that reads long", out: "p", change: func(c *disclosure.Contents) {
			c.Items[1].Open = func(context.Context) (io.ReadCloser, error) {
				return shortReader{strings.NewReader(strings.Repeat("x", 45))}, nil
			}
		}, want: "read 45 bytes of the 44", tamper: true},
		{name: "no signer", out: "p", change: func(c *disclosure.Contents) { c.Signer = nil }, want: "no signer"},
		{name: "an event the checkpoint does not cover", out: "p", change: func(c *disclosure.Contents) {
			c.Checkpoint = &chain.Checkpoint{Size: c.Events[len(c.Events)-1].Index, Raw: c.Checkpoint.Raw}
		}, want: "does not cover event"},
		{name: "an order record that is not JSON", out: "p", change: func(c *disclosure.Contents) { c.Order = []byte("{") }, want: "order record"},
		{name: "a statement token over other bytes", out: "p.zip", change: func(c *disclosure.Contents) {
			tok := tsatest.New(t, tsatest.Options{}).Token(t, []byte("another statement"))
			c.StampStatement = func(context.Context, []byte) ([]disclosure.StatementToken, error) {
				return []disclosure.StatementToken{{TSA: "qtsa", Token: tok}}, nil
			}
		}, want: "custody/timestamps/attestation.qtsa.tsr: the token is for another digest", tamper: true},
		{name: "a statement token of an authority that cannot name a file", out: "p", change: func(c *disclosure.Contents) {
			c.StampStatement = func(context.Context, []byte) ([]disclosure.StatementToken, error) {
				return []disclosure.StatementToken{{TSA: "../q", Token: []byte("x")}}, nil
			}
		}, want: `timestamp authority name "../q"`},
		{name: "timestamping the statement cancelled", out: "p", change: func(c *disclosure.Contents) {
			c.StampStatement = func(context.Context, []byte) ([]disclosure.StatementToken, error) { return nil, context.Canceled }
		}, want: "timestamp the statement: context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, tc.out)
			if tc.exists {
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			c := goldenContents(t)
			if tc.change != nil {
				tc.change(c)
			}
			_, err := disclosure.Write(context.Background(), out, c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if tc.tamper != errors.Is(err, chain.ErrTamper) {
				t.Errorf("error %v: tampering %v, want %v", err, errors.Is(err, chain.ErrTamper), tc.tamper)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(entries); n != map[bool]int{true: 1}[tc.exists] {
				t.Errorf("left %d entries in the output's directory", n)
			}
		})
	}
}

// Payload names are safe on every file system, readable and distinct
// (docs/package.md, "Payload names"): Unicode names are kept, in NFC
// (issue 18 item 11), and only what some file system cannot hold, or
// BagIt gives a meaning to, becomes "_".
func TestPayloadNames(t *testing.T) {
	long := strings.Repeat("x", 150)
	items := []struct{ source, name, want string }{
		{"mail", "inbox/1.eml", "data/mail/inbox/1.eml"},
		{"mail", "../../etc/passwd", "data/mail/etc/passwd"},
		{"proxy logs", "access.log", "data/proxy logs/access.log"},
		{"file:///srv/export/", "a.txt", "data/export/a.txt"},
		{"mail", "inbox/1.eml", "data/mail/inbox/1~2.eml"},
		{"mail", "inbox/1.eml", "data/mail/inbox/1~3.eml"},
		{"mail", ".hidden", "data/mail/_hidden"},
		{"mail", "", "data/mail/item"},
		{"mail", "./", "data/mail/item~2"},
		{"", "ü.txt", "data/_/ü.txt"},
		{"mail", long, "data/mail/" + strings.Repeat("x", 100)},
		{"mail", "a/b/c/d/e/f/g/h/i/j.txt", "data/mail/c/d/e/f/g/h/i/j.txt"},
		{"mail", "dir.d/file", "data/mail/dir.d/file"},
		{"mail", "dir.d/file", "data/mail/dir.d/file~2"},
		{"mail", "Grüße café.txt", "data/mail/Grüße café.txt"},
		{"mail", "Gru\u0308ße cafe\u0301 2.txt", "data/mail/Grüße café 2.txt"}, // NFD, as macOS names it
		{"mail", "Отчёт 東京 📎.pdf", "data/mail/Отчёт 東京 📎.pdf"},
		{"mail", `a:b*c?d"e<f>g|h\i%j.txt`, "data/mail/a_b_c_d_e_f_g_h_i_j.txt"},
		{"mail", "tab\there\x00.txt", "data/mail/tab_here_.txt"},
		{"mail", "bad\xffutf8.txt", "data/mail/bad_utf8.txt"},
		{"mail", "ends with dot.", "data/mail/ends with dot_"},
		{"mail", "ends with space ", "data/mail/ends with space_"},
		{"mail", "con.txt", "data/mail/_con.txt"},
		{"mail", "LPT1", "data/mail/_LPT1"},
		{"mail", "COM10.txt", "data/mail/COM10.txt"},
		{"mail", "README.TXT", "data/mail/README.TXT"},
		{"mail", "readme.txt", "data/mail/readme~2.txt"}, // one file where case is ignored
		{"mail", strings.Repeat("é", 60), "data/mail/" + strings.Repeat("é", 50)},
		{"mail", "x" + strings.Repeat("é", 60), "data/mail/x" + strings.Repeat("é", 49)}, // cut before a character, never inside
	}
	c := goldenContents(t)
	var payload []disclosure.Item
	for _, it := range items {
		x := c.Items[4] // the empty item: any name will do
		x.Source, x.Name = it.source, it.name
		payload = append(payload, x)
	}
	c.Items = payload
	w, err := disclosure.Write(context.Background(), filepath.Join(t.TempDir(), "p"), c)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range w.Files {
		if f.Path != items[i].want {
			t.Errorf("%q from %q: %q, want %q", items[i].name, items[i].source, f.Path, items[i].want)
		}
		if f.Name != items[i].name {
			t.Errorf("the statement names %q as %q", items[i].name, f.Name)
		}
		if _, err := os.Stat(filepath.Join(w.Path, filepath.FromSlash(f.Path))); err != nil {
			t.Errorf("%q: %v", f.Path, err)
		}
	}
}

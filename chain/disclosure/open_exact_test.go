package disclosure_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"testing"

	"filippo.io/age"

	"github.com/custos-evidence/custos/chain/disclosure"
)

// openZipWith writes the good entries as a zip after prefix (its offsets
// counting the prefix, as a self-extracting archive's do), with a comment.
func openZipWith(t *testing.T, prefix []byte, comment string) []byte {
	t.Helper()
	b := bytes.NewBuffer(bytes.Clone(prefix))
	zw := zip.NewWriter(b)
	zw.SetOffset(int64(len(prefix)))
	for _, e := range openGoodEntries() {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.SetComment(comment); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestOpenPackageBytesOutsideEntries: a zip whose every entry is intact but
// which carries bytes that are none of its entries (before the first,
// after the end, in a comment, between two entries) is refused, plain or
// encrypted with age, as a tar with data after its end is, and an age
// file with data after its end (issue 18 item 2). Other zip readers may
// see other files in those bytes.
func TestOpenPackageBytesOutsideEntries(t *testing.T) {
	id := openX25519(t)
	good := openZip(t, openGoodEntries())
	// Between two entries: the first file stored raw, its sizes and CRC-32
	// those of its body, six more bytes written after it.
	between := func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for i, e := range openGoodEntries() {
			if e.typ == tar.TypeDir {
				if _, err := zw.Create(e.name); err != nil {
					t.Fatal(err)
				}
				continue
			}
			h := &zip.FileHeader{Name: e.name, Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte(e.body)),
				CompressedSize64: uint64(len(e.body)), UncompressedSize64: uint64(len(e.body))}
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			body := e.body
			if i == 1 {
				body += "HIDDEN"
			}
			if _, err := io.WriteString(w, body); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	other := openZip(t, openGoodEntries()[:2])
	for name, tc := range map[string]struct {
		data []byte
		what string
	}{
		"zip with data before it":             {append([]byte("MZ hidden program\n"), good...), "not a package"},
		"zip with a zip before it":            {append(bytes.Clone(other), good...), "data before the first entry"},
		"zip with a zip before it, offsets":   {openZipWith(t, other, ""), "not part of the zip's entries"},
		"zip with data after its end":         {append(bytes.Clone(good), "hidden"...), "data after the end of the zip"},
		"zip with a second zip after its end": {append(bytes.Clone(good), openZip(t, openGoodEntries()[:1])...), "not part of the zip's entries"},
		"zip with a comment":                  {openZipWith(t, nil, "hidden"), "a zip comment"},
		"zip with data between two entries":   {between(), "not part of the zip's entries"},
	} {
		t.Run(name, func(t *testing.T) {
			openRefused(t, openWriteFile(t, "package.zip", tc.data), disclosure.OpenOptions{}, "package.zip", tc.what)
		})
		t.Run(name+", encrypted", func(t *testing.T) {
			what := tc.what
			if what == "not a package" {
				what = "neither a zip nor a tar"
			}
			openRefused(t, openWriteFile(t, "package.zip.age", openEncrypt(t, tc.data, id.Recipient())),
				disclosure.OpenOptions{Identities: []age.Identity{id}}, "package.zip.age", what)
		})
	}
	t.Run("age file with data after its end", func(t *testing.T) {
		data := append(openEncrypt(t, openTar(t, openGoodEntries()), id.Recipient()), "hidden"...)
		// age finds it when it reads the last chunk, in the middle of the
		// tar's last file.
		openRefused(t, openWriteFile(t, "package.tar.age", data), disclosure.OpenOptions{Identities: []age.Identity{id}}, "", "damaged package")
	})
	t.Run("intact zip and encrypted zip", func(t *testing.T) {
		for _, data := range [][]byte{good, openZipWith(t, nil, "")} {
			p, err := disclosure.Open(context.Background(), openWriteFile(t, "package.zip", data), disclosure.OpenOptions{TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			p.Close()
		}
	})
}

// TestOpenPackageDotSlashNames: a package archived from inside its
// directory (tar -cf x.tar ., zip -r x.zip .) names every entry "./...",
// with an entry "./" for the root; it opens to the same files (issue 18
// item 7). A name that is the same once "./" is removed is a duplicate.
func TestOpenPackageDotSlashNames(t *testing.T) {
	dotted := []archEntry{{name: "./", typ: tar.TypeDir}}
	for _, e := range openGoodEntries() {
		e.name = "./" + e.name
		dotted = append(dotted, e)
	}
	for name, data := range map[string][]byte{"package.tar": openTar(t, dotted), "package.zip": openZip(t, dotted)} {
		t.Run(name, func(t *testing.T) {
			p, err := disclosure.Open(context.Background(), openWriteFile(t, name, data), disclosure.OpenOptions{TempDir: t.TempDir()})
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			defer p.Close()
			openSame(t, openReadAll(t, p.FS), openGoodFiles())
		})
	}
	dup := append(openGoodEntries(), archEntry{name: "./bagit.txt", body: "BagIt-Version: 0.97\n"})
	openRefused(t, openWriteFile(t, "package.tar", openTar(t, dup)), disclosure.OpenOptions{}, "bagit.txt", "duplicate entry")
}

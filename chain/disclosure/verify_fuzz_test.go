package disclosure_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// FuzzVerifyPackageFile replaces one tag file of a genuine package (the
// golden one of item.preserved events, or the golden batch package with
// its records and their proofs) with the fuzzer's bytes. The verifier
// never panics and never calls it an I/O error; it passes the package
// exactly when the bytes are the original.
func FuzzVerifyPackageFile(f *testing.F) {
	type tagFile struct {
		pkg  fstest.MapFS
		fx   *pkgFixture
		name string
	}
	var files []tagFile
	for _, fx := range []*pkgFixture{newSmallPackage(f, pkgOptions{}), newBatchPackage(f, goldenBatchOptions)} {
		base := fstest.MapFS{}
		err := fs.WalkDir(os.DirFS(fx.dir), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(fx.path(p))
			base[p] = &fstest.MapFile{Data: b, Mode: 0o644}
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
		var names []string
		for p := range base {
			if p[:5] != "data/" {
				names = append(names, p)
			}
		}
		slices.Sort(names)
		for _, p := range names {
			files = append(files, tagFile{base, fx, p})
		}
	}
	for i, tf := range files {
		if i > 255 {
			f.Fatalf("%d tag files: more than a uint8 chooses", len(files))
		}
		f.Add(uint8(i), tf.pkg[tf.name].Data)
		f.Add(uint8(i), append(bytes.Clone(tf.pkg[tf.name].Data), '\n'))
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		tf := files[int(which)%len(files)]
		fsys := maps.Clone(tf.pkg)
		fsys[tf.name] = &fstest.MapFile{Data: data, Mode: 0o644}
		rep, err := disclosure.Verify(context.Background(), fsys, tf.fx.trust)
		if err != nil && !errors.Is(err, chain.ErrTamper) {
			t.Fatalf("%s: not a finding: %v", tf.name, err)
		}
		same := bytes.Equal(data, tf.pkg[tf.name].Data)
		if ok := rep.Result == disclosure.ResultOK; ok != same {
			t.Fatalf("%s changed=%v but result %s (%v)", tf.name, !same, rep.Result, rep.Failed())
		}
	})
}

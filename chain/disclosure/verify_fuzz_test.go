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

// FuzzVerifyPackageFile replaces one tag file of a genuine package with
// the fuzzer's bytes. The verifier never panics and never calls it an I/O
// error; it passes the package exactly when the bytes are the original.
func FuzzVerifyPackageFile(f *testing.F) {
	fx := newSmallPackage(f, pkgOptions{})
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
	for i, p := range names {
		f.Add(uint8(i), base[p].Data)
		f.Add(uint8(i), append(bytes.Clone(base[p].Data), '\n'))
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		name := names[int(which)%len(names)]
		fsys := maps.Clone(base)
		fsys[name] = &fstest.MapFile{Data: data, Mode: 0o644}
		rep, err := disclosure.Verify(context.Background(), fsys, fx.trust)
		if err != nil && !errors.Is(err, chain.ErrTamper) {
			t.Fatalf("%s: not a finding: %v", name, err)
		}
		same := bytes.Equal(data, base[name].Data)
		if ok := rep.Result == disclosure.ResultOK; ok != same {
			t.Fatalf("%s changed=%v but result %s (%v)", name, !same, rep.Result, rep.Failed())
		}
	})
}

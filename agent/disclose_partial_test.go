package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// TestPartialPackageRevealsNothingOfTheRest (issue 15): one item disclosed
// out of a batch of six captured from a directory tree. The package
// verifies, and no name, digest (SHA-256 or SHA-512), size or source path
// of any of the five undisclosed items appears in any of its files.
func TestPartialPackageRevealsNothingOfTheRest(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	export := filepath.Join(t.TempDir(), "export")
	type file struct {
		name string
		size int
	}
	files := []file{{"inbox/disclosed-message.eml", 777},
		{"inbox/undisclosed-alpha.eml", 12345}, {"inbox/undisclosed-bravo.eml", 23456}, {"sent/undisclosed-charlie.eml", 34567},
		{"sent/undisclosed-delta.eml", 45678}, {"drafts/undisclosed-echo.eml", 56789}}
	sums := map[string][2]string{}
	for i, fl := range files {
		body := bytes.Repeat([]byte{byte('a' + i)}, fl.size)
		p := filepath.Join(export, filepath.FromSlash(fl.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		s256, s512 := sha256.Sum256(body), sha512.Sum512(body)
		sums[fl.name] = [2]string{hex.EncodeToString(s256[:]), hex.EncodeToString(s512[:])}
	}
	src, err := source.New(source.Config{Name: "mailbox", Type: "dir", Params: map[string]any{"root": export}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Actor: "custodian", CutOff: time.Now(),
		Sources: []capture.NamedSource{{Name: "mailbox", Source: src, Categories: []string{"content"}}}})
	if err != nil || rep.Failed() || rep.Preserved() != len(files) || rep.Batches != 1 {
		t.Fatalf("capture: %v %+v", err, rep)
	}
	out := filepath.Join(t.TempDir(), "pkg")
	confirmRequester(t, f.reg, o.ID)
	drep, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: out, Items: []string{sums[files[0].name][0]}, Actor: "discloser"})
	if err != nil || !drep.Partial || len(drep.Items) != 1 {
		t.Fatalf("disclose: %v %+v", err, drep)
	}

	trust, err := chain.ParseTrustLine(f.log.Key().Verifier)
	if err != nil {
		t.Fatal(err)
	}
	vrep, err := disclosure.Verify(ctx, os.DirFS(out), trust)
	if err != nil || vrep.Err() != nil {
		t.Fatalf("the partial package does not verify: %v %v", err, vrep.Err())
	}

	var secrets []*regexp.Regexp
	for _, fl := range files[1:] {
		base := filepath.Base(fl.name)
		secrets = append(secrets,
			regexp.MustCompile(regexp.QuoteMeta(strings.TrimSuffix(base, ".eml"))),     // its name
			regexp.MustCompile(regexp.QuoteMeta(filepath.Join(export, fl.name))),       // its path at the source
			regexp.MustCompile(sums[fl.name][0]), regexp.MustCompile(sums[fl.name][1]), // its digests
			regexp.MustCompile(`(^|[^0-9a-f])`+strconv.Itoa(fl.size)+`([^0-9a-f]|$)`), // its size
		)
	}
	n := 0
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		for _, re := range secrets {
			if loc := re.FindIndex(b); loc != nil {
				t.Errorf("%s reveals %s of an undisclosed item: ...%s...", strings.TrimPrefix(p, out), re, b[max(0, loc[0]-40):min(len(b), loc[1]+40)])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("looked at only %d files of the package", n)
	}
	// The disclosed one is there, named as it was.
	if b, err := os.ReadFile(filepath.Join(out, "custody", "records", sums[files[0].name][0]+".json")); err != nil || !bytes.Contains(b, []byte("disclosed-message.eml")) {
		t.Fatalf("the disclosed item's record: %q, %v", b, err)
	}
}

package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
)

// TestDiscloseKeepsUnicodeNames (issue 18 item 11): items with Unicode
// names keep them in the package, in NFC (a name in NFD, as macOS writes
// it, too), in every form; only what some file system cannot hold becomes
// "_"; the signed statement keeps each original name as the source gave
// it. Each package verifies before it is let go (Disclose checks that),
// and the directory passes sha256sum and the BagIt validator.
func TestDiscloseKeepsUnicodeNames(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	nfd := "Gru\u0308ße cafe\u0301.txt"
	names := map[string]string{ // original -> path in the package
		nfd:                      "data/mail/Grüße café.txt",
		"收件箱/报告 2026.eml":        "data/mail/收件箱/报告 2026.eml",
		"Отчёт: итог?.txt":       "data/mail/Отчёт_ итог_.txt",
		"100% sure\x07.txt":      "data/mail/100_ sure_.txt",
		"emoji 📎 attachment.bin": "data/mail/emoji 📎 attachment.bin",
	}
	src := &fakeSource{items: map[string]string{}}
	for name := range names {
		src.items[name] = "content of " + name
		src.order = append(src.order, name)
	}
	rep, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Actor: "custodian", CutOff: time.Now(),
		Sources: []capture.NamedSource{{Name: "mail", Source: src, Categories: []string{"content"}}}})
	if err != nil || rep.Failed() || rep.Preserved() != len(names) {
		t.Fatalf("capture: %v %+v", err, rep)
	}
	for _, ext := range []string{"", ".zip", ".tar"} {
		out := filepath.Join(t.TempDir(), "pkg"+ext)
		confirmRequester(t, f.reg, o.ID)
		drep, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: out, Categories: []string{"content"}, Actor: "discloser"})
		if err != nil {
			t.Fatalf("disclose %s: %v", out, err)
		}
		got := map[string]string{}
		for _, it := range drep.Items {
			got[it.Name] = it.Path
		}
		for name, want := range names {
			if got[name] != want {
				t.Errorf("%s: %q is named %q in the package (statement names: %q), want %q", ext, name, got[name], got, want)
			}
		}
		root := out
		switch ext {
		case ".zip":
			root = unzipPackage(t, out)
		case ".tar":
			root = untarPackage(t, out)
		}
		for _, want := range names {
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(want))); err != nil {
				t.Errorf("%s: %v", ext, err)
			}
		}
		if ext == "" {
			t.Run("sha256sum", func(t *testing.T) { checkSHA256SUMS(t, root) })
			t.Run("bagit", func(t *testing.T) { checkBagIt(t, root, false) })
		}
	}
}

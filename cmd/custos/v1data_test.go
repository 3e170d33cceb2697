package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDataDirectoryOfVersion1: a data directory written by custos before
// items were sealed in batches (at 015a05e: one item.preserved event, one
// .meta.json and one attestation per item; testdata/v1-datadir.tar.gz,
// an order with two items captured from export/) works on: its log
// verifies, its items are listed and pass fixity, a new capture seals what
// is new in a batch beside them, and packages of the old items alone, and
// of old and new together, verify.
func TestDataDirectoryOfVersion1(t *testing.T) {
	bin := custosBinary(t)
	dir := t.TempDir()
	untar := exec.Command("tar", "xzf", filepath.Join("testdata", "v1-datadir.tar.gz"), "-C", dir)
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	env := []string{"CUSTOS_DATA_DIR=" + filepath.Join(dir, "data"), "CUSTOS_ACTOR=custodian@example.net", "CUSTOS_KEY_PASSPHRASE="}
	run := func(want int, args ...string) string { t.Helper(); return runCLI(t, bin, env, want, args...) }

	if out := run(0, "log", "verify"); !regexp.MustCompile(`problems: +none`).MatchString(out) {
		t.Fatalf("log verify of the old log:\n%s", out)
	}
	var list []struct {
		Order struct {
			ID string `json:"id"`
		} `json:"order"`
		Items int `json:"items"`
	}
	if err := json.Unmarshal([]byte(run(0, "--output", "json", "order", "list")), &list); err != nil || len(list) != 1 || list[0].Items != 2 {
		t.Fatalf("order list: %+v, %v", list, err)
	}
	id := list[0].Order.ID
	items := func() []map[string]any {
		t.Helper()
		var d struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal([]byte(run(0, "--output", "json", "order", "show", id)), &d); err != nil {
			t.Fatal(err)
		}
		return d.Items
	}
	old := items()
	if len(old) != 2 {
		t.Fatalf("the old order shows %d items, want 2: %v", len(old), old)
	}
	if out := run(0, "fixity", id); !strings.Contains(out, "2 items checked, 0 failed") {
		t.Fatalf("fixity of the old items:\n%s", out)
	}

	// A new file beside the old two: the capture seals it alone.
	export := filepath.Join(dir, "export")
	if err := os.WriteFile(filepath.Join(export, "mail", "c.eml"), []byte("From: carol\nnew\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run(0, "capture", "--cut-off", "now", "--source", "file://"+export, id); !strings.Contains(out, "1 preserved, 2 already preserved") {
		t.Fatalf("capture beside the old items:\n%s", out)
	}
	if out := run(0, "log", "show", "--order", id); strings.Count(out, " item.preserved ") != 2 || strings.Count(out, " items.sealed ") != 1 {
		t.Fatalf("the order's events:\n%s", out)
	}
	if n := len(items()); n != 3 {
		t.Fatalf("the order shows %d items after the capture, want 3", n)
	}
	if out := run(0, "fixity", id); !strings.Contains(out, "3 items checked, 0 failed") {
		t.Fatalf("fixity of old and new:\n%s", out)
	}

	key := filepath.Join(dir, "data", "keys", "custos.key.vkey")
	oldOnly := filepath.Join(dir, "old-items")
	run(0, "order", "verify-requester", "--method", "callback", "--result", "confirmed", "--note", "called the authority back", id)
	run(0, "disclose", "--items", old[0]["sha256"].(string)+","+old[1]["sha256"].(string), "--out", oldOnly, id)
	if b, err := os.ReadFile(filepath.Join(oldOnly, "bag-info.txt")); err != nil || !strings.Contains(string(b), "Custos-Package-Version: 1") {
		t.Fatalf("a package of the old items alone: %q, %v", b, err)
	}
	run(0, "verify", "--key", key, oldOnly)
	both := filepath.Join(dir, "all.zip")
	run(0, "disclose", "--out", both, id)
	run(0, "verify", "--key", key, both)
	if out := run(0, "log", "verify"); !regexp.MustCompile(`problems: +none`).MatchString(out) {
		t.Fatalf("log verify at the end:\n%s", out)
	}
}

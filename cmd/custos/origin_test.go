package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Without agent_id the origin is unique per deployment (issue 18 item 13):
// HOST/custos-XXXXXXXX, different for two data directories of one host;
// an existing log keeps its origin, and a key generated before the log
// keeps its name.
func TestDefaultOrigin(t *testing.T) {
	host := func() (string, error) { return "Mail-1.Example.NET", nil }
	a, b := t.TempDir(), t.TempDir()
	oa, err := defaultOrigin(a, filepath.Join(a, "keys", "custos.key"), host)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := defaultOrigin(b, "", host)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^mail-1\.example\.net/custos-[0-9a-f]{8}$`)
	if !re.MatchString(oa) || !re.MatchString(ob) || oa == ob {
		t.Errorf("two deployments on one host: %q and %q", oa, ob)
	}
	if err := validNoteName(oa); err != nil {
		t.Error(err)
	}

	write := func(dir, name, text string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "keys/custos.key.vkey", "custos-agent+1234abcd+AQ==\n")
	if o, err := defaultOrigin(a, filepath.Join(a, "keys", "custos.key"), host); err != nil || o != "custos-agent" {
		t.Errorf("with a key generated for custos-agent: %q, %v", o, err)
	}
	write(b, "log/checkpoint", "custos-agent\n4\nAAAA\n\n— custos-agent xyz\n")
	if o, err := defaultOrigin(b, "", host); err != nil || o != "custos-agent" {
		t.Errorf("with a log of origin custos-agent: %q, %v", o, err)
	}
}

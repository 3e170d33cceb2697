package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

// TestServeAfterKeyRotation: keys rotate is refused while the daemon
// holds the data directory; after it, the daemon started again signs
// with the new key, and the log verifies with the old key and the new.
func TestServeAfterKeyRotation(t *testing.T) {
	bin := custosBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := []string{"CUSTOS_DATA_DIR=" + data, "CUSTOS_CONFIG=" + filepath.Join(dir, "none.yaml"),
		"CUSTOS_KEY_PASSPHRASE=old passphrase", "CUSTOS_LOG_CHECKPOINT_INTERVAL=200ms", "CUSTOS_ACTOR=custodian@example.net"}
	if err := os.WriteFile(filepath.Join(dir, "none.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(want int, env []string, args ...string) string {
		t.Helper()
		out, errOut := runCLIStderr(t, bin, env, want, args...)
		return out + errOut
	}
	run(0, env, "keys", "generate")
	oldVKey := filepath.Join(dir, "old.vkey")
	b, err := os.ReadFile(filepath.Join(data, "keys", "custos.key.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oldVKey, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rotEnv := slices.Concat(env, []string{"CUSTOS_NEW_KEY_PASSPHRASE=new passphrase"})

	d := startDaemon(t, bin, env)
	if out := run(1, rotEnv, "keys", "rotate"); !strings.Contains(out, "is locked by pid") {
		t.Fatalf("keys rotate beside the daemon: %s", out)
	}
	d.stop(t)
	run(0, rotEnv, "keys", "rotate")

	newEnv := slices.Concat(env, []string{"CUSTOS_KEY_PASSPHRASE=new passphrase"})
	d = startDaemon(t, bin, newEnv)
	admin, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	var nt struct {
		Secret string `json:"secret"`
	}
	d.call(t, strings.TrimSpace(string(admin)), "POST", "/v1/tokens", map[string]string{"name": "intake-1", "role": "intake"}, http.StatusCreated, &nt)
	d.call(t, nt.Secret, "POST", "/v1/orders", map[string]any{
		"reference": "ROT-1", "authority": "Court", "requesting_state": "NL", "profile": "budapest-16",
		"legal_basis": "art. 16", "categories": []string{"content"},
		"selectors": []map[string]string{{"type": "email", "value": "alice@example.net"}},
	}, http.StatusCreated, nil)
	d.stop(t)

	newKey := strings.TrimSpace(string(mustRead(t, filepath.Join(data, "keys", "custos.key.vkey"))))
	cp := mustRead(t, filepath.Join(data, "log", "checkpoint"))
	nv, err := chain.NewNoteVerifier(newKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.ParseCheckpoint(cp, nv); err != nil || bytes.Count(cp, []byte("\n— ")) != 1 {
		t.Fatalf("the checkpoint after the restart is not signed by the new key alone (%v):\n%s", err, cp)
	}
	for _, key := range []string{oldVKey, newKey} {
		if out := run(0, newEnv, "log", "verify", "--key", key); !strings.Contains(out, "signed by both") {
			t.Fatalf("log verify --key %s names no rotation:\n%s", key, out)
		}
	}
}

// vkeyTrust reads a .vkey file, the log's verifier line, as a chain.Trust.
func vkeyTrust(tb testing.TB, path string) *chain.Trust {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	trust, err := chain.ParseTrustLine(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatal(err)
	}
	return trust
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

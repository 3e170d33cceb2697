package auth

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenTokens are the tokens in testdata/tokens-v1.json.
func goldenTokens() []Token {
	revoked := time.Date(2026, 3, 2, 17, 5, 0, 0, time.UTC)
	return []Token{
		{ID: "01JB8Q6W2Y3V5X7Z9A1C3E5G7K", Name: "first admin", Role: Admin,
			Hash:    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Created: time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)},
		{ID: "01JB8Q6W2Y3V5X7Z9A1C3E5G7M", Name: "Zoë Ångström", Role: Custodian,
			Hash:    "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
			Created: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Revoked: &revoked},
	}
}

// TestGoldenFile pins the token file format: what is written, and that
// what was written by this version is read back the same.
func TestGoldenFile(t *testing.T) {
	path := filepath.Join("testdata", "tokens-v1.json")
	got, err := formatTokens(goldenTokens())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("formatTokens =\n%s\nwant (%s)\n%s", got, path, want)
	}
	tokens, err := parseTokens(want)
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range goldenTokens() {
		g := tokens[i]
		if g.ID != tok.ID || g.Name != tok.Name || g.Role != tok.Role || g.Hash != tok.Hash ||
			!g.Created.Equal(tok.Created) || (g.Revoked == nil) != (tok.Revoked == nil) ||
			(g.Revoked != nil && !g.Revoked.Equal(*tok.Revoked)) {
			t.Errorf("token %d = %+v, want %+v", i, g, tok)
		}
	}

	empty, err := formatTokens(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(empty) != "{\n  \"v\": 1,\n  \"tokens\": []\n}\n" {
		t.Errorf("empty file = %q", empty)
	}
}

// FuzzParseTokens parses, formats, parses again and formats again: a file
// that parses must survive a round trip unchanged.
func FuzzParseTokens(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "tokens-v1.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"v": 1, "tokens": []}`))
	f.Add([]byte(`{"v": 1, "tokens": [{"id": "01JB8Q6W2Y3V5X7Z9A1C3E5G7K", "name": "a", "role": "admin", ` +
		`"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "created": "2026-03-01T09:30:00+01:00"}]}`))
	f.Add([]byte(`{"v": 2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := parseTokens(data)
		if err != nil {
			return
		}
		out, err := formatTokens(tokens)
		if err != nil {
			t.Fatalf("formatTokens of a parsed file: %v", err)
		}
		again, err := parseTokens(out)
		if err != nil {
			t.Fatalf("the formatted file does not parse: %v\n%s", err, out)
		}
		out2, err := formatTokens(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the file:\n%s\n%s", out, out2)
		}
	})
}

package chain_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %q\nwant: %q", name, got, want)
	}
}

// goldenEvents covers every optional field and the escaping rules.
func goldenEvents() []chain.Event {
	one := uint64(0)
	return []chain.Event{
		{Version: 1, Type: chain.LogOpened, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: "custos", Agent: "agent-1"},
		{Version: 1, Type: chain.OrderReceived, Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600)),
			Order: orderA, Actor: "intake@example.net", Agent: "agent-1", Host: "host-1",
			Reason: "preservation request <urgent> & confidential", Authority: "Staatsanwaltschaft Köln",
			Details: map[string]string{"reference": "ÖSTA-1/26", "b": "2", "a": "1\n\"quoted\""}},
		{Version: 1, Type: chain.ItemPreserved, Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Order: orderA,
			Actor: "custodian@example.net", Agent: "agent-1",
			Items: []chain.Digest{{SHA256: strings.Repeat("ab", 32), SHA512: strings.Repeat("cd", 64)}},
			Prev:  strings.Repeat("01", 32), PrevIndex: &one},
	}
}

func TestGoldenEvents(t *testing.T) {
	var enc, hashes bytes.Buffer
	for _, e := range goldenEvents() {
		b, err := chain.FormatEvent(&e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := chain.ParseEvent(b)
		if err != nil {
			t.Fatalf("parse %s: %v", b, err)
		}
		again, _ := chain.FormatEvent(back)
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip changed %s to %s", b, again)
		}
		enc.Write(b)
		enc.WriteByte('\n')
		fmt.Fprintf(&hashes, "event %s leaf %s\n", chain.EventHash(b), hex.EncodeToString(chain.LeafHash(b)))
	}
	golden(t, "events.jsonl", enc.Bytes())
	golden(t, "events.hashes", hashes.Bytes())
}

// TestGoldenLog builds a small log (log.opened and ten notes) deterministically and pins its
// checkpoint, a kept checkpoint and an inclusion proof byte for byte.
func TestGoldenLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := testSigner(t, 7)
	l := openLog(t, dir, s)
	for i := range 10 {
		order := orderA
		if i%3 == 0 {
			order = orderB
		}
		if _, err := l.Append(ctx, noteEvent(order, i)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := l.Prove(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(filepath.Join(dir, "checkpoints", "11"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cp, kept) {
		t.Fatalf("kept checkpoint differs from the published one:\n%s\n%s", kept, cp)
	}
	pt, err := chain.FormatProof(p)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "log10.checkpoint", cp)
	golden(t, "log10.proof3.tlog-proof", pt)
	golden(t, "log10.vkey", []byte(mustKey(t, s).Verifier+"\n"))
	var bundle bytes.Buffer
	for r, err := range chain.Entries(ctx, os.DirFS(dir), 0, 11) {
		if err != nil {
			t.Fatal(err)
		}
		bundle.Write(r.Encoded)
		bundle.WriteByte('\n')
	}
	golden(t, "log10.events.jsonl", bundle.Bytes())
}

// TestGoldenVerify checks the pinned vectors with nothing but the files.
func TestGoldenVerify(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v, err := chain.NewNoteVerifier(string(read("log10.vkey")))
	if err != nil {
		t.Fatal(err)
	}
	events := bytes.Split(bytes.TrimSuffix(read("log10.events.jsonl"), []byte("\n")), []byte("\n"))
	ev, p, cp, err := chain.VerifyEventProof(events[3], read("log10.proof3.tlog-proof"), v)
	if err != nil {
		t.Fatal(err)
	}
	if p.Index != 3 || cp.Size != 11 || ev.Reason != "note 2" {
		t.Fatalf("verified %+v at %d of %d", ev, p.Index, cp.Size)
	}
	if _, _, _, err := chain.VerifyEventProof(events[4], read("log10.proof3.tlog-proof"), v); err == nil {
		t.Fatal("the proof of entry 3 verified entry 4")
	}
	// Against the checkpoint given apart: the same tree, or refused.
	if _, _, err := chain.VerifyEvent(events[3], read("log10.proof3.tlog-proof"), read("log10.checkpoint"), v); err != nil {
		t.Fatal(err)
	}
	other := mustKey(t, testSigner(t, 8))
	ov, _ := other.NoteVerifier()
	if _, _, err := chain.VerifyEvent(events[3], read("log10.proof3.tlog-proof"), read("log10.checkpoint"), ov); !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("verified with another key: %v", err)
	}
}

func readFile(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }

package chain

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// referenceFormat is the encoding/json form the hand-written codec must
// reproduce byte for byte.
func referenceFormat(t testing.TB, e *Event) []byte {
	w := wireEvent{
		Actor: e.Actor, Agent: e.Agent, Authority: e.Authority, Details: e.Details,
		Host: e.Host, Items: e.Items, Order: e.Order, Prev: e.Prev, PrevIndex: e.PrevIndex,
		Reason: e.Reason, Time: e.Time.UTC().Format(time.RFC3339Nano), Type: e.Type, Version: e.Version,
	}
	if len(w.Details) == 0 {
		w.Details = nil
	}
	if len(w.Items) == 0 {
		w.Items = nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestCodecMatchesEncodingJSON(t *testing.T) {
	idx := uint64(42)
	tricky := "a\"b\\c\b\f\n\r\t\x00\x1f\x7f <>& é \u2028 \u2029 😀 \ufffd"
	e := &Event{
		Version: 1, Type: ItemPreserved, Time: time.Date(2026, 1, 2, 3, 4, 5, 60, time.FixedZone("x", -3600)),
		Order: "01J9Z3K4M5N6P7Q8R9S0T1V2W3", Actor: tricky, Agent: "agent", Host: tricky, Reason: tricky,
		Authority: tricky, Prev: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", PrevIndex: &idx,
		Items:   []Digest{{SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, {SHA256: "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		Details: map[string]string{tricky: tricky, "b": "", "a": "x", "Z": "y", "é": "z"},
	}
	got, err := FormatEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := referenceFormat(t, e); !bytes.Equal(got, want) {
		t.Fatalf("codec differs from encoding/json:\n got %q\nwant %q", got, want)
	}
	back, err := ParseEvent(got)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := FormatEvent(back); !bytes.Equal(again, got) {
		t.Fatalf("round trip: %q", again)
	}
}

// FuzzCodec: for any strings, the codec writes what encoding/json writes,
// and what it writes parses back to the same event.
func FuzzCodec(f *testing.F) {
	f.Add("actor", "reason \u2028 \x01", "k", "v\"\\", uint64(3))
	f.Fuzz(func(t *testing.T, actor, reason, k, v string, n uint64) {
		e := &Event{Version: 1, Type: CustodyNote, Time: time.Unix(int64(n%4e9), int64(n%1e9)), Actor: actor,
			Agent: "a", Reason: reason, Details: map[string]string{k: v, "fixed": reason}}
		got, err := FormatEvent(e)
		if err != nil {
			return // invalid UTF-8 or empty actor: refused, fine
		}
		if want := referenceFormat(t, e); !bytes.Equal(got, want) {
			t.Fatalf("codec differs from encoding/json:\n got %q\nwant %q", got, want)
		}
		back, err := ParseEvent(got)
		if err != nil {
			t.Fatalf("own encoding does not parse: %v\n%q", err, got)
		}
		if again, _ := FormatEvent(back); !bytes.Equal(again, got) {
			t.Fatalf("round trip changed %q to %q", got, again)
		}
	})
}

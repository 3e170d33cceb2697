package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain/tsatest"
)

// BenchmarkCLICaptureTSA times, as a user runs it, a capture of 2,000
// files of 2 KiB into a new order on the local store, with and without a
// timestamp authority configured (issue 16: within 5 %; the token is
// asked for once, after the final checkpoint, never on the capture
// path). It also reports how long after an order's receipt (its
// order.received event's time) the first token covering it was issued
// (the token's genTime), for a one-shot `order add`: the bound is
// log.timestamp.every + 2 s. A genTime has whole seconds (ASN.1
// GeneralizedTime as digitorus/timestamp writes it) and an event's time
// milliseconds, so a value between -1 s and 0 means the same second.
func BenchmarkCLICaptureTSA(b *testing.B) {
	bin := custosBinary(b)
	work := b.TempDir()
	src := filepath.Join(work, "mailbox")
	for i := range 2000 {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", i%20))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%04d.eml", i)), []byte(strings.Repeat(fmt.Sprintf("%04d", i), 512)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	tsa := tsatest.New(b, tsatest.Options{})
	chain := filepath.Join(work, "chain.pem")
	if err := os.WriteFile(chain, tsa.ChainPEM(), 0o644); err != nil {
		b.Fatal(err)
	}
	conf := filepath.Join(work, "tsa.yaml")
	// every: 1s, so that each command of the loop may ask.
	if err := os.WriteFile(conf, fmt.Appendf(nil, "log:\n  timestamp:\n    tsa:\n      - {name: bench, url: %q, chain: %q}\n    every: 1s\n", tsa.URL(), chain), 0o644); err != nil {
		b.Fatal(err)
	}
	runner := func(name string, extra ...string) func(args ...string) (string, time.Duration) {
		env := append(os.Environ(), "CUSTOS_DATA_DIR="+filepath.Join(work, name), "CUSTOS_ACTOR=bench@example.net", "CUSTOS_KEY_PASSPHRASE=")
		return func(args ...string) (string, time.Duration) {
			cmd := exec.Command(bin, append(extra, args...)...)
			cmd.Env = env
			start := time.Now()
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("custos %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return strings.TrimSpace(string(out)), time.Since(start)
		}
	}
	plain, stamped := runner("plain"), runner("stamped", "--config", conf)
	plain("keys", "generate", "--no-passphrase")
	stamped("keys", "generate", "--no-passphrase")
	orderAdd := []string{"order", "add", "--reference", "BENCH", "--authority", "Court", "--requesting-state", "US", "--profile", "us-2703f",
		"--legal-basis", "18 U.S.C. 2703(f)", "--selector", "email:a@b.example", "--categories", "content"}
	var tPlain, tStamped, lag []time.Duration
	for b.Loop() {
		for _, r := range []struct {
			run   func(...string) (string, time.Duration)
			times *[]time.Duration
		}{{plain, &tPlain}, {stamped, &tStamped}} {
			id, _ := r.run(orderAdd...)
			_, d := r.run("capture", "--cut-off", "now", "--category", "content", "--source", "file://"+src, id)
			*r.times = append(*r.times, d)
		}
		time.Sleep(time.Second) // log.timestamp.every: the next command may ask again
		lag = append(lag, receiptLag(b, stamped))
		time.Sleep(time.Second)
	}
	med := func(d []time.Duration) time.Duration { s := slices.Clone(d); slices.Sort(s); return s[len(s)/2] }
	p, s := med(tPlain), med(tStamped)
	diff := (s.Seconds() - p.Seconds()) / p.Seconds() * 100
	b.ReportMetric(p.Seconds(), "s-capture-plain")
	b.ReportMetric(s.Seconds(), "s-capture-tsa")
	b.ReportMetric(med(lag).Seconds(), "s-receipt-to-token")
	b.Logf("capture of 2,000 files of 2 KiB, median of %d: without a TSA %v, with one %v (%+.1f %%; target within 5 %%: %s); "+
		"receipt to its first token (one-shot order add): %v (target: log.timestamp.every + 2s = 3s)",
		len(tPlain), p.Round(time.Millisecond), s.Round(time.Millisecond), diff, map[bool]string{true: "met", false: "NOT met"}[diff < 5],
		med(lag).Round(time.Millisecond))
}

// receiptLag adds an order and returns the time from its order.received
// event to the genTime of the first token that covers it.
func receiptLag(b *testing.B, run func(...string) (string, time.Duration)) time.Duration {
	b.Helper()
	id, _ := run("order", "add", "--reference", "LAG", "--authority", "Court", "--requesting-state", "US", "--profile", "us-2703f",
		"--legal-basis", "18 U.S.C. 2703(f)", "--selector", "email:a@b.example", "--categories", "content")
	out, _ := run("log", "show", "--order", id, "--output", "json")
	var ev struct {
		Index uint64 `json:"index"`
		Event struct {
			Type string    `json:"type"`
			Time time.Time `json:"time"`
		} `json:"event"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &ev); err != nil || ev.Event.Type != "order.received" {
		b.Fatalf("order.received of %s: %v (%s)", id, err, out)
	}
	out, _ = run("log", "show", "--timestamps", "--output", "json")
	for _, line := range strings.Split(out, "\n") {
		var t api.Timestamp
		if err := json.Unmarshal([]byte(line), &t); err == nil && t.Size > ev.Index && t.Matches {
			return t.GenTime.Sub(ev.Event.Time)
		}
	}
	b.Fatalf("no token covers order.received of %s (index %d):\n%s", id, ev.Index, out)
	return 0
}

package main

import (
	"bytes"
	"regexp"
	"testing"
	"time"
)

// The bar shows bytes done and total, the rate and the time left; a bar of
// unknown total shows bytes and rate.
func TestProgressShowsBytesRateAndETA(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressTo(&buf, 10<<20, "capturing")
	p.add(2 << 20)
	time.Sleep(150 * time.Millisecond) // past the throttle
	p.add(3 << 20)
	out := buf.String()
	for _, want := range []string{`capturing`, `5\.2/10 MB`, `[0-9.]+ [kM]B/s`, `\[[0-9]+s:[0-9]+s\]`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("bar %q lacks %s", out, want)
		}
	}
	p.done()

	buf.Reset()
	p = newProgressTo(&buf, -1, "capturing")
	p.add(1 << 20)
	time.Sleep(150 * time.Millisecond)
	p.add(1 << 20)
	if out := buf.String(); !regexp.MustCompile(`\([0-9.]+ MB, [0-9.]+ [kMGT]?B/s\)`).MatchString(out) {
		t.Errorf("spinner %q lacks bytes or rate", out)
	}
}

// Not a terminal (the tests' stderr), or JSON: nothing is drawn.
func TestProgressQuietWithoutATerminal(t *testing.T) {
	var buf bytes.Buffer
	g := &globalOptions{stderr: &buf, output: "text"}
	p := newProgress(g, 100, "x")
	p.add(50)
	p.done()
	if buf.Len() != 0 || p.bar != nil {
		t.Errorf("drew %q on a non-terminal", buf.String())
	}
}

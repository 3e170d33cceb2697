package main

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
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

// The bar names the items sealed as batches are (issue 20: it sat at 99 %
// while small files were sealed, saying nothing).
func TestProgressBarCountsItemsSealed(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressTo(&buf, 10<<20, "capturing")
	p.add(10 << 20)
	p.sealed(1024)
	p.sealed(7)
	time.Sleep(150 * time.Millisecond)
	p.add(0)
	p.done()
	if !regexp.MustCompile(`capturing, 1031 items sealed`).MatchString(buf.String()) {
		t.Errorf("bar %q does not count the items sealed", buf.String())
	}
}

// On a terminal without a width, a line every interval and a last one:
// items, bytes of the total, rate, time left.
func TestProgressLinesWithoutAWidth(t *testing.T) {
	var buf syncBuffer
	p := newProgressLines(&buf, 10<<20, "capturing", 50*time.Millisecond)
	p.add(2 << 20)
	p.sealed(3)
	time.Sleep(120 * time.Millisecond)
	p.add(1 << 20)
	p.done()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("%d lines, want one per interval and a last: %q", len(lines), buf.String())
	}
	re := regexp.MustCompile(`^capturing: 3 items sealed, [0-9.]+ MB of 10\.5 MB, [0-9.]+ MB/s, [0-9]+s elapsed, about [0-9hms.]+ left$`)
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Errorf("line %q lacks items, bytes, rate or time left", l)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

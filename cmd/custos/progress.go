package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress is a progress bar with bytes, rate and ETA for long captures and
// fixity runs, drawn on standard error when it is a terminal and the output
// is text; otherwise it draws nothing, so scripts and JSON stay clean.
type progress struct {
	bar *progressbar.ProgressBar // nil: quiet
}

// newProgress starts a bar for total bytes (-1: unknown, a spinner with
// bytes and rate and no ETA).
func newProgress(g *globalOptions, total int64, what string) *progress {
	f, ok := g.stderr.(*os.File)
	if g.json() || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return newProgressTo(g.stderr, total, what)
}

// newProgressTo draws on w whatever it is (for tests).
func newProgressTo(w io.Writer, total int64, what string) *progress {
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprint(w, "\n") }),
	)}
}

// add counts n more bytes; safe from several goroutines.
func (p *progress) add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// done ends the bar, leaving its last state on the terminal.
func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a long capture or fixity run on standard error when it
// is a terminal and the output is text: items sealed and bytes read, the
// rate and the time left. On a terminal that reports a usable width it is
// a bar; on one that reports none (a serial console, some CI runners) a
// line every few seconds, since a bar there is drawn empty. Otherwise it
// shows nothing, so scripts and JSON stay clean.
type progress struct {
	what  string
	items atomic.Int64 // sealed
	bar   *progressbar.ProgressBar

	// lines mode
	w     io.Writer
	total int64
	bytes atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// minBarWidth is the narrowest terminal a bar is drawn on.
const minBarWidth = 40

// progressEvery is how often a terminal without a width gets a line.
const progressEvery = 5 * time.Second

// newProgress starts showing a run of total bytes (-1: unknown, shown
// without a total or ETA).
func newProgress(g *globalOptions, total int64, what string) *progress {
	f, ok := g.stderr.(*os.File)
	if g.json() || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{what: what}
	}
	if width, _, err := term.GetSize(int(f.Fd())); err != nil || width < minBarWidth {
		return newProgressLines(g.stderr, total, what, progressEvery)
	}
	return newProgressTo(g.stderr, total, what)
}

// newProgressTo draws a bar on w whatever it is (for tests).
func newProgressTo(w io.Writer, total int64, what string) *progress {
	return &progress{what: what, bar: progressbar.NewOptions64(total,
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

// newProgressLines writes a line on w every interval, and a last one when
// done.
func newProgressLines(w io.Writer, total int64, what string, every time.Duration) *progress {
	p := &progress{what: what, w: w, total: total, start: time.Now(), stop: make(chan struct{})}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				fmt.Fprintln(w, p.line())
			}
		}
	})
	return p
}

// line is the state of the run in a line: items, bytes, rate, time left.
func (p *progress) line() string {
	n, items := p.bytes.Load(), p.items.Load()
	elapsed := time.Since(p.start)
	rate := float64(n) / max(elapsed.Seconds(), 0.001)
	s := fmt.Sprintf("%s: %d items sealed, %s", p.what, items, mb(n))
	if p.total > 0 {
		s += " of " + mb(p.total)
	}
	s += fmt.Sprintf(", %s/s, %s elapsed", mb(int64(rate)), elapsed.Round(time.Second))
	if p.total > 0 && n > 0 && n < p.total {
		left := time.Duration(float64(p.total-n) / rate * float64(time.Second))
		s += ", about " + left.Round(time.Second).String() + " left"
	}
	return s
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// add counts n more bytes; safe from several goroutines.
func (p *progress) add(n int) {
	switch {
	case p.bar != nil:
		_ = p.bar.Add(n)
	case p.stop != nil:
		p.bytes.Add(int64(n))
	}
}

// sealed counts the items of a batch sealed: after the last byte is read
// a capture may still be sealing, and the bar says so.
func (p *progress) sealed(items int) {
	n := p.items.Add(int64(items))
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%s, %d items sealed", p.what, n))
	}
}

// done ends the display, leaving its last state on the terminal.
func (p *progress) done() {
	switch {
	case p.bar != nil:
		_ = p.bar.Finish()
	case p.stop != nil:
		close(p.stop)
		p.wg.Wait()
		fmt.Fprintln(p.w, p.line())
	}
}

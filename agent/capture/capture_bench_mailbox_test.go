package capture

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The synthetic mailbox of issue 15: mailboxCount messages of 1 KiB to
// 1 MiB, log-normally distributed around a median of about 10 KiB (a
// ten-year business mailbox holds 250,000 to 450,000 of them).
const (
	mailboxCount  = 100_000
	mailboxMedian = 10 << 10
	mailboxSigma  = 1.2
	mailboxMin    = 1 << 10
	mailboxMax    = 1 << 20
)

// mailbox is the directory of the synthetic mailbox and its bytes,
// written once per test process beside the other inputs.
type mailbox struct {
	dir   string
	bytes int64
}

var mailboxInput = sync.OnceValues(func() (mailbox, error) {
	in, err := benchInputs()
	if err != nil {
		return mailbox{}, err
	}
	m := mailbox{dir: filepath.Join(in.dir, "in", "mailbox")}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return mailbox{}, err
	}
	r := rand.New(rand.NewPCG(15, 15))
	for i := range mailboxCount {
		size := int64(float64(mailboxMedian) * math.Exp(mailboxSigma*r.NormFloat64()))
		size = min(max(size, mailboxMin), mailboxMax)
		if err := writeGenerated(filepath.Join(m.dir, fmt.Sprintf("%06d.eml", i)), size, uint64(100_000+i)); err != nil {
			return mailbox{}, err
		}
		m.bytes += size
	}
	syscall.Sync()
	return m, nil
})

func mailboxOf(b *testing.B) mailbox {
	b.Helper()
	m, err := mailboxInput()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkCaptureMailbox captures the synthetic mailbox (one dir source)
// into the local store and reports items/s and MB/s; the same files
// written, fsynced and renamed by a bare loop with the capture's
// concurrency is the disk's bound, timed in the same run.
func BenchmarkCaptureMailbox(b *testing.B) {
	in := benchInputsOf(b)
	m := mailboxOf(b)
	var appends []int64
	capture := captureInto(b, in, func(dir string) (Store, func()) { return openLocal(b)(dir) }, "dir", m.dir, mailboxCount, &appends)
	t := rotate(b, capture, bareLocal(b, in, m.dir))
	mc, mb := benchMedian(t[0]), benchMedian(t[1])
	items := mailboxCount / mc.Seconds()
	perTenK := float64(medianInt(appends)) * 10_000 / mailboxCount
	b.ReportMetric(items, "items/s")
	b.ReportMetric(float64(m.bytes)/mc.Seconds()/1e6, "MB/s")
	b.ReportMetric(mc.Seconds()/mb.Seconds(), "x-bare")
	b.Logf("capture of the synthetic mailbox (%d items, %.0f MB, 1 KiB to 1 MiB, median ~10 KiB) into the local store: median %v of %d, "+
		"%.0f items/s (target >= %d: %s), %.0f MB/s; bare write+fsync+rename loop, %d at a time, %v (%.0f items/s): capture %.2fx its time; "+
		"log appends per 10,000 items %.1f (target <= %d: %s)",
		mailboxCount, float64(m.bytes)/1e6, mc.Round(time.Millisecond), len(t[0]), items, targetMailbox, benchVerdict(items >= targetMailbox),
		float64(m.bytes)/mc.Seconds()/1e6, smallWorkers, mb.Round(time.Millisecond), mailboxCount/mb.Seconds(), mc.Seconds()/mb.Seconds(),
		perTenK, targetAppends, benchVerdict(perTenK <= targetAppends))
}

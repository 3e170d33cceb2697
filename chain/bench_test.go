package chain_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// Targets from issue 2; the benchmarks print each figure against its
// target and against a baseline measured in the same run.
const (
	targetAppendsPerSec = 10_000
	targetVerify1M      = 3 * time.Second
	bench1MSize         = 1_000_000
)

// BenchmarkAppendConcurrent measures durable appends per second with 256
// concurrent appenders. The baseline is the same number of small appends
// made durable one by one (write + fsync) in the same run.
func BenchmarkAppendConcurrent(b *testing.B) {
	ctx := context.Background()
	const appenders = 256
	dir := b.TempDir()
	l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: testSigner(b, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(ctx)
	ev := noteEvent("", 0)
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := l.Append(ctx, ev); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(b.N) / elapsed.Seconds()
	base := fsyncAppendRate(b, min(b.N, 2000))
	if b.N < 1000 {
		return // the testing package's probe run: too short to mean anything
	}
	b.ReportMetric(rate, "appends/s")
	b.ReportMetric(rate/base, "x-fsync-each")
	b.Logf("durable appends: %.0f/s with %d appenders (target >= %d/s: %s); baseline write+fsync per entry %.0f/s, ratio %.1fx",
		rate, appenders, targetAppendsPerSec, verdict(rate >= targetAppendsPerSec), base, rate/base)
}

// fsyncAppendRate is the baseline: n entries of an event's size, each
// appended to one file and synced before the next.
func fsyncAppendRate(b *testing.B, n int) float64 {
	f, err := os.Create(filepath.Join(b.TempDir(), "baseline"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 200)
	start := time.Now()
	for range n {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

// bigLog returns a closed log of bench1MSize entries over 64 orders, built
// once and kept in the user cache directory (about 300 MB), and its key.
func bigLog(b *testing.B) (string, *chain.Key) {
	b.Helper()
	s := testSigner(b, 11)
	key := mustKey(b, s)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	// The log.opened event and bench1MSize-1 notes: bench1MSize entries.
	dir := filepath.Join(cache, "custos-bench", fmt.Sprintf("log-%d-v%d-2", bench1MSize, chain.EventVersion))
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return dir, key
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: s})
	if err != nil {
		b.Fatal(err)
	}
	const workers = 256
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := fmt.Sprintf("01J9Z3K4M5N6P7Q8R9S0T1%04X", w%64)
			if w >= 64 {
				order = ""
			}
			for i := next.Add(1); i < bench1MSize; i = next.Add(1) {
				if _, err := l.Append(ctx, noteEvent(order, int(i))); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a %d-entry log in %v at %s", bench1MSize, time.Since(start).Round(time.Second), dir)
	return dir, key
}

// BenchmarkVerifyLog1M verifies a 1,000,000-entry log in full. The
// baseline reads every entry bundle and hashes it with SHA-256 once.
func BenchmarkVerifyLog1M(b *testing.B) {
	dir, key := bigLog(b)
	v, err := key.NoteVerifier()
	if err != nil {
		b.Fatal(err)
	}
	fsys := os.DirFS(dir)
	base := readAndHash(b, fsys)
	b.ResetTimer()
	var runs []time.Duration
	for range b.N {
		start := time.Now()
		rep, err := chain.VerifyLog(context.Background(), fsys, v)
		runs = append(runs, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if rep.Entries != bench1MSize {
			b.Fatalf("verified %d entries", rep.Entries)
		}
	}
	per := median(runs)
	b.ReportMetric(per.Seconds(), "s/verify")
	b.ReportMetric(per.Seconds()/base.Seconds(), "x-read+sha256")
	b.Logf("full verification of %d entries: median %v of %d runs (target < %v: %s); baseline read+sha256 of every bundle %v, ratio %.1fx",
		bench1MSize, per.Round(time.Millisecond), len(runs), targetVerify1M, verdict(per < targetVerify1M), base.Round(time.Millisecond), per.Seconds()/base.Seconds())
}

// BenchmarkOpen1M opens the 1,000,000-entry log for writing and closes
// it: what a writer pays before its first append (the checks against the
// signed checkpoints, the sweep of leftovers, and the verification of what
// no verification covered: here the stamps of the files verified before
// and the last, partial, bundle). The first open, not timed, verifies the
// whole log and records it. The baseline is a full verification.
func BenchmarkOpen1M(b *testing.B) {
	ctx := context.Background()
	dir, key := bigLog(b)
	s := testSigner(b, 11)
	open := func() {
		l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: s})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	open()
	v, err := key.NoteVerifier()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := chain.VerifyLog(ctx, os.DirFS(dir), v); err != nil {
		b.Fatal(err)
	}
	full := time.Since(start)
	b.ResetTimer()
	var runs []time.Duration
	for range b.N {
		start := time.Now()
		open()
		runs = append(runs, time.Since(start))
	}
	per := median(runs)
	b.ReportMetric(per.Seconds()*1000, "ms/open")
	b.Logf("open for writing and close at %d entries: median %v of %d runs (no target); a full verification %v, ratio %.3fx",
		bench1MSize, per.Round(time.Millisecond), len(runs), full.Round(time.Millisecond), per.Seconds()/full.Seconds())
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func readAndHash(b *testing.B, fsys fs.FS) time.Duration {
	start := time.Now()
	err := fs.WalkDir(fsys, "tile/entries", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		sha256.Sum256(data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkProve1M builds inclusion proofs at random indexes of the 1M log.
func BenchmarkProve1M(b *testing.B) {
	dir, _ := bigLog(b)
	fsys := os.DirFS(dir)
	cpRaw, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := chain.BuildInclusionProof(context.Background(), fsys, cpRaw, bench1MSize, rand.Uint64N(bench1MSize)); err != nil {
			b.Fatal(err)
		}
	}
	if b.N >= 100 {
		b.Logf("inclusion proof at a random index of %d entries, built from the tiles: %v each (no target)", bench1MSize, (time.Since(start) / time.Duration(b.N)).Round(time.Microsecond))
	}
}

// BenchmarkVerifyProof1M verifies an event, its proof and the checkpoint
// signature offline, as an investigator would.
func BenchmarkVerifyProof1M(b *testing.B) {
	dir, key := bigLog(b)
	v, _ := key.NoteVerifier()
	fsys := os.DirFS(dir)
	cpRaw, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		b.Fatal(err)
	}
	const idx = 765_432
	p, err := chain.BuildInclusionProof(context.Background(), fsys, cpRaw, bench1MSize, idx)
	if err != nil {
		b.Fatal(err)
	}
	text, _ := chain.FormatProof(p)
	var enc []byte
	for r, err := range chain.Entries(context.Background(), fsys, idx, idx+1) {
		if err != nil {
			b.Fatal(err)
		}
		enc = r.Encoded
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, _, _, err := chain.VerifyEventProof(enc, text, v); err != nil {
			b.Fatal(err)
		}
	}
	if b.N >= 100 {
		b.Logf("offline check of one event, its tlog-proof and the checkpoint signature at %d entries: %v each (no target)", bench1MSize, (time.Since(start) / time.Duration(b.N)).Round(time.Microsecond))
	}
}

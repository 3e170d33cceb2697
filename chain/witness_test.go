package chain_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/witnesstest"
)

// startWitness starts a witness of the log signed by seed's key.
func startWitness(t *testing.T, name string, alg witnesstest.Alg, seed byte) *witnesstest.Witness {
	t.Helper()
	w, err := witnesstest.New(name, alg, mustVerifier(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// syncBuffer is a log destination tests read while the log writes.
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

// openWitnessed opens a log whose checkpoints policy's witnesses cosign.
// The log's own timer waits an hour, so that Publish alone publishes
// after the first checkpoint.
func openWitnessed(t *testing.T, dir string, seed byte, policy []byte, failOpen bool, logs *syncBuffer) *chain.Log {
	t.Helper()
	p, err := chain.ParseWitnessPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	l, err := chain.Open(context.Background(), chain.Config{Dir: dir, Origin: testOrigin, Signer: testSigner(t, seed),
		CheckpointInterval: time.Hour, BatchMaxAge: time.Millisecond, Now: func() time.Time { return testTime },
		Witnesses: &chain.WitnessConfig{Policy: p, FailOpen: failOpen, Timeout: 5 * time.Second}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendNotes(t *testing.T, l *chain.Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := l.Append(context.Background(), noteEvent(orderA, i)); err != nil {
			t.Fatal(err)
		}
	}
}

func closeLog(t *testing.T, l *chain.Log) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWitnessesCosignCheckpoints(t *testing.T) {
	ctx := context.Background()
	ed := startWitness(t, "ed.witness.test", witnesstest.Ed25519, 1)
	ml := startWitness(t, "mldsa.witness.test", witnesstest.MLDSA44, 1)
	policy := witnesstest.Policy(2, ed, ml)
	p, err := chain.ParseWitnessPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := openWitnessed(t, dir, 1, policy, false, nil)
	var sizes []uint64
	for round := range 3 {
		appendNotes(t, l, round*5, 5)
		cp, err := l.Publish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, cp.Size)
		res, err := p.CheckCosignatures(cp.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if !res.QuorumMet || len(res.Witnesses) != 2 {
			t.Fatalf("round %d: checkpoint %d cosigned by %v, missing %v", round, cp.Size, res.Witnesses, res.Missing)
		}
		kept, err := os.ReadFile(filepath.Join(dir, chain.CosignaturesDir, strconv.FormatUint(cp.Size, 10)))
		if err != nil || !bytes.Equal(kept, cp.Raw) {
			t.Fatalf("round %d: cosigned checkpoint not kept as published (%v)", round, err)
		}
		// checkpoints/<size> keeps the note as the log signed it.
		signed, err := os.ReadFile(filepath.Join(dir, chain.CheckpointsDir, strconv.FormatUint(cp.Size, 10)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(cp.Raw, signed) || len(signed) >= len(cp.Raw) {
			t.Fatalf("round %d: kept checkpoint is not the log's signed note the cosignatures extend", round)
		}
	}
	// Rounds after the first reached the witnesses with a consistency
	// proof from the size they cosigned.
	for _, w := range []*witnesstest.Witness{ed, ml} {
		if w.Size() != sizes[len(sizes)-1] {
			t.Fatalf("witness %s at size %d, want %d", w.Name, w.Size(), sizes[len(sizes)-1])
		}
		if c, _, refused := w.Stats(); c < 3 || refused > 0 {
			t.Fatalf("witness %s cosigned %d, refused %d", w.Name, c, refused)
		}
	}
	closeLog(t, l)
	// The log with its cosignatures still verifies, and its checkpoints
	// still open with the log's key alone.
	if _, err := chain.VerifyLog(ctx, os.DirFS(dir), mustVerifier(t, 1)); err != nil {
		t.Fatal(err)
	}
}

func mustVerifier(t testing.TB, seed byte) note.Verifier {
	t.Helper()
	_, key, err := chain.NewNoteSigner(testOrigin, testSigner(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWitnessResync: a witness that missed a checkpoint answers 409 with
// the size it knows, and the log resends from there. Fail-open, the
// checkpoint it missed is published and logged.
func TestWitnessResyncAndFailOpen(t *testing.T) {
	ctx := context.Background()
	w := startWitness(t, "late.witness.test", witnesstest.Ed25519, 1)
	policy := witnesstest.Policy(1, w)
	var logs syncBuffer
	w.SetDown(true)
	l := openWitnessed(t, t.TempDir(), 1, policy, true, &logs)
	appendNotes(t, l, 0, 3)
	cp1, err := l.Publish(ctx)
	if err != nil {
		t.Fatalf("fail-open: %v", err)
	}
	if strings.Count(string(cp1.Raw), "\n— ") != 1 {
		t.Fatalf("checkpoint published without a witness carries cosignatures:\n%s", cp1.Raw)
	}
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "without its witness quorum") ||
		!strings.Contains(got, fmt.Sprintf("size=%d", cp1.Size)) || !strings.Contains(got, "missing="+w.Name) {
		t.Fatalf("fail-open miss not logged at WARN:\n%s", got)
	}
	w.SetDown(false)
	appendNotes(t, l, 3, 3)
	cp2, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := chain.ParseWitnessPolicy(policy)
	if res, err := p.CheckCosignatures(cp2.Raw); err != nil || !res.QuorumMet {
		t.Fatalf("after resync: %+v, %v", res, err)
	}
	if _, conflicts, _ := w.Stats(); conflicts == 0 {
		t.Fatal("the witness never answered 409: the resync was not exercised")
	}
	closeLog(t, l)
}

func TestWitnessQuorumFailClosed(t *testing.T) {
	ctx := context.Background()
	up := startWitness(t, "up.witness.test", witnesstest.Ed25519, 1)
	down := startWitness(t, "down.witness.test", witnesstest.MLDSA44, 1)
	policy := witnesstest.Policy(2, up, down)
	dir := t.TempDir()
	l := openWitnessed(t, dir, 1, policy, false, nil)
	appendNotes(t, l, 0, 2)
	before, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	down.SetDown(true)
	appendNotes(t, l, 2, 2)
	_, err = l.Publish(ctx)
	if !errors.Is(err, chain.ErrWitnessQuorum) {
		t.Fatalf("quorum unmet, fail-closed: got %v", err)
	}
	for _, want := range []string{"quorum 2 of 2", down.Name, down.URL(), "503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, chain.CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := chain.ParseCheckpoint(raw, l.Verifier()); err != nil || cp.Size != before.Size {
		t.Fatalf("published checkpoint moved to %v (%v) though its quorum was not met", cp, err)
	}
	// Tried again as the log grows, still without its quorum: no signed
	// checkpoint is left behind newer than the published one, which a
	// verification would take for a rollback.
	appendNotes(t, l, 4, 2)
	if _, err := l.Publish(ctx); !errors.Is(err, chain.ErrWitnessQuorum) {
		t.Fatalf("second attempt: %v", err)
	}
	if rep, err := l.Verify(ctx, true); err != nil {
		t.Fatalf("verify after failed witnessing: %v (%+v)", err, rep)
	}
	down.SetDown(false)
	after, err := l.Publish(ctx)
	if err != nil || after.Size <= before.Size {
		t.Fatalf("witness back: %v, %v", after, err)
	}
	closeLog(t, l)
}

// TestWitnessRefusesRolledBackLog: a witness that cosigned one history
// refuses another of the same log (same key and origin) that does not
// extend it, and fail-closed, nothing is published.
func TestWitnessRefusesRolledBackLog(t *testing.T) {
	ctx := context.Background()
	w := startWitness(t, "guard.witness.test", witnesstest.Ed25519, 1)
	policy := witnesstest.Policy(1, w)
	first := openWitnessed(t, t.TempDir(), 1, policy, false, nil)
	appendNotes(t, first, 0, 4)
	cp, err := first.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closeLog(t, first)
	// The same log rebuilt with other entries, past the size the
	// witness cosigned. A new log's first, empty, checkpoint goes to the
	// witnesses too, and this one refuses it (it knows a larger tree):
	// the log is started without witnesses, then given them.
	dir := t.TempDir()
	if _, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: testSigner(t, 1),
		Witnesses: &chain.WitnessConfig{Policy: mustPolicy(t, policy)}}); err == nil || !strings.Contains(err.Error(), "larger than log size") {
		t.Fatalf("new log, witness ahead of it: %v", err)
	}
	dir = t.TempDir()
	plain := openLog(t, dir, testSigner(t, 1))
	appendNotes(t, plain, 100, 8)
	closeLog(t, plain)
	second := openWitnessed(t, dir, 1, policy, false, nil)
	appendNotes(t, second, 200, 1)
	_, err = second.Publish(ctx)
	if !errors.Is(err, chain.ErrWitnessQuorum) || !strings.Contains(err.Error(), "consistency proof") {
		t.Fatalf("rolled-back log: got %v", err)
	}
	if w.Size() != cp.Size {
		t.Fatalf("witness moved from %d to %d", cp.Size, w.Size())
	}
	if _, _, refused := w.Stats(); refused == 0 {
		t.Fatal("the witness refused nothing")
	}
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := second.Close(ctx2); !errors.Is(err, chain.ErrWitnessQuorum) {
		t.Fatalf("close of the refused log: %v", err)
	}
}

func mustPolicy(t *testing.T, text []byte) *chain.WitnessPolicy {
	t.Helper()
	p, err := chain.ParseWitnessPolicy(text)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseWitnessPolicyRefuses(t *testing.T) {
	w := startWitness(t, "p.witness.test", witnesstest.Ed25519, 1)
	good := fmt.Sprintf("witness a %s %s\n", w.VKey, w.URL())
	// An ECDSA note key (type 0x02) is not a cosignature key.
	ecdsaKey := "p.witness.test+12345678+AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for name, text := range map[string]string{
		"no quorum":           good,
		"quorum too large":    good + "group g 2 a\nquorum g\n",
		"unknown keyword":     good + "witnesses a\nquorum a\n",
		"unknown key type":    fmt.Sprintf("witness a %s %s\nquorum a\n", ecdsaKey, w.URL()),
		"unknown member":      good + "group g 1 b\nquorum g\n",
		"witness without url": fmt.Sprintf("witness a %s\nquorum a\n", w.VKey),
		"url with a password": fmt.Sprintf("witness a %s https://u:secret@w.example\nquorum a\n", w.VKey),
	} {
		if _, err := chain.ParseWitnessPolicy([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := chain.ParseWitnessPolicy([]byte(good + "quorum a\n")); err != nil {
		t.Fatal(err)
	}
}

// TestWitnessedLogPublishesOnItsOwn: with witnesses the log's timed
// checkpoints go through the same path: published, cosigned and kept
// without anyone calling Publish.
func TestWitnessedLogPublishesOnItsOwn(t *testing.T) {
	ctx := context.Background()
	w := startWitness(t, "timer.witness.test", witnesstest.Ed25519, 1)
	p := mustPolicy(t, witnesstest.Policy(1, w))
	dir := t.TempDir()
	l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: testSigner(t, 1),
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond, Now: func() time.Time { return testTime },
		Witnesses: &chain.WitnessConfig{Policy: p}})
	if err != nil {
		t.Fatal(err)
	}
	appendNotes(t, l, 0, 5)
	size, err := l.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, chain.CosignaturesDir, strconv.FormatUint(size, 10))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cosigned checkpoint of %d entries published within 10s", size)
		}
		time.Sleep(20 * time.Millisecond) // polling the condition, not waiting for it
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.CheckCosignatures(raw); err != nil || !res.QuorumMet {
		t.Fatalf("timed checkpoint: %+v, %v", res, err)
	}
	closeLog(t, l)
}

// TestWitnessFailClosedDropsUnwitnessed: a checkpoint signed but never
// witnessed (a crash between the two) is not published when the log is
// opened again fail-closed; its entries are adopted with log.recovered.
func TestWitnessFailClosedDropsUnwitnessed(t *testing.T) {
	ctx := context.Background()
	w := startWitness(t, "crash.witness.test", witnesstest.Ed25519, 1)
	policy := witnesstest.Policy(1, w)
	dir := t.TempDir()
	l := openWitnessed(t, dir, 1, policy, false, nil)
	appendNotes(t, l, 0, 3)
	published, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	// What a crash leaves: entries, and a kept checkpoint signed for
	// them, never published (written here by a log without witnesses,
	// whose published checkpoint is then put back).
	plain, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: testSigner(t, 1),
		CheckpointInterval: time.Hour, BatchMaxAge: time.Millisecond, Now: func() time.Time { return testTime }})
	if err != nil {
		t.Fatal(err)
	}
	appendNotes(t, plain, 3, 2)
	kept, err := plain.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closeLog(t, plain)
	if err := os.WriteFile(filepath.Join(dir, chain.CheckpointPath), published.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openWitnessed(t, dir, 1, policy, false, nil)
	defer closeLog(t, l)
	if _, err := os.Stat(filepath.Join(dir, chain.CheckpointsDir, strconv.FormatUint(kept.Size, 10))); err == nil {
		t.Fatalf("the unwitnessed checkpoint of %d entries is still kept", kept.Size)
	}
	cp, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := mustPolicy(t, policy).CheckCosignatures(cp.Raw); err != nil || !res.QuorumMet || cp.Size <= kept.Size {
		t.Fatalf("checkpoint after reopening: size %d, %+v, %v", cp.Size, res, err)
	}
	var recovered bool
	for r, err := range chain.Entries(ctx, l.FS(), published.Size, cp.Size) {
		if err != nil {
			t.Fatal(err)
		}
		recovered = recovered || r.Event.Type == chain.LogRecovered
	}
	if !recovered {
		t.Fatal("the entries the dropped checkpoint sealed were not adopted with log.recovered")
	}
}

// TestWitnessManyMLDSA: five ML-DSA-44 cosignatures (3.3 KB each) make a
// checkpoint the log publishes and verifies; a policy whose cosignatures
// could not fit in a checkpoint a verifier reads is refused.
func TestWitnessManyMLDSA(t *testing.T) {
	ctx := context.Background()
	var ws []*witnesstest.Witness
	for i := range 5 {
		ws = append(ws, startWitness(t, fmt.Sprintf("mldsa%d.witness.test", i), witnesstest.MLDSA44, 1))
	}
	policy := witnesstest.Policy(5, ws...)
	dir := t.TempDir()
	l := openWitnessed(t, dir, 1, policy, false, nil)
	appendNotes(t, l, 0, 2)
	cp, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := mustPolicy(t, policy).CheckCosignatures(cp.Raw); err != nil || len(res.Witnesses) != 5 {
		t.Fatalf("%+v, %v", res, err)
	}
	closeLog(t, l)
	if _, err := chain.VerifyLog(ctx, os.DirFS(dir), mustVerifier(t, 1)); err != nil {
		t.Fatal(err)
	}
	var many bytes.Buffer
	for i := range 25 {
		fmt.Fprintf(&many, "witness w%d %s %s\n", i, ws[0].VKey, ws[0].URL())
	}
	many.WriteString("group g any")
	for i := range 25 {
		fmt.Fprintf(&many, " w%d", i)
	}
	many.WriteString("\nquorum g\n")
	if _, err := chain.ParseWitnessPolicy(many.Bytes()); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("25 ML-DSA-44 witnesses: %v", err)
	}
}

// TestVerifyLogChecksCosigned: log verification reads the cosigned
// checkpoints too: one whose log signature or root was changed is
// tampering, named by its file.
func TestVerifyLogChecksCosigned(t *testing.T) {
	ctx := context.Background()
	w := startWitness(t, "verify.witness.test", witnesstest.Ed25519, 1)
	dir := t.TempDir()
	l := openWitnessed(t, dir, 1, witnesstest.Policy(1, w), false, nil)
	appendNotes(t, l, 0, 3)
	cp, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	v := mustVerifier(t, 1)
	if _, err := chain.VerifyLog(ctx, os.DirFS(dir), v); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, chain.CosignaturesDir, strconv.FormatUint(cp.Size, 10))
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Another root under the log's signature lines: they no longer verify.
	lines := strings.SplitN(string(raw), "\n", 4)
	lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = chain.VerifyLog(ctx, os.DirFS(dir), v)
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), chain.CosignaturesDir+"/"+strconv.FormatUint(cp.Size, 10)) {
		t.Fatalf("altered cosigned checkpoint: %v", err)
	}
}

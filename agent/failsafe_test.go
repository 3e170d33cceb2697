package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/oklog/ulid/v2"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
	"github.com/custos-evidence/custos/storage"
)

// Issue 19, "fail safe": a disclosure lets go only of a package it has
// verified itself, writes nothing others can read, and leaves nothing a
// start does not remove and log; tampering found while disclosing is
// logged as it is when found through the API; a start closes the captures
// a dead process left open.

// recover does what a writer's start does.
func (f *registryFixture) recover(t *testing.T) *Recovery {
	t.Helper()
	rec, err := Recover(context.Background(), StartConfig{Log: f.log, WorkDir: filepath.Join(f.dir, "work"),
		StateFile: filepath.Join(f.dir, "recovery.json"), Agent: "agent-1", Host: "host-1"})
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	return rec
}

// workLeft lists what the fixture's work directory holds.
func (f *registryFixture) workLeft(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.dir, "work"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestDiscloseLetsGoOnlyOfAPackageThatVerifies: a package whose statement
// is signed with another key than the log's (a misconfigured signer) does
// not verify with the log's key. Disclose builds it, checks it as an
// investigator would, and refuses it as tampering: nothing at the output,
// no disclosure.created, the order not disclosed, no work left behind.
func TestDiscloseLetsGoOnlyOfAPackageThatVerifies(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := disclosedOrder(t, f)
	before := f.orderEvents(t, o.ID)
	c := *f.reg.Capturer
	c.Signer = testSigner(t, 9) // not the log's key
	f.reg.Capturer = &c
	for _, tc := range []struct {
		out        string
		recipients []age.Recipient
	}{{"pkg", nil}, {"pkg.zip", nil}, {"pkg.tar", nil}, {"sealed.tar", []age.Recipient{mustRecipient(t)}}} {
		dir := t.TempDir()
		confirmRequester(t, f.reg, o.ID)
		_, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: filepath.Join(dir, tc.out), Recipients: tc.recipients, Actor: "discloser"})
		if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "the package built does not verify (attestation-signature failed)") {
			t.Errorf("%s: %v, want the package refused as not verifying", tc.out, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s: a package that does not verify left %v beside the output", tc.out, entries)
		}
	}
	if after := f.orderEvents(t, o.ID); !slices.Equal(after, before) {
		t.Errorf("refused disclosures logged %v", after[len(before):])
	}
	if v, err := f.reg.Get(ctx, o.ID); err != nil || v.Order.Status != order.StatusPreserved {
		t.Errorf("order after refused disclosures: %v %v", v, err)
	}
	if left := f.workLeft(t); len(left) != 0 {
		t.Errorf("work left: %v", left)
	}
}

// TestDisclosureWritesNothingOthersCanRead: every file and directory of a
// package, in each form, is its owner's alone, and no work is left.
func TestDisclosureWritesNothingOthersCanRead(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := disclosedOrder(t, f)
	dir := t.TempDir()
	for _, tc := range []struct {
		out        string
		recipients []age.Recipient
	}{{"pkg", nil}, {"pkg.zip", nil}, {"pkg.tar", nil}, {"sealed.zip", []age.Recipient{mustRecipient(t)}}} {
		confirmRequester(t, f.reg, o.ID)
		if _, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: filepath.Join(dir, tc.out), Recipients: tc.recipients, Actor: "d"}); err != nil {
			t.Fatalf("%s: %v", tc.out, err)
		}
	}
	var seen []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		seen = append(seen, rel)
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read it", rel, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pkg/data/mail/inbox/1.eml", "pkg.zip", "pkg.tar", "sealed.zip.age"} {
		if !slices.Contains(seen, want) {
			t.Errorf("no %s among %v", want, seen)
		}
	}
	if slices.Contains(seen, "sealed.zip") {
		t.Error("the unencrypted archive of an encrypted package was left beside it")
	}
	if left := f.workLeft(t); len(left) != 0 {
		t.Errorf("work left: %v", left)
	}
}

// TestDiscloseOfAnAlteredItemLogsFixityFailed: an item altered in the
// store stops the disclosure as tampering, and fixity.failed names it,
// as a read of it through the API does; nothing is let go or logged as
// disclosed.
func TestDiscloseOfAnAlteredItemLogsFixityFailed(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := disclosedOrder(t, f)
	sum := sha256.Sum256([]byte("hello")) // inbox/1.eml
	hexSum := hex.EncodeToString(sum[:])
	obj := filepath.Join(f.dir, "store", "objects", filepath.FromSlash(capture.ItemKey(o.ID, hexSum)))
	if err := os.Chmod(obj, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(obj, []byte("jello"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pkg.zip")
	confirmRequester(t, f.reg, o.ID)
	_, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: out, Actor: "discloser"})
	if !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("disclosing an altered item: %v, want tampering", err)
	}
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a package was put in place: %v", err)
	}
	evs := f.verifiedEvents(t, o.ID)
	last := evs[len(evs)-1]
	if last.Type != chain.FixityFailed || len(last.Items) != 1 || last.Items[0].SHA256 != hexSum ||
		last.Details["via"] != "disclose" || last.Details["key"] != capture.ItemKey(o.ID, hexSum) || !strings.Contains(last.Reason, "hashes to") {
		t.Fatalf("newest event %+v, want fixity.failed naming the altered item", last)
	}
	if slices.ContainsFunc(evs, func(e *chain.Event) bool { return e.Type == chain.DisclosureCreated }) {
		t.Error("disclosure.created logged")
	}
	if left := f.workLeft(t); len(left) != 0 {
		t.Errorf("work left: %v", left)
	}
}

// TestStartClosesCapturesLeftOpen: a capture whose process died (its
// capture.started logged, its end never; one item stored and never
// sealed) is recorded as capture.failed (interrupted) by the next start,
// once; the next capture of the order still seals what it stored.
func TestStartClosesCapturesLeftOpen(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	dead := ulid.Make().String()
	if _, err := f.log.Append(ctx, chain.Event{Type: chain.CaptureStarted, Time: time.Now(), Order: o.ID, Actor: "custodian",
		Agent: "agent-1", Authority: o.LegalBasis, Details: map[string]string{"capture": dead}}); err != nil {
		t.Fatal(err)
	}
	orphan := []byte("stored by the dead capture, never sealed")
	sum := sha256.Sum256(orphan)
	if _, err := f.store.Put(ctx, capture.ItemKey(o.ID, hex.EncodeToString(sum[:])), bytes.NewReader(orphan),
		storage.PutOptions{SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}

	if rec := f.recover(t); !slices.Equal(rec.Interrupted[o.ID], []string{dead}) || len(rec.Interrupted) != 1 {
		t.Fatalf("recover: %+v", rec)
	}
	f.reg = f.registry(f.reg.Book.Dir) // the process that started
	evs := f.verifiedEvents(t, o.ID)
	last := evs[len(evs)-1]
	if last.Type != chain.CaptureFailed || last.Details["capture"] != dead || last.Details["interrupted"] != "true" ||
		last.Details["found_at"] != "start" || last.Authority != o.LegalBasis {
		t.Fatalf("newest event %+v, want capture.failed (interrupted) of %s", last, dead)
	}
	v, err := f.reg.Get(ctx, o.ID)
	if err != nil || len(v.State.OpenCaptures) != 0 || !slices.Equal(v.State.Interrupted, []string{dead}) {
		t.Fatalf("state: %v %+v", err, v.State)
	}
	if rec := f.recover(t); len(rec.Interrupted) != 0 {
		t.Fatalf("a second start recorded again: %+v", rec)
	}

	src := &fakeSource{items: map[string]string{"new.eml": "captured after the start"}, order: []string{"new.eml"}}
	rep, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Actor: "custodian", CutOff: time.Now(),
		Sources: []capture.NamedSource{{Name: "mail", Source: src, Categories: []string{"content"}}}})
	if err != nil || rep.Failed() {
		t.Fatalf("capture: %v %+v", err, rep)
	}
	v, err = f.reg.Get(ctx, o.ID)
	if err != nil || v.State.ItemCount() != 2 || len(v.State.Interrupted) != 0 {
		t.Fatalf("after the next capture: %v, %d items (want the new one and the dead capture's), interrupted %v",
			err, v.State.ItemCount(), v.State.Interrupted)
	}
	if n := strings.Count(strings.Join(f.orderEvents(t, o.ID), " "), "capture.failed"); n != 1 {
		t.Errorf("%d capture.failed events, want 1", n)
	}
}

// TestStartReadsOnlyWhatIsNew: a start reads the log from where the
// previous start's record says it stopped, trusting what the record says
// was open then; a record that does not describe this log (the digest of
// its last entry differs) is ignored and the whole log read again.
func TestStartReadsOnlyWhatIsNew(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	f.recover(t)
	stateFile := filepath.Join(f.dir, "recovery.json")
	var st startState
	readState := func() {
		t.Helper()
		b, err := os.ReadFile(stateFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
	}
	readState()
	if size, _ := f.log.Size(ctx); st.Size != size || len(st.Open) != 0 || st.Last == "" {
		t.Fatalf("record %+v, log size %d", st, size)
	}
	// A capture a dead process left open after that start is found.
	dead := ulid.Make().String()
	if _, err := f.log.Append(ctx, chain.Event{Type: chain.CaptureStarted, Time: time.Now(), Order: o.ID, Actor: "custodian",
		Agent: "agent-1", Authority: o.LegalBasis, Details: map[string]string{"capture": dead}}); err != nil {
		t.Fatal(err)
	}
	if rec := f.recover(t); !slices.Equal(rec.Interrupted[o.ID], []string{dead}) {
		t.Fatalf("recover: %+v", rec)
	}
	// What the record says was open is trusted: only entries after it are read.
	readState()
	planted := ulid.Make().String()
	st.Open = []openCapture{{Capture: planted, Order: o.ID, Authority: o.LegalBasis}}
	writeState := func() {
		t.Helper()
		b, _ := json.Marshal(st)
		if err := os.WriteFile(stateFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeState()
	if rec := f.recover(t); !slices.Equal(rec.Interrupted[o.ID], []string{planted}) {
		t.Fatalf("recover from a record naming an open capture: %+v", rec)
	}
	// A record of another log is not: the whole log is read, and nothing
	// is open in it.
	readState()
	st.Open, st.Last = []openCapture{{Capture: ulid.Make().String(), Order: o.ID}}, strings.Repeat("0", 64)
	writeState()
	if rec := f.recover(t); len(rec.Interrupted) != 0 {
		t.Fatalf("recover from a record of another log: %+v", rec)
	}
	st.Size = 1 << 40 // beyond the log
	writeState()
	if rec := f.recover(t); len(rec.Interrupted) != 0 {
		t.Fatalf("recover from a record beyond the log: %+v", rec)
	}
}

// TestStartRemovesAPackageNeverLogged: a process killed after it moved
// its package into place and before it logged disclosure.created leaves
// a package no event records; the next start removes it and says so in
// disclosure.abandoned. One killed after the event was logged leaves its
// package where it is, and nothing is logged as abandoned.
func TestStartRemovesAPackageNeverLogged(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := disclosedOrder(t, f)
	outDir := t.TempDir()
	logged := filepath.Join(outDir, "logged.zip")
	confirmRequester(t, f.reg, o.ID)
	rep, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: logged, Actor: "d"})
	if err != nil {
		t.Fatal(err)
	}
	unlogged := filepath.Join(outDir, "unlogged.zip")
	pkg := []byte("a package moved into place, its disclosure never logged")
	if err := os.WriteFile(unlogged, pkg, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg)
	other := filepath.Join(outDir, "other.zip") // named, but not the package named
	if err := os.WriteFile(other, []byte("something else"), 0o600); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(f.dir, "work")
	for name, p := range map[string]publishing{
		workPrefix + o.ID + "-000000000001": {Path: logged, SHA256: rep.SHA256, Order: o.ID},
		workPrefix + o.ID + "-000000000002": {Path: unlogged, SHA256: hex.EncodeToString(sum[:]), Order: o.ID},
		workPrefix + o.ID + "-000000000003": {Path: other, SHA256: hex.EncodeToString(sum[:]), Order: o.ID},
	} {
		b, _ := json.Marshal(p)
		if err := os.MkdirAll(filepath.Join(work, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, name, publishMarker), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := f.orderEvents(t, o.ID)
	if err := ParkAbandonedWork(work); err != nil {
		t.Fatal(err)
	}
	if left := f.workLeft(t); len(left) != 3 {
		t.Fatalf("a reader's start removed work moving a package into place: %v left", left)
	}
	rec := f.recover(t)
	if left := f.workLeft(t); len(left) != 0 {
		t.Errorf("work left: %v", left)
	}
	for p, want := range map[string]bool{logged: true, unlogged: false, other: true} {
		if _, err := os.Lstat(p); (err == nil) != want {
			t.Errorf("%s: %v, want it there: %v", filepath.Base(p), err, want)
		}
	}
	evs := f.verifiedEvents(t, o.ID)
	var abandoned []*chain.Event
	for _, e := range evs[len(before):] {
		if e.Type == chain.DisclosureAbandoned {
			abandoned = append(abandoned, e)
		}
	}
	if len(abandoned) != 2 || len(rec.Abandoned) != 2 {
		t.Fatalf("abandoned events %+v, recovery %+v: want the two whose package no event records", abandoned, rec.Abandoned)
	}
	for _, e := range abandoned {
		if e.Details["work"] == workPrefix+o.ID+"-000000000002" && e.Details["published"] != unlogged {
			t.Errorf("%+v does not name the package it removed", e)
		}
	}
}

// TestStartRemovesAndLogsAbandonedWork: what a killed disclosure left (a
// partial archive in its work directory, a partial copy beside its output
// on another file system) is removed by a reader's start, which parks a
// record of it, and logged as disclosure.abandoned by the next writer's
// start; an empty work directory goes without a word.
func TestStartRemovesAndLogsAbandonedWork(t *testing.T) {
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	work := filepath.Join(f.dir, "work")
	full := filepath.Join(work, workPrefix+o.ID+"-0123456789ab")
	empty := filepath.Join(work, workPrefix+o.ID+"-ba9876543210")
	outDir := t.TempDir()
	partial := filepath.Join(outDir, "pkg.zip.partial-00aa11bb22cc")
	for _, d := range []string{full, empty} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	evidence := bytes.Repeat([]byte("a copy of evidence "), 1000)
	for p, data := range map[string][]byte{
		filepath.Join(full, "package.zip.partial-ffeeddccbbaa"): evidence,
		filepath.Join(full, partialMarker):                      []byte(partial),
		partial:                                                 evidence[:100],
	} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	if err := ParkAbandonedWork(work); err != nil {
		t.Fatal(err)
	}
	left := f.workLeft(t)
	if !slices.Equal(left, []string{filepath.Base(full) + parkedSuffix}) {
		t.Fatalf("after a reader's start the work directory holds %v, want only the parked record", left)
	}
	if _, err := os.Lstat(partial); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the partial copy beside the output is still there: %v", err)
	}
	if rec := f.recover(t); len(rec.Abandoned) != 1 {
		t.Fatalf("recover: %+v", rec)
	}
	if left := f.workLeft(t); len(left) != 0 {
		t.Errorf("after a writer's start the work directory holds %v", left)
	}
	evs := f.verifiedEvents(t, o.ID)
	last := evs[len(evs)-1]
	wantBytes := len(evidence) + len(partial) + 100
	if last.Type != chain.DisclosureAbandoned || last.Details["work"] != filepath.Base(full) || last.Details["partial"] != partial ||
		last.Details["files"] != "3" || last.Details["bytes"] != strconv.Itoa(wantBytes) {
		t.Fatalf("newest event %+v, want disclosure.abandoned of %s (3 files, %d bytes)", last, filepath.Base(full), wantBytes)
	}
	if n := strings.Count(strings.Join(f.orderEvents(t, o.ID), " "), "disclosure.abandoned"); n != 1 {
		t.Errorf("%d disclosure.abandoned events, want 1", n)
	}
}

// TestDiscloseToAnotherFileSystem: a package whose output is on another
// file system than the work directory is copied there under a partial
// name and moved into place; it verifies, is private, and nothing else is
// left beside it or in the work directory.
func TestDiscloseToAnotherFileSystem(t *testing.T) {
	other := os.Getenv("CUSTOS_TEST_OTHER_FS")
	if other == "" {
		other = "/dev/shm"
	}
	dir, err := os.MkdirTemp(other, "custos-disclose-")
	if err != nil {
		t.Skipf("no second file system to disclose to (%v): set CUSTOS_TEST_OTHER_FS", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx := context.Background()
	f := newRegistryFixture(t)
	if sameDevice(t, dir, f.dir) {
		t.Skipf("%s is on the same file system as %s: set CUSTOS_TEST_OTHER_FS", other, f.dir)
	}
	o := disclosedOrder(t, f)
	trust, err := chain.ParseTrustLine(f.log.Key().Verifier)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pkg", "pkg.zip"} {
		out := filepath.Join(dir, name)
		confirmRequester(t, f.reg, o.ID)
		if _, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: out, Actor: "d"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pkg, err := disclosure.Open(ctx, out, disclosure.OpenOptions{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := disclosure.Verify(ctx, pkg.FS, trust)
		pkg.Close()
		if err != nil || rep.Err() != nil {
			t.Fatalf("%s does not verify: %v %v", name, err, rep.Err())
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if fi, err := e.Info(); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v %v", e.Name(), fi, err)
		}
	}
	if !slices.Equal(names, []string{"pkg", "pkg.zip"}) {
		t.Errorf("beside the packages: %v", names)
	}
	if left := f.workLeft(t); len(left) != 0 {
		t.Errorf("work left: %v", left)
	}
}

func sameDevice(t *testing.T, a, b string) bool {
	t.Helper()
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(b, &sb); err != nil {
		t.Fatal(err)
	}
	return sa.Dev == sb.Dev
}

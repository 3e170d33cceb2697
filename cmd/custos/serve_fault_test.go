package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custos-evidence/custos/storage/storagetest"
)

// Faults of the daemon: killed, stopped and left without its store in the
// middle of a capture job. Each ends with the job done once, the order
// holding its item once, and the whole log verifying.

// faultSetup is a data directory with a configured source "big": one
// file of size bytes, made before any order is received.
type faultSetup struct {
	dir, data string
	env       []string
}

func newFaultSetup(t testing.TB, size int64, extraEnv ...string) *faultSetup {
	t.Helper()
	dir := t.TempDir()
	big := filepath.Join(dir, "export", "big.bin")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Bytes that differ by block, so that nothing is all zeros.
	block := make([]byte, 1<<20)
	for i := int64(0); i < size; i += int64(len(block)) {
		copy(block, fmt.Sprintf("block %d of the fault test's export\n", i>>20))
		if _, err := f.Write(block[:min(int64(len(block)), size-i)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "custos.yaml")
	yaml := "sources:\n  big:\n    type: file\n    categories: [content]\n    path: " + big + "\n"
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &faultSetup{dir: dir, data: filepath.Join(dir, "data")}
	s.env = append([]string{"CUSTOS_DATA_DIR=" + s.data, "CUSTOS_CONFIG=" + config,
		"CUSTOS_KEY_PASSPHRASE=fault test passphrase", "CUSTOS_LOG_CHECKPOINT_INTERVAL=200ms"}, extraEnv...)
	return s
}

// tokens makes one token per role through the first admin token.
func (s *faultSetup) tokens(t testing.TB, d *daemon, roles ...string) map[string]string {
	t.Helper()
	admin, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, role := range roles {
		var nt struct {
			Secret string `json:"secret"`
		}
		d.call(t, strings.TrimSpace(string(admin)), "POST", "/v1/tokens", map[string]string{"name": role + "-fault", "role": role}, http.StatusCreated, &nt)
		out[role] = nt.Secret
	}
	return out
}

type jobView struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
	Progress struct {
		Done int64 `json:"done"`
	} `json:"progress"`
	Result struct {
		Preserved int    `json:"preserved"`
		Index     uint64 `json:"index"`
	} `json:"result"`
}

// startCapture receives an order and queues the capture of "big" for it.
func startCapture(t *testing.T, d *daemon, tok map[string]string) (order, job string) {
	t.Helper()
	var o struct {
		ID string `json:"id"`
	}
	d.call(t, tok["intake"], "POST", "/v1/orders", map[string]any{
		"reference": "FAULT-1", "authority": "Court", "requesting_state": "DE", "profile": "budapest-16",
		"legal_basis": "art. 16", "categories": []string{"content"},
		"selectors": []map[string]string{{"type": "account", "value": "acct-7"}},
	}, http.StatusCreated, &o)
	var j jobView
	d.call(t, tok["custodian"], "POST", "/v1/orders/"+o.ID+"/captures", map[string]any{"sources": []string{"big"}}, http.StatusAccepted, &j)
	return o.ID, j.ID
}

// waitProgress polls the job until it has read at least n bytes.
func waitProgress(t *testing.T, d *daemon, token, job string, n int64) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for {
		var j jobView
		d.call(t, token, "GET", "/v1/jobs/"+job, nil, http.StatusOK, &j)
		if j.Progress.Done >= n && j.State == "running" {
			return
		}
		if j.State != "queued" && j.State != "running" {
			t.Fatalf("job ended before it read %d bytes: %+v", n, j)
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("job has not read %d bytes in 2 minutes: %+v", n, j)
		}
	}
}

// finish waits for the job to end and checks it succeeded, preserving
// want items.
func finish(t *testing.T, d *daemon, token, job string, want int) jobView {
	t.Helper()
	var j jobView
	d.call(t, token, "GET", "/v1/jobs/"+job+"?wait=5m", nil, http.StatusOK, &j)
	if j.State != "succeeded" || j.Result.Preserved != want || j.Result.Index == 0 {
		t.Fatalf("job after restart: %+v\ndaemon log:\n%s", j, d.stderr)
	}
	return j
}

// checkLog verifies the whole log in-process (the daemon stopped) and
// counts the order's events by type.
func (s *faultSetup) checkLog(t *testing.T, bin, order string) map[string]int {
	t.Helper()
	verify := exec.Command(bin, "log", "verify")
	verify.Env = append(os.Environ(), s.env...)
	if out, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("custos log verify: %v\n%s", err, out)
	}
	show := exec.Command(bin, "log", "show", "--order", order)
	show.Env = append(os.Environ(), s.env...)
	out, err := show.CombinedOutput()
	if err != nil {
		t.Fatalf("custos log show: %v\n%s", err, out)
	}
	count := map[string]int{}
	for _, typ := range []string{"capture.started", "capture.failed", "capture.completed", "items.sealed", "item.stored"} {
		count[typ] = strings.Count(string(out), " "+typ+" ")
	}
	return count
}

// TestServeKilledDuringALargeCapture: SIGKILL in the middle of a 1 GiB
// capture job; on restart the job runs again and completes, the item is
// preserved once, the killed capture is recorded as interrupted, and the
// log verifies.
func TestServeKilledDuringALargeCapture(t *testing.T) {
	bin := custosBinary(t)
	s := newFaultSetup(t, 1<<30)
	d := startDaemon(t, bin, s.env)
	tok := s.tokens(t, d, "intake", "custodian")
	order, job := startCapture(t, d, tok)
	waitProgress(t, d, tok["custodian"], job, 128<<20)
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done //nolint:errcheck // killed: its status says so

	d = startDaemon(t, bin, s.env)
	j := finish(t, d, tok["custodian"], job, 1)
	if j.Attempts < 2 {
		t.Errorf("the job ran %d times; the killed attempt should count", j.Attempts)
	}
	d.stop(t)
	count := s.checkLog(t, bin, order)
	if count["items.sealed"] != 1 || count["capture.completed"] != 1 || count["capture.failed"] != 1 || count["capture.started"] != 2 {
		t.Fatalf("events of the order: %v", count)
	}
}

// TestServeStoppedDuringACaptureResumes: SIGTERM in the middle of a
// capture with a short drain: the daemon exits cleanly, the job is queued
// again, and the next start completes it.
func TestServeStoppedDuringACaptureResumes(t *testing.T) {
	bin := custosBinary(t)
	s := newFaultSetup(t, 1<<30, "CUSTOS_SERVER_DRAIN_TIMEOUT=100ms")
	d := startDaemon(t, bin, s.env)
	tok := s.tokens(t, d, "intake", "custodian")
	order, job := startCapture(t, d, tok)
	waitProgress(t, d, tok["custodian"], job, 128<<20)
	d.stop(t)
	if !strings.Contains(d.stderr.String(), "resume on the next start") {
		t.Errorf("the daemon did not say the job resumes:\n%s", d.stderr)
	}
	d = startDaemon(t, bin, s.env)
	finish(t, d, tok["custodian"], job, 1)
	d.stop(t)
	count := s.checkLog(t, bin, order)
	if count["items.sealed"] != 1 || count["capture.completed"] != 1 {
		t.Fatalf("events of the order: %v", count)
	}
}

// TestServeRidesOutAStoreOutage: the S3 store stops for 20 s during a
// capture. Preservation does not wait for it: the item is sealed in the
// spool and the job completes; once the store is back the daemon flushes
// the spool on its own (item.stored), and the log verifies.
func TestServeRidesOutAStoreOutage(t *testing.T) {
	bin := custosBinary(t)
	m := storagetest.StartMinIO(t)
	s := newFaultSetup(t, 256<<20, "CUSTOS_STORE_TYPE=s3", "CUSTOS_STORE_S3_ENDPOINT="+m.Addr,
		"CUSTOS_STORE_S3_BUCKET=custos-outage", "CUSTOS_STORE_S3_ACCESS_KEY="+m.User, "CUSTOS_STORE_S3_SECRET_KEY="+m.Pass,
		"CUSTOS_STORE_S3_TLS=false", "CUSTOS_STORE_S3_PATH_STYLE=true", "CUSTOS_STORE_S3_RETRY_FOR=5s")
	initStore := exec.Command(bin, "storage", "init")
	initStore.Env = append(os.Environ(), s.env...)
	if out, err := initStore.CombinedOutput(); err != nil {
		t.Fatalf("custos storage init: %v\n%s", err, out)
	}
	d := startDaemon(t, bin, s.env)
	tok := s.tokens(t, d, "intake", "custodian", "auditor")
	order, job := startCapture(t, d, tok)
	waitProgress(t, d, tok["custodian"], job, 32<<20)
	m.Stop(t, syscall.SIGKILL)
	outage := time.Now()
	j := finish(t, d, tok["custodian"], job, 1)
	t.Logf("job %s ended %s into the outage: %+v", job, time.Since(outage).Round(time.Millisecond), j)
	if wait := 20*time.Second - time.Since(outage); wait > 0 {
		time.Sleep(wait) // the outage lasts 20 s, as the issue asks; nothing waits on it
	}
	m.Start(t)

	// The daemon flushes the spool by itself once the store answers.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var page struct {
			Events []struct {
				Event struct {
					Type string `json:"type"`
				} `json:"event"`
			} `json:"events"`
		}
		d.call(t, tok["auditor"], "GET", "/v1/events?limit=1000&order="+order, nil, http.StatusOK, &page)
		stored := false
		for _, e := range page.Events {
			stored = stored || e.Event.Type == "item.stored"
		}
		if stored {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no item.stored 2 minutes after the store came back\ndaemon log:\n%s", d.stderr)
		}
		time.Sleep(500 * time.Millisecond) // polling the API for a condition, not synchronising
	}
	d.stop(t)
	count := s.checkLog(t, bin, order)
	if count["items.sealed"] != 1 || count["item.stored"] != 1 || count["capture.completed"] != 1 {
		t.Fatalf("events of the order: %v", count)
	}
}

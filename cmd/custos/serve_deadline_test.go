package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// testClock is a clock the test sets; it stands still in between.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// clockDaemon is `custos serve` run in this process by runWith on a
// test's clock.
type clockDaemon struct {
	*daemon // url and stderr, for call
	cancel  context.CancelFunc
	code    chan int
}

// serveOnClock starts `custos serve` in-process on clk, configured by
// the environment, and waits until it listens.
func serveOnClock(t *testing.T, clk *testClock) *clockDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &clockDaemon{daemon: &daemon{stderr: &lockedBuffer{}}, cancel: cancel, code: make(chan int, 1)}
	go func() {
		code := runWith(ctx, []string{"custos", "serve", "--listen", "127.0.0.1:0"}, pw, d.stderr, clk.Now)
		pw.Close()
		d.code <- code
	}()
	d.url = awaitServing(t, pr, d.stderr, cancel)
	t.Cleanup(func() {
		if d.code != nil {
			cancel()
			<-d.code
		}
	})
	return d
}

// stop cancels the daemon's context, as SIGTERM does, and waits for a
// clean exit.
func (d *clockDaemon) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.code:
		d.code = nil
		if code != 0 {
			t.Fatalf("custos serve stopped with exit %d:\n%s", code, d.stderr)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("custos serve did not stop within 90s:\n%s", d.stderr)
	}
}

// deadlineEvents are order id's deadline events and reviews, as
// "type[:share]", read by `log show --order ID --output json`: through
// the daemon at url with token, or in-process when url is "".
func deadlineEvents(t *testing.T, url, token, id string) []string {
	t.Helper()
	args := []string{"--output", "json", "log", "show", "--order", id}
	if url != "" {
		args = append([]string{"--server", url, "--token", token}, args...)
	}
	code, out, errOut := custos(context.Background(), args...)
	if code != 0 {
		t.Fatalf("log show --order %s: exit %d: %s", id, code, errOut)
	}
	var got []string
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var rec api.Event
		var e chain.Event
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("log show --order %s: %v\n%s", id, err, out)
		}
		if err := json.Unmarshal(rec.Event, &e); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(e.Type), "deadline.") && e.Type != chain.OrderReviewed {
			continue
		}
		s := string(e.Type)
		if sh := e.Details["share"]; sh != "" {
			s += ":" + sh
		}
		got = append(got, s)
	}
	return got
}

// deadlineSets are the details of order id's deadline.set events, read
// from the log in-process.
func deadlineSets(t *testing.T, id string) []chain.DeadlineDetails {
	t.Helper()
	code, out, errOut := custos(context.Background(), "--output", "json", "log", "show", "--order", id)
	if code != 0 {
		t.Fatalf("log show --order %s: exit %d: %s", id, code, errOut)
	}
	var sets []chain.DeadlineDetails
	for line := range strings.Lines(out) {
		var rec api.Event
		var e chain.Event
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(rec.Event, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == chain.DeadlineSet {
			d, err := chain.ReadDeadlineDetails(&e)
			if err != nil {
				t.Fatal(err)
			}
			sets = append(sets, d)
		}
	}
	return sets
}

// waitEvents polls the daemon's log until each order's deadline events
// are exactly want's, failing after 30s with what they are.
func (d *clockDaemon) waitEvents(t *testing.T, token string, want map[string][]string) {
	t.Helper()
	timeout := time.Now().Add(30 * time.Second)
	for id, w := range want {
		got := deadlineEvents(t, d.url, token, id)
		for ; !slices.Equal(got, w); got = deadlineEvents(t, d.url, token, id) {
			if time.Now().After(timeout) {
				t.Fatalf("order %s: deadline events %v, want %v\ndaemon log:\n%s", id, got, w, d.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// The production deadlines kept by the real daemon on a clock the test
// moves (issue 17): an emergency order (8 hours), one whose enforcing
// authority was notified (review-10d) and a plain one (10 days), received
// through the CLI as the daemon's client. The daemon is stopped and
// started again over the same data directory between the warnings and
// after the misses: each warning and miss is logged once, the review's
// hold refuses a disclosure, and its confirmation is order.reviewed and a
// new deadline.set. The log is the scheduler's only memory here (its
// state file keeps reminders and webhook notices, not deadline events).
func TestServeDeadlineAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the daemon five times")
	}
	dir := t.TempDir()
	for k, v := range map[string]string{
		"CUSTOS_DATA_DIR": filepath.Join(dir, "data"), "CUSTOS_KEY_PASSPHRASE": testPassphrase,
		"CUSTOS_AGENT_ID": "custos-deadline-test", "CUSTOS_SCHEDULER_TICK": "1s",
		"CUSTOS_LOG_CHECKPOINT_INTERVAL": "200ms",
	} {
		t.Setenv(k, v)
	}
	t0 := time.Now().UTC().Truncate(time.Second)
	clk := &testClock{t: t0}
	d := serveOnClock(t, clk)
	tok := (&faultSetup{data: filepath.Join(dir, "data")}).tokens(t, d.daemon, "intake", "custodian", "discloser", "auditor")
	client := func(role string, args ...string) (int, string, string) {
		return custos(context.Background(), append([]string{"--server", d.url, "--token", tok[role]}, args...)...)
	}
	add := func(ref string, flags ...string) string {
		t.Helper()
		code, out, errOut := client("intake", append([]string{"order", "add", "--reference", ref, "--authority", "Landgericht Berlin",
			"--requesting-state", "DE", "--profile", "custom", "--legal-basis", "StPO 95", "--selector", "email:" + strings.ToLower(ref) + "@example.net",
			"--categories", "content", "--expires", "60d", "--production"}, flags...)...)
		if code != 0 {
			t.Fatalf("order add %s: exit %d: %s", ref, code, errOut)
		}
		return strings.TrimSpace(out)
	}
	emergency := add("EMERG-1", "--emergency")
	notified := add("NOTIFIED-1", "--authority-notified")
	plain := add("PLAIN-1")
	set := []string{"deadline.set"}
	d.waitEvents(t, tok["auditor"], map[string][]string{emergency: set, notified: set, plain: set})

	// During the review, production waits: the disclosure is refused and
	// nothing is written.
	early := filepath.Join(dir, "early.zip")
	reviewEnds := t0.Add(order.ReviewPeriod).Format(time.RFC3339)
	if code, _, errOut := client("discloser", "disclose", "--out", early, notified); code == 0 ||
		!strings.Contains(errOut, "production waits for the enforcing authority's review until "+reviewEnds) {
		t.Fatalf("disclosure during the review: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(early); !os.IsNotExist(err) {
		t.Fatalf("the refused disclosure left %s: %v", early, err)
	}

	// Half of the 8 hours: warned, then the daemon stops before 80 %.
	clk.Set(t0.Add(4 * time.Hour))
	d.waitEvents(t, tok["auditor"], map[string][]string{emergency: {"deadline.set", "deadline.warning:50"}})
	d.stop(t)

	// Past 80 % while it was down: a new daemon warns once, at 80 %, and
	// does not repeat 50 %; past the due time it logs the miss once.
	clk.Set(t0.Add(6*time.Hour + 30*time.Minute))
	d = serveOnClock(t, clk)
	d.waitEvents(t, tok["auditor"], map[string][]string{emergency: {"deadline.set", "deadline.warning:50", "deadline.warning:80"}})
	clk.Set(t0.Add(8*time.Hour + time.Minute))
	emergencyDone := []string{"deadline.set", "deadline.warning:50", "deadline.warning:80", "deadline.missed"}
	d.waitEvents(t, tok["auditor"], map[string][]string{emergency: emergencyDone})
	d.stop(t)

	// Half of the 10 days, after a restart: both warned at 50 %; the
	// enforcing authority confirms, which is order.reviewed and a new
	// deadline.set (the same due time, production from now).
	clk.Set(t0.Add(5*24*time.Hour + time.Hour))
	d = serveOnClock(t, clk)
	half := []string{"deadline.set", "deadline.warning:50"}
	d.waitEvents(t, tok["auditor"], map[string][]string{plain: half, notified: half})
	if code, out, errOut := client("custodian", "order", "review", "--confirmed", "--basis", "e-mail of the enforcing authority: no ground for refusal", notified); code != 0 ||
		!strings.Contains(out, "the enforcing authority confirmed: production from "+clk.Now().Format(time.RFC3339)) {
		t.Fatalf("order review --confirmed: exit %d: %s%s", code, out, errOut)
	}
	reviewed := []string{"deadline.set", "deadline.warning:50", "order.reviewed", "deadline.set"}
	d.waitEvents(t, tok["auditor"], map[string][]string{notified: reviewed})
	d.stop(t)

	// Restarted between the shares: nothing repeated; then 80 % and the
	// misses, once each, while it runs.
	clk.Set(t0.Add(6 * 24 * time.Hour))
	d = serveOnClock(t, clk)
	clk.Set(t0.Add(8*24*time.Hour + time.Hour))
	d.waitEvents(t, tok["auditor"], map[string][]string{
		plain: append(slices.Clone(half), "deadline.warning:80"), notified: append(slices.Clone(reviewed), "deadline.warning:80"),
	})
	clk.Set(t0.Add(10*24*time.Hour + time.Minute))
	plainDone := append(slices.Clone(half), "deadline.warning:80", "deadline.missed")
	notifiedDone := append(slices.Clone(reviewed), "deadline.warning:80", "deadline.missed")
	d.waitEvents(t, tok["auditor"], map[string][]string{plain: plainDone, notified: notifiedDone})
	d.stop(t)

	// Restarted after every deadline passed: nothing is repeated. A new
	// emergency order's two warnings, logged by two later steps, show
	// that the scheduler looked at every order at least once meanwhile.
	later := t0.Add(10*24*time.Hour + 2*time.Hour)
	clk.Set(later)
	d = serveOnClock(t, clk)
	marker := add("EMERG-2", "--emergency")
	clk.Set(later.Add(4 * time.Hour))
	d.waitEvents(t, tok["auditor"], map[string][]string{marker: {"deadline.set", "deadline.warning:50"}})
	clk.Set(later.Add(7 * time.Hour))
	d.waitEvents(t, tok["auditor"], map[string][]string{marker: {"deadline.set", "deadline.warning:50", "deadline.warning:80"}})
	d.stop(t)

	for id, want := range map[string][]string{emergency: emergencyDone, notified: notifiedDone, plain: plainDone} {
		if got := deadlineEvents(t, "", "", id); !slices.Equal(got, want) {
			t.Errorf("order %s: deadline events in the log %v, want %v", id, got, want)
		}
	}
	// The deadlines were computed on the daemon's clock: the receipt is
	// t0, the due times follow the rules, and the confirmation's set says
	// production may start at the review.
	checks := []struct {
		id, rule string
		due      time.Duration
	}{{emergency, order.RuleEmergency, 8 * time.Hour}, {plain, order.RuleProduction, 10 * 24 * time.Hour}, {notified, order.RuleReview, 10 * 24 * time.Hour}}
	for _, c := range checks {
		for _, s := range deadlineSets(t, c.id) {
			if s.Rule != c.rule || !s.ReceivedAt.Equal(t0) || !s.Due.Equal(t0.Add(c.due)) {
				t.Errorf("order %s: deadline.set %+v, want rule %s, received %v, due %v", c.id, s, c.rule, t0, t0.Add(c.due))
			}
		}
	}
	sets := deadlineSets(t, notified)
	if len(sets) != 2 || !sets[0].ProduceFrom.Equal(t0.Add(order.ReviewPeriod)) || sets[1].Review != string(order.ReviewConfirmed) ||
		!sets[1].ProduceFrom.Equal(t0.Add(5*24*time.Hour+time.Hour)) {
		t.Errorf("order %s: deadline.set details %+v", notified, sets)
	}
}

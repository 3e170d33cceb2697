package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage/storagetest"
)

// clockDaemon is `custos serve` run in this process by runWith on a
// test's clock.
type clockDaemon struct {
	*daemon // url and stderr, for call
	cancel  context.CancelFunc
	code    chan int
}

// serveOnClock starts `custos serve` in-process on clk, configured by
// the environment, and waits until it listens.
func serveOnClock(t *testing.T, clk *storagetest.Clock) *clockDaemon {
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

// orderEvents are order id's events, read by `log show --order ID
// --output json`: through the daemon at url with token, or in-process
// when url is "".
func orderEvents(t *testing.T, url, token, id string) []chain.Event {
	t.Helper()
	args := []string{"--output", "json", "log", "show", "--order", id}
	if url != "" {
		args = append([]string{"--server", url, "--token", token}, args...)
	}
	code, out, errOut := custos(context.Background(), args...)
	if code != 0 {
		t.Fatalf("log show --order %s: exit %d: %s", id, code, errOut)
	}
	var evs []chain.Event
	for line := range strings.Lines(out) {
		var rec api.Event
		var e chain.Event
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log show --order %s: %v\n%s", id, err, out)
		}
		if err := json.Unmarshal(rec.Event, &e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	return evs
}

// deadlineEvents are order id's deadline events and reviews, as
// "type[:share]" (see orderEvents).
func deadlineEvents(t *testing.T, url, token, id string) []string {
	t.Helper()
	var got []string
	for _, e := range orderEvents(t, url, token, id) {
		if strings.HasPrefix(string(e.Type), "deadline.") || e.Type == chain.OrderReviewed {
			got = append(got, strings.TrimSuffix(string(e.Type)+":"+e.Details["share"], ":"))
		}
	}
	return got
}

// deadlineSets are the details of order id's deadline.set events (see
// orderEvents).
func deadlineSets(t *testing.T, url, token, id string) []chain.DeadlineDetails {
	t.Helper()
	var sets []chain.DeadlineDetails
	for _, e := range orderEvents(t, url, token, id) {
		if e.Type != chain.DeadlineSet {
			continue
		}
		d, err := chain.ReadDeadlineDetails(&e)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, d)
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

// awaitFullStep proves that the scheduler made a whole pass over every
// order after the daemon started, at a time no earlier than the clock's
// now plus 4 hours: it moves the clock (set) to the 50 % and then the
// 80 % warning of the emergency order marker, just received, and waits
// for each. The step that logged the first warning ended before the one
// that logged the second began. It returns marker.
func (d *clockDaemon) awaitFullStep(t *testing.T, set func(time.Time), tok map[string]string, marker string) string {
	t.Helper()
	var received time.Time
	for _, s := range deadlineSets(t, d.url, tok["auditor"], marker) {
		received = s.ReceivedAt
	}
	if received.IsZero() {
		t.Fatalf("order %s: no deadline.set at its receipt", marker)
	}
	set(received.Add(4 * time.Hour))
	d.waitEvents(t, tok["auditor"], map[string][]string{marker: {"deadline.set", "deadline.warning:50"}})
	set(received.Add(7 * time.Hour))
	d.waitEvents(t, tok["auditor"], map[string][]string{marker: {"deadline.set", "deadline.warning:50", "deadline.warning:80"}})
	return marker
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
	clk := storagetest.NewClock(t0)
	// set moves the clock to at.
	set := func(at time.Time) { clk.Advance(at.Sub(clk.Now())) }
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
	received := []string{"deadline.set"}
	d.waitEvents(t, tok["auditor"], map[string][]string{emergency: received, notified: received, plain: received})

	// During the review, production waits: the disclosure is refused and
	// nothing is written.
	refused := func() {
		t.Helper()
		early := filepath.Join(dir, "early.zip")
		reviewEnds := t0.Add(order.ReviewPeriod).Format(time.RFC3339)
		if code, _, errOut := client("discloser", "disclose", "--out", early, notified); code == 0 ||
			!strings.Contains(errOut, "production waits for the enforcing authority's review until "+reviewEnds) {
			t.Fatalf("disclosure during the review: exit %d: %s", code, errOut)
		}
		if _, err := os.Stat(early); !os.IsNotExist(err) {
			t.Fatalf("the refused disclosure left %s: %v", early, err)
		}
	}
	refused()

	// Half of the 8 hours: warned, then the daemon stops before 80 %.
	set(t0.Add(4 * time.Hour))
	d.waitEvents(t, tok["auditor"], map[string][]string{emergency: {"deadline.set", "deadline.warning:50"}})
	d.stop(t)

	// Past 80 % while it was down: a new daemon warns once, at 80 %, and
	// does not repeat 50 %; past the due time it logs the miss once.
	set(t0.Add(6*time.Hour + 30*time.Minute))
	d = serveOnClock(t, clk)
	d.waitEvents(t, tok["auditor"], map[string][]string{emergency: {"deadline.set", "deadline.warning:50", "deadline.warning:80"}})
	set(t0.Add(8*time.Hour + time.Minute))
	emergencyDone := []string{"deadline.set", "deadline.warning:50", "deadline.warning:80", "deadline.missed"}
	d.waitEvents(t, tok["auditor"], map[string][]string{emergency: emergencyDone})
	d.stop(t)

	// Half of the 10 days, after a restart: both warned at 50 %; the
	// review still holds the disclosure; the enforcing authority confirms, which is order.reviewed and a new
	// deadline.set (the same due time, production from now).
	set(t0.Add(5*24*time.Hour + time.Hour))
	d = serveOnClock(t, clk)
	half := []string{"deadline.set", "deadline.warning:50"}
	d.waitEvents(t, tok["auditor"], map[string][]string{plain: half, notified: half})
	refused()
	if code, out, errOut := client("custodian", "order", "review", "--confirmed", "--basis", "e-mail of the enforcing authority: no ground for refusal", notified); code != 0 ||
		!strings.Contains(out, "the enforcing authority confirmed: production from "+clk.Now().Format(time.RFC3339)) {
		t.Fatalf("order review --confirmed: exit %d: %s%s", code, out, errOut)
	}
	reviewed := []string{"deadline.set", "deadline.warning:50", "order.reviewed", "deadline.set"}
	d.waitEvents(t, tok["auditor"], map[string][]string{notified: reviewed})
	d.stop(t)

	// Restarted between the shares: a full step later, nothing is
	// repeated; then 80 % and the misses, once each, while it runs.
	set(t0.Add(6 * 24 * time.Hour))
	d = serveOnClock(t, clk)
	between := d.awaitFullStep(t, set, tok, add("EMERG-2", "--emergency"))
	for id, want := range map[string][]string{plain: half, notified: reviewed} {
		if got := deadlineEvents(t, d.url, tok["auditor"], id); !slices.Equal(got, want) {
			t.Fatalf("order %s after a restart between the shares: deadline events %v, want %v", id, got, want)
		}
	}
	set(t0.Add(8*24*time.Hour + time.Hour))
	d.waitEvents(t, tok["auditor"], map[string][]string{
		plain: append(slices.Clone(half), "deadline.warning:80"), notified: append(slices.Clone(reviewed), "deadline.warning:80"),
	})
	set(t0.Add(10*24*time.Hour + time.Minute))
	plainDone := append(slices.Clone(half), "deadline.warning:80", "deadline.missed")
	notifiedDone := append(slices.Clone(reviewed), "deadline.warning:80", "deadline.missed")
	d.waitEvents(t, tok["auditor"], map[string][]string{plain: plainDone, notified: notifiedDone})
	d.stop(t)

	// Restarted after every deadline passed: a full step later, nothing
	// is repeated.
	set(t0.Add(10*24*time.Hour + 2*time.Hour))
	d = serveOnClock(t, clk)
	last := d.awaitFullStep(t, set, tok, add("EMERG-3", "--emergency"))
	d.stop(t)

	marked := []string{"deadline.set", "deadline.warning:50", "deadline.warning:80"}
	for id, want := range map[string][]string{emergency: emergencyDone, notified: notifiedDone, plain: plainDone, between: append(slices.Clone(marked), "deadline.missed"), last: marked} {
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
		for _, s := range deadlineSets(t, "", "", c.id) {
			if s.Rule != c.rule || !s.ReceivedAt.Equal(t0) || !s.Due.Equal(t0.Add(c.due)) {
				t.Errorf("order %s: deadline.set %+v, want rule %s, received %v, due %v", c.id, s, c.rule, t0, t0.Add(c.due))
			}
		}
	}
	sets := deadlineSets(t, "", "", notified)
	if len(sets) != 2 || !sets[0].ProduceFrom.Equal(t0.Add(order.ReviewPeriod)) || sets[1].Review != string(order.ReviewConfirmed) ||
		!sets[1].ProduceFrom.Equal(t0.Add(5*24*time.Hour+time.Hour)) {
		t.Errorf("order %s: deadline.set details %+v", notified, sets)
	}
}

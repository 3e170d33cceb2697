package scheduler_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/scheduler"
)

const day = 24 * time.Hour

// webhookConfig is f's configuration posting to a new receiver, with a
// state file. The webhook URL carries tokens that must never be logged.
func (f *fixture) webhookConfig(t *testing.T) (scheduler.Config, *receiver) {
	secret := []byte("webhook-secret-0123456789abcdef")
	rcv := newReceiver(t, secret, f.clk)
	cfg := f.config()
	cfg.Webhook, cfg.WebhookSecret = rcv.srv.URL+"/hook/path-token-abc?token=query-token-xyz", secret
	cfg.StateFile = filepath.Join(f.dir, "scheduler.json")
	return cfg, rcv
}

// checkNoSecretLogged fails if a log line carries the webhook's secret or
// the token in its URL.
func (f *fixture) checkNoSecretLogged(t *testing.T, cfg scheduler.Config) {
	t.Helper()
	logs := f.logs.String()
	for _, secret := range []string{string(cfg.WebhookSecret), "query-token-xyz", "path-token-abc"} {
		if strings.Contains(logs, secret) {
			t.Errorf("a log line carries the secret %q:\n%s", secret, logs)
		}
	}
}

func TestRemindersFireOnceAtTheProfileLeadTimesAcrossRestarts(t *testing.T) {
	f := newFixture(t, 0)
	cfg, rcv := f.webhookConfig(t)
	o := f.addOrder(t, "us-2703f") // reminders 14d, 7d and 2d before expiry
	s := f.scheduler(t, cfg)
	if rep := step(t, s); len(rep.Reminded) != 0 {
		t.Fatalf("reminded at receipt: %+v", rep)
	}
	for _, lead := range []int{14, 7, 2} {
		at := o.ExpiresAt.Add(-time.Duration(lead) * day)
		f.clk.Set(at.Add(-time.Second))
		if rep := step(t, s); len(rep.Reminded) != 0 {
			t.Fatalf("%dd reminder sent a second early: %+v", lead, rep)
		}
		f.clk.Set(at)
		if rep := step(t, s); !slices.Equal(rep.Reminded, []string{o.ID}) || len(rep.Errors) != 0 {
			t.Fatalf("%dd reminder: %+v", lead, rep)
		}
		f.clk.Add(time.Hour)
		if rep := step(t, s); len(rep.Reminded) != 0 {
			t.Fatalf("%dd reminder sent again: %+v", lead, rep)
		}
		s = f.scheduler(t, cfg) // a restart reads the state file
		if rep := step(t, s); len(rep.Reminded) != 0 {
			t.Fatalf("%dd reminder sent again after a restart: %+v", lead, rep)
		}
	}
	got, attempts := rcv.received()
	if len(got) != 3 || attempts != 3 {
		t.Fatalf("webhook got %d reminders in %d requests, want 3 in 3", len(got), attempts)
	}
	for i, lead := range []int{14, 7, 2} {
		r := got[i]
		want := scheduler.Reminder{
			Type: scheduler.ReminderType, Order: o.ID, Reference: "LE-1", Authority: "FBI", Status: "received",
			ExpiresAt: o.ExpiresAt, DaysLeft: lead, Lead: order.Days(lead).String(),
			ReminderAt: o.ExpiresAt.Add(-time.Duration(lead) * day), Delivery: r.Delivery,
		}
		if !r.ExpiresAt.Equal(want.ExpiresAt) || !r.ReminderAt.Equal(want.ReminderAt) {
			t.Errorf("reminder %d times: %+v, want %+v", i, r, want)
		}
		r.ExpiresAt, r.ReminderAt = want.ExpiresAt, want.ReminderAt
		if r != want || !strings.HasPrefix(r.Delivery, o.ID+"/") {
			t.Errorf("reminder %d:\n got %+v\nwant %+v", i, r, want)
		}
	}
	lines := f.logs.lines(t, "expiry reminder")
	if len(lines) != 3 {
		t.Fatalf("%d reminder log lines, want 3", len(lines))
	}
	for i, l := range lines {
		if l["level"] != "INFO" || l["order"] != o.ID || l["days_left"] != float64([]int{14, 7, 2}[i]) || l["expires_at"] == nil {
			t.Errorf("reminder log line %d: %v", i, l)
		}
	}
	f.checkNoSecretLogged(t, cfg)
}

func TestReminderWebhookFailureIsRetriedNextStep(t *testing.T) {
	f := newFixture(t, 0)
	cfg, rcv := f.webhookConfig(t)
	a, b := f.addOrder(t, "us-2703f"), f.addOrder(t, "us-2703f")
	s := f.scheduler(t, cfg)
	rcv.setFailing(true)
	f.clk.Set(a.ExpiresAt.Add(-14 * day))
	rep := step(t, s)
	if len(rep.Reminded) != 0 || len(rep.Errors) != 2 || !strings.Contains(rep.Errors[0].Error(), a.ID) || !strings.Contains(rep.Errors[1].Error(), b.ID) {
		t.Fatalf("step with the webhook failing: %+v", rep)
	}
	if _, attempts := rcv.received(); attempts != 1 {
		t.Fatalf("%d webhook requests; want 1: after a failure the rest of the step's reminders wait", attempts)
	}
	if warn := f.logs.lines(t, "expiry reminder not delivered; tried again at the next step"); len(warn) != 2 || warn[0]["level"] != "WARN" {
		t.Fatalf("warnings: %v", warn)
	}
	f.clk.Add(time.Minute)
	if rep := step(t, s); len(rep.Reminded) != 0 {
		t.Fatalf("reminded while the webhook fails: %+v", rep)
	}
	s = f.scheduler(t, cfg) // nothing was recorded as sent
	rcv.setFailing(false)
	f.clk.Add(time.Minute)
	if rep := step(t, s); !slices.Equal(rep.Reminded, []string{a.ID, b.ID}) || len(rep.Errors) != 0 {
		t.Fatalf("step with the webhook back: %+v", rep)
	}
	f.clk.Add(time.Minute)
	if rep := step(t, s); len(rep.Reminded) != 0 {
		t.Fatalf("reminded again: %+v", rep)
	}
	got, attempts := rcv.received()
	if len(got) != 2 || attempts != 4 || got[0].Order != a.ID || got[1].Order != b.ID || got[0].Lead != "14d" {
		t.Fatalf("webhook got %+v in %d requests", got, attempts)
	}
	f.checkNoSecretLogged(t, cfg)
}

func TestMissedRemindersGoOutOnceLate(t *testing.T) {
	f := newFixture(t, 0)
	cfg, rcv := f.webhookConfig(t)
	o := f.addOrder(t, "us-2703f")
	s := f.scheduler(t, cfg)
	// The daemon was down from receipt until a day before the expiry:
	// the 14d, 7d and 2d reminders all passed. Only the latest goes out.
	f.clk.Set(o.ExpiresAt.Add(-day))
	if rep := step(t, s); !slices.Equal(rep.Reminded, []string{o.ID}) {
		t.Fatalf("late step: %+v", rep)
	}
	for range 3 {
		f.clk.Add(time.Hour)
		if rep := step(t, s); len(rep.Reminded) != 0 {
			t.Fatalf("reminded again: %+v", rep)
		}
	}
	got, _ := rcv.received()
	if len(got) != 1 || got[0].Lead != "2d" || got[0].DaysLeft != 1 {
		t.Fatalf("webhook got %+v, want one 2d reminder with 1 day left", got)
	}
	var st struct {
		Version   int `json:"version"`
		Reminders []struct {
			Order      string `json:"order"`
			Lead       string `json:"lead"`
			Superseded bool   `json:"superseded"`
		} `json:"reminders"`
	}
	b, err := os.ReadFile(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Reminders) != 3 || !st.Reminders[0].Superseded || !st.Reminders[1].Superseded || st.Reminders[2].Superseded || st.Reminders[2].Lead != "2d" {
		t.Fatalf("state file: %s", b)
	}
}

func TestStateFileForgetsEndedOrders(t *testing.T) {
	f := newFixture(t, 0)
	cfg, _ := f.webhookConfig(t)
	cfg.AutoRelease = true
	o := f.addOrder(t, "us-2703f")
	s := f.scheduler(t, cfg)
	f.clk.Set(o.ExpiresAt.Add(-day))
	step(t, s)
	if b, err := os.ReadFile(cfg.StateFile); err != nil || !strings.Contains(string(b), o.ID) {
		t.Fatalf("state file after the reminder: %s %v", b, err)
	}
	f.clk.Set(o.ExpiresAt.Add(time.Second))
	if rep := step(t, s); !slices.Equal(rep.Released, []string{o.ID}) {
		t.Fatalf("not released: %+v", rep)
	}
	step(t, s) // the order has ended
	if b, err := os.ReadFile(cfg.StateFile); err != nil || strings.Contains(string(b), o.ID) {
		t.Fatalf("state file still names the ended order: %s %v", b, err)
	}
}

func TestWebhookErrorsLogNoTokenOfItsURL(t *testing.T) {
	f := newFixture(t, 0)
	cfg, rcv := f.webhookConfig(t)
	o := f.addOrder(t, "us-2703f")
	s := f.scheduler(t, cfg)
	rcv.srv.Close() // connections refused: net/http's error names the URL
	f.clk.Set(o.ExpiresAt.Add(-14 * day))
	rep := step(t, s)
	if len(rep.Reminded) != 0 || len(rep.Errors) != 1 {
		t.Fatalf("step with the webhook gone: %+v", rep)
	}
	lines := f.logs.lines(t, "expiry reminder not delivered; tried again at the next step")
	if len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), "webhook http://127.0.0.1") {
		t.Fatalf("log lines: %v", lines)
	}
	f.checkNoSecretLogged(t, cfg)
	for _, secret := range []string{"query-token-xyz", "path-token-abc"} {
		if strings.Contains(rep.Errors[0].Error(), secret) {
			t.Fatalf("error carries %q: %v", secret, rep.Errors[0])
		}
	}
}

package scheduler_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/scheduler"
)

func TestFailingHookIsLoggedAndOthersStillRun(t *testing.T) {
	f := newFixture(t, 0)
	var mirror, flush atomic.Int32
	cfg := f.config()
	cfg.Hooks = []scheduler.Hook{
		{Name: "mirror sync", Every: 2 * time.Second, Run: func(context.Context) error {
			mirror.Add(1)
			return errors.New("store unreachable")
		}},
		{Name: "spool flush", Every: 5 * time.Second, Run: func(context.Context) error {
			flush.Add(1)
			return nil
		}},
	}
	s := f.scheduler(t, cfg)
	want := []struct {
		at    time.Duration
		hooks []string
	}{
		{0, []string{"mirror sync", "spool flush"}},
		{time.Second, nil},
		{2 * time.Second, []string{"mirror sync"}},
		{5 * time.Second, []string{"mirror sync", "spool flush"}},
		{6 * time.Second, nil},
		{7 * time.Second, []string{"mirror sync"}},
	}
	for _, w := range want {
		f.clk.Set(t0.Add(w.at))
		rep := step(t, s)
		if !slices.Equal(rep.Hooks, w.hooks) {
			t.Fatalf("at +%v hooks ran %v, want %v", w.at, rep.Hooks, w.hooks)
		}
		if ran := slices.Contains(w.hooks, "mirror sync"); ran != (len(rep.Errors) == 1) ||
			(ran && !strings.Contains(rep.Errors[0].Error(), "hook mirror sync: store unreachable")) {
			t.Fatalf("at +%v errors %v", w.at, rep.Errors)
		}
	}
	if mirror.Load() != 4 || flush.Load() != 2 {
		t.Fatalf("mirror sync ran %d times, spool flush %d", mirror.Load(), flush.Load())
	}
	lines := f.logs.lines(t, "scheduled duty failed; it runs again at its next time")
	if len(lines) != 4 || lines[0]["level"] != "WARN" || lines[0]["hook"] != "mirror sync" || lines[0]["error"] != "store unreachable" {
		t.Fatalf("hook log lines: %v", lines)
	}
}

func TestRunStepsEveryTickUntilCancelled(t *testing.T) {
	f := newFixture(t, 0)
	ran := make(chan struct{}, 16)
	cfg := f.config()
	cfg.Now = nil // Run's ticker and the hooks' times agree: both real
	cfg.Tick = time.Millisecond
	cfg.Hooks = []scheduler.Hook{{Name: "count", Every: time.Nanosecond, Run: func(context.Context) error {
		select {
		case ran <- struct{}{}:
		default:
		}
		return nil
	}}}
	s := f.scheduler(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for range 3 {
		<-ran
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestStepIsNotReentrant(t *testing.T) {
	f := newFixture(t, 0)
	entered, release := make(chan struct{}), make(chan struct{})
	cfg := f.config()
	cfg.Hooks = []scheduler.Hook{{Name: "slow", Every: time.Hour, Run: func(context.Context) error {
		close(entered)
		<-release
		return nil
	}}}
	s := f.scheduler(t, cfg)
	first := make(chan error, 1)
	go func() {
		_, err := s.Step(context.Background())
		first <- err
	}()
	<-entered
	if _, err := s.Step(context.Background()); !errors.Is(err, scheduler.ErrBusy) {
		t.Fatalf("second Step: %v, want ErrBusy", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first Step: %v", err)
	}
	if _, err := s.Step(context.Background()); err != nil {
		t.Fatalf("Step after the first ended: %v", err)
	}
}

func TestNewRefusesBadConfigs(t *testing.T) {
	f := newFixture(t, 0)
	run := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name string
		edit func(*scheduler.Config)
		want string
	}{
		{"no registry", func(c *scheduler.Config) { c.Registry = nil }, "no registry"},
		{"webhook without secret", func(c *scheduler.Config) { c.Webhook = "https://hooks.example.net/x" }, "no secret"},
		{"webhook not http", func(c *scheduler.Config) { c.Webhook, c.WebhookSecret = "ftp://x/y", []byte("k") }, "not an http"},
		{"negative rate", func(c *scheduler.Config) { c.FixityRate = -1 }, "negative"},
		{"negative tick", func(c *scheduler.Config) { c.Tick = -time.Second }, "negative"},
		{"hook without interval", func(c *scheduler.Config) { c.Hooks = []scheduler.Hook{{Name: "x", Run: run}} }, "positive interval"},
		{"hook without func", func(c *scheduler.Config) { c.Hooks = []scheduler.Hook{{Name: "x", Every: time.Second}} }, "hook 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config()
			tc.edit(&cfg)
			if _, err := scheduler.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

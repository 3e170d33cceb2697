package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestKlogSinkFollowsTheCommand: records reach the handler the running
// command chose, with the attributes and groups given before, and nothing
// reaches anyone when no command chose one or the sink is not installed.
func TestKlogSinkFollowsTheCommand(t *testing.T) {
	s := &klogSink{}
	l := slog.New(s).With("component", "tessera").WithGroup("g")
	l.Warn("before any command") // discarded
	var first, second bytes.Buffer
	ctx := withKlogSink(context.Background(), s)
	useForKlog(ctx, slog.NewTextHandler(&first, nil))
	l.Warn("one", "k", 1)
	useForKlog(ctx, slog.NewTextHandler(&second, nil))
	l.Warn("two")
	if got := first.String(); !strings.Contains(got, "msg=one component=tessera g.k=1") || strings.Contains(got, "two") {
		t.Errorf("first handler got %q", got)
	}
	if got := second.String(); !strings.Contains(got, "msg=two component=tessera") || strings.Contains(got, "before") {
		t.Errorf("second handler got %q", got)
	}
	// Without the sink in the context (tests calling run), nothing changes.
	var third bytes.Buffer
	useForKlog(context.Background(), slog.NewTextHandler(&third, nil))
	l.Warn("three")
	if third.Len() != 0 || !strings.Contains(second.String(), "three") {
		t.Errorf("a command without the sink took klog's output: %q", third.String())
	}
}

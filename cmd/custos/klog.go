package main

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// klogSink is the slog handler tessera's klog output goes to: main installs
// it in klog once, and each command points it at its own logger. run only
// finds it in its context when main put it there, so tests, which call run
// many times at once, never touch klog's process-wide logger.
type klogSink struct {
	target atomic.Pointer[slog.Handler]
}

type klogSinkKey struct{}

// withKlogSink returns ctx carrying s, for run to find.
func withKlogSink(ctx context.Context, s *klogSink) context.Context {
	return context.WithValue(ctx, klogSinkKey{}, s)
}

// useForKlog points the process's klog output at h, if main installed the
// sink in ctx.
func useForKlog(ctx context.Context, h slog.Handler) {
	if s, ok := ctx.Value(klogSinkKey{}).(*klogSink); ok {
		s.target.Store(&h)
	}
}

func (s *klogSink) handler() slog.Handler {
	if h := s.target.Load(); h != nil {
		return *h
	}
	return slog.DiscardHandler
}

func (s *klogSink) Enabled(ctx context.Context, l slog.Level) bool {
	return s.handler().Enabled(ctx, l)
}

func (s *klogSink) Handle(ctx context.Context, r slog.Record) error {
	return s.handler().Handle(ctx, r)
}

func (s *klogSink) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &klogSinkWith{s: s, apply: func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) }}
}

func (s *klogSink) WithGroup(name string) slog.Handler {
	return &klogSinkWith{s: s, apply: func(h slog.Handler) slog.Handler { return h.WithGroup(name) }}
}

// klogSinkWith is the sink with attributes or a group, applied to whatever
// handler the sink points at when a record arrives.
type klogSinkWith struct {
	s     *klogSink
	apply func(slog.Handler) slog.Handler
}

func (w *klogSinkWith) handler() slog.Handler { return w.apply(w.s.handler()) }

func (w *klogSinkWith) Enabled(ctx context.Context, l slog.Level) bool {
	return w.s.handler().Enabled(ctx, l)
}

func (w *klogSinkWith) Handle(ctx context.Context, r slog.Record) error {
	return w.handler().Handle(ctx, r)
}

func (w *klogSinkWith) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &klogSinkWith{s: w.s, apply: func(h slog.Handler) slog.Handler { return w.apply(h).WithAttrs(attrs) }}
}

func (w *klogSinkWith) WithGroup(name string) slog.Handler {
	return &klogSinkWith{s: w.s, apply: func(h slog.Handler) slog.Handler { return w.apply(h).WithGroup(name) }}
}

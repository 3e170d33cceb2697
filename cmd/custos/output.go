package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
)

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.w, format, args...)
	}
}

// notef writes a line for the person running the command on stderr: as
// is, or with --output json as {"notice":"..."}.
func (g *globalOptions) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if g.json() {
		_ = writeJSON(g.stderr, map[string]string{"notice": msg})
		return
	}
	fmt.Fprintln(g.stderr, msg)
}

// jsonError is how an error is written with --output json, on stderr:
// {"error":{"code":"usage","message":"..."}}. The exit code is the same
// as in text.
type jsonError struct {
	Error jsonErrorBody `json:"error"`
}

type jsonErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorCodes are the codes of jsonError, by exit code.
var errorCodes = map[int]string{exitError: "error", exitUsage: "usage", exitTamper: "verification_failed"}

// outputHandler writes log records as text, or as JSON lines with
// --output json; which is decided per record, since the logger exists
// before the flags are read.
type outputHandler struct {
	g          *globalOptions
	text, json slog.Handler
}

func (h *outputHandler) pick() slog.Handler {
	if h.g.json() {
		return h.json
	}
	return h.text
}

func (h *outputHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.pick().Enabled(ctx, l)
}

func (h *outputHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.pick().Handle(ctx, r)
}

func (h *outputHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &outputHandler{g: h.g, text: h.text.WithAttrs(as), json: h.json.WithAttrs(as)}
}

func (h *outputHandler) WithGroup(name string) slog.Handler {
	return &outputHandler{g: h.g, text: h.text.WithGroup(name), json: h.json.WithGroup(name)}
}

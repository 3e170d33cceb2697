package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
)

// StartLog is what a writer's start needs of the custody log: reading
// what it holds and appending.
type StartLog interface {
	capture.EventLog
	ReadLog
}

// StartConfig is what Recover works on.
type StartConfig struct {
	Log     StartLog // the custody log, open for writing
	WorkDir string   // the data directory's work/ (Config.WorkDir); "" sweeps nothing
	// StateFile keeps what this start read of the log (the data
	// directory's recovery.json), so that the next start reads only what
	// was appended since; "" reads the whole log at every start.
	StateFile string
	Agent     string // the agent id: the actor and agent of what Recover logs
	Host      string
	Now       func() time.Time // nil: time.Now
	Logger    *slog.Logger     // says what was found; nil discards
}

// Recovery is what a start found left unfinished by a process that died.
type Recovery struct {
	// Interrupted are the captures that never ended, by order: each is now
	// recorded as capture.failed (interrupted).
	Interrupted map[string][]string
	// Abandoned is the work in progress removed.
	Abandoned []AbandonedWork
}

// Recover records what processes that died left unfinished. The one
// writer of a data directory (the daemon, or any command run in-process
// that writes the log) calls it at its start, holding the lock and before
// it does anything else: no capture or disclosure can be running then, so
// every capture the log shows started and never ended is recorded as
// capture.failed (interrupted: true, found_at: start), and the work
// directory is swept (sweepWork). The log never keeps a capture.started
// without an outcome past the next start, and no copy of evidence a
// killed disclosure wrote outlives it. What an interrupted capture stored
// and never sealed is sealed by the next capture of its order
// (OrderState.Interrupted).
//
// With a StateFile, a start reads only the entries appended since the
// start before it (the file names how far that one read, the digest of
// the last entry it read and the captures open then); a file that is
// missing, unreadable or does not describe a prefix of this log (a log
// restored or replaced) makes it read the whole log again.
func Recover(ctx context.Context, cfg StartConfig) (*Recovery, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	closed, err := closeInterruptedCaptures(ctx, cfg)
	abandoned, serr := sweepWork(ctx, cfg)
	for _, id := range slices.Sorted(maps.Keys(closed)) {
		cfg.Logger.Warn("captures left unfinished by a process that died recorded as failed (interrupted)", "order", id, "captures", closed[id])
	}
	for _, a := range abandoned {
		cfg.Logger.Warn("work left by a process that died removed", "work", a.Name, "order", a.Order, "files", a.Files, "bytes", a.Bytes,
			"published_removed", a.Published)
	}
	return &Recovery{Interrupted: closed, Abandoned: abandoned}, errors.Join(err, serr)
}

// startState is what a writer's start read of the log (StartConfig.StateFile).
type startState struct {
	Size uint64        `json:"size"`           // entries read: [0, Size)
	Last string        `json:"last,omitempty"` // SHA-256 of entry Size-1 as read
	Open []openCapture `json:"open,omitempty"` // captures open at Size, in log order
}

// openCapture is a capture.started with no outcome yet.
type openCapture struct {
	Capture   string `json:"capture"`
	Order     string `json:"order"`
	Authority string `json:"authority,omitempty"` // the legal basis it named
}

// closeInterruptedCaptures records as capture.failed (interrupted) every
// capture of every order that the log shows started and never ended, and
// returns their ids by order.
func closeInterruptedCaptures(ctx context.Context, cfg StartConfig) (map[string][]string, error) {
	size, err := cfg.Log.Size(ctx)
	if err != nil {
		return nil, err
	}
	prev := loadStartState(ctx, cfg, size)
	st, err := readOpenCaptures(ctx, cfg.Log.FS(), prev, size)
	if err != nil {
		return nil, fmt.Errorf("read the captures left open: %w", err)
	}
	closed := map[string][]string{}
	for _, c := range st.Open {
		e := interruptedEvent(c.Order, c.Authority, c.Capture, cfg.Agent, cfg.Agent, cfg.Host, cfg.Now().UTC(), "start")
		if _, err := cfg.Log.Append(ctx, e); err != nil {
			return closed, fmt.Errorf("order %s: record interrupted capture %s: %w", c.Order, c.Capture, err)
		}
		closed[c.Order] = append(closed[c.Order], c.Capture)
	}
	// The capture.failed just appended lie beyond st.Size: the next start
	// reads them, and they close nothing still open.
	st.Open = nil
	if cfg.StateFile != "" && (st.Size != prev.Size || len(prev.Open) > 0) {
		b, err := json.Marshal(st)
		if err == nil {
			err = datadir.WriteFile(cfg.StateFile, b, 0o600)
		}
		if err != nil {
			return closed, fmt.Errorf("keep what the start read of the log: %w", err)
		}
	}
	return closed, nil
}

// loadStartState returns what the previous start read, if cfg keeps it
// and it describes a prefix of the log of size entries; else nothing:
// the whole log is read.
func loadStartState(ctx context.Context, cfg StartConfig, size uint64) startState {
	if cfg.StateFile == "" {
		return startState{}
	}
	b, err := readSmall(cfg.StateFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			cfg.Logger.Warn("the previous start's record unreadable: reading the whole log", "file", cfg.StateFile, "error", err)
		}
		return startState{}
	}
	var st startState
	if err := json.Unmarshal(b, &st); err != nil || st.Size > size || (st.Size > 0) != (st.Last != "") {
		cfg.Logger.Warn("the previous start's record does not fit this log: reading the whole log", "file", cfg.StateFile)
		return startState{}
	}
	if st.Size == 0 {
		return st
	}
	for rec, err := range chain.Entries(ctx, cfg.Log.FS(), st.Size-1, st.Size) {
		if err != nil || entryDigest(rec) != st.Last {
			cfg.Logger.Warn("the log is not the one the previous start read: reading the whole log", "file", cfg.StateFile, "size", st.Size)
			return startState{}
		}
	}
	return st
}

// readOpenCaptures reads the entries [from.Size, size) of the log in fsys
// on top of from, and returns the captures open at size.
func readOpenCaptures(ctx context.Context, fsys fs.FS, from startState, size uint64) (startState, error) {
	st := startState{Size: from.Size, Last: from.Last, Open: slices.Clone(from.Open)}
	for rec, err := range chain.Entries(ctx, fsys, from.Size, size) {
		if err != nil {
			return st, err
		}
		e := rec.Event
		switch cid := e.Details["capture"]; e.Type {
		case chain.CaptureStarted:
			if !slices.ContainsFunc(st.Open, func(c openCapture) bool { return c.Capture == cid }) {
				st.Open = append(st.Open, openCapture{Capture: cid, Order: e.Order, Authority: e.Authority})
			}
		case chain.CaptureCompleted, chain.CaptureFailed:
			st.Open = slices.DeleteFunc(st.Open, func(c openCapture) bool { return c.Capture == cid })
		}
		st.Size, st.Last = rec.Index+1, entryDigest(rec)
	}
	return st, nil
}

func entryDigest(rec *chain.Record) string {
	sum := sha256.Sum256(rec.Encoded)
	return hex.EncodeToString(sum[:])
}

// interruptedEvent is the capture.failed event of capture cid of order
// id, whose process died; found says who found it: the agent's "start",
// or the next "capture" of the order.
func interruptedEvent(id, authority, cid, actor, agent, host string, now time.Time, found string) chain.Event {
	return chain.Event{
		Type: chain.CaptureFailed, Time: now, Order: id, Actor: actor, Agent: agent, Host: host,
		Authority: authority,
		Reason: "interrupted: the process running the capture stopped before it ended; items it sealed are in the log, " +
			"what it stored and never sealed is sealed by the next capture",
		Details: map[string]string{"capture": cid, "interrupted": "true", "found_at": found},
	}
}

// readSmall reads a file of at most 64 KiB.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<10))
}

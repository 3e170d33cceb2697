package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/custos-evidence/custos/chain"
)

// The log commands through the daemon (client mode): the same output as
// in-process, from the API's /v1/events, /v1/checkpoint and /v1/proofs.

// remoteLogShow pages through the events the daemon shows this identity.
func remoteLogShow(ctx context.Context, g *globalOptions, opts logShowOptions) error {
	c, err := newAPIClient(g)
	if err != nil {
		return err
	}
	from := opts.From
	for {
		q := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {"1000"}}
		if opts.Order != "" {
			q.Set("order", opts.Order)
		}
		var page struct {
			Events []struct {
				Index uint64          `json:"index"`
				Event json.RawMessage `json:"event"`
			} `json:"events"`
			Next uint64 `json:"next"`
			Size uint64 `json:"size"`
		}
		if err := c.call(ctx, "GET", "/v1/events?"+q.Encode(), nil, &page); err != nil {
			return fmt.Errorf("log show: %w", err)
		}
		for _, ev := range page.Events {
			e, err := chain.ParseEvent(ev.Event)
			if err != nil {
				return fmt.Errorf("log show: entry %d from the daemon: %w", ev.Index, err)
			}
			if err := printRecord(g, &chain.Record{Index: ev.Index, Event: e, Encoded: ev.Event}); err != nil {
				return err
			}
		}
		if page.Next >= page.Size || page.Next <= from {
			return nil
		}
		from = page.Next
	}
}

// remoteText is the text answer of a GET.
func remoteText(ctx context.Context, g *globalOptions, path string) ([]byte, error) {
	c, err := newAPIClient(g)
	if err != nil {
		return nil, err
	}
	res, err := c.send(ctx, "GET", path, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return io.ReadAll(io.LimitReader(res.Body, 1<<20))
}

// remoteLogCheckpoint prints the daemon's newest checkpoint. Its signature
// is not checked here: `custos log verify --key` or a package's verifier
// checks it against the provider's key.
func remoteLogCheckpoint(ctx context.Context, g *globalOptions) error {
	raw, err := remoteText(ctx, g, "/v1/checkpoint")
	if err != nil {
		return fmt.Errorf("log checkpoint: %w", err)
	}
	if !g.json() {
		_, err = g.stdout.Write(raw)
		return err
	}
	lines := strings.SplitN(string(raw), "\n", 4)
	if len(lines) < 4 {
		return fmt.Errorf("log checkpoint: the daemon's checkpoint is malformed: %w", chain.ErrTamper)
	}
	size, serr := strconv.ParseUint(lines[1], 10, 64)
	hash, herr := base64.StdEncoding.DecodeString(lines[2])
	if serr != nil || herr != nil {
		return fmt.Errorf("log checkpoint: the daemon's checkpoint is malformed: %w", chain.ErrTamper)
	}
	return writeJSON(g.stdout, map[string]any{
		"origin": lines[0], "size": size, "root_hash": hex.EncodeToString(hash), "note": string(raw),
	})
}

// remoteLogProve writes the daemon's inclusion or consistency proof.
func remoteLogProve(ctx context.Context, g *globalOptions, opts logProveOptions, args []string) error {
	path := ""
	switch {
	case opts.Consistency && len(args) == 2:
		for _, a := range args {
			if _, err := strconv.ParseUint(a, 10, 64); err != nil {
				return usageErrorf("log prove --consistency: %q is not a tree size", a)
			}
		}
		path = "/v1/proofs/consistency?old=" + args[0] + "&new=" + args[1]
	case opts.Consistency:
		return argCountError("log prove", "--consistency OLD NEW", args)
	case len(args) == 1:
		if _, err := strconv.ParseUint(args[0], 10, 64); err != nil {
			return usageErrorf("log prove: INDEX %q is not a log index", args[0])
		}
		path = "/v1/proofs/inclusion/" + args[0]
	default:
		return argCountError("log prove", "INDEX", args)
	}
	text, err := remoteText(ctx, g, path)
	if err != nil {
		return fmt.Errorf("log prove: %w", err)
	}
	return writeOutput(g, opts.Out, text)
}

// remoteLogNote records the note through the daemon, by the token's
// identity, and prints what the in-process command prints.
func remoteLogNote(ctx context.Context, g *globalOptions, order, note string) error {
	c, err := newAPIClient(g)
	if err != nil {
		return err
	}
	var ev struct {
		Index uint64          `json:"index"`
		Event json.RawMessage `json:"event"`
	}
	if err := c.call(ctx, "POST", "/v1/notes", map[string]string{"order": order, "note": note}, &ev); err != nil {
		return fmt.Errorf("log note: %w", err)
	}
	if g.json() {
		e, err := chain.ParseEvent(ev.Event)
		if err != nil {
			return fmt.Errorf("log note: the daemon's event: %w", err)
		}
		return writeJSON(g.stdout, recordJSON(&chain.Record{Index: ev.Index, Event: e, Encoded: ev.Event}))
	}
	_, err = fmt.Fprintln(g.stdout, ev.Index)
	return err
}

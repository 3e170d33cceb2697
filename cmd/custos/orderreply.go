package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

func newOrderReplyCommand(g *globalOptions) *cli.Command {
	var preserved bool
	var ground, explanation, out string
	var get int
	grounds := make([]string, 0, len(order.Grounds()))
	for _, gr := range order.Grounds() {
		grounds = append(grounds, string(gr))
	}
	return &cli.Command{
		Name:      "reply",
		Usage:     "reply to the order's authority: --preserved confirms preservation, --cannot-comply GROUND writes EU Form 3 (Annex III); signed, stored and logged (--get N --out DIR reads reply N back)",
		ArgsUsage: "ORDER",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "preserved", Usage: "confirm that the data was preserved: the order, when its first items were sealed, the sealed batches' digests", Destination: &preserved},
			&cli.StringFlag{Name: "cannot-comply", Usage: "the Annex III ground: " + strings.Join(grounds, ", "), Destination: &ground},
			&cli.StringFlag{Name: "explanation", Usage: "with --cannot-comply: why (required for non-execution)", Destination: &explanation},
			&cli.IntFlag{Name: "get", Usage: "read reply `N` back instead, checked against the digests the log names, into --out", Destination: &get},
			&cli.StringFlag{Name: "out", Usage: "with --get: the directory to write N.xml, N.html and N.dsse.json into (made if missing)", Destination: &out},
		},
		Action: func(c *cli.Context) error {
			if c.IsSet("get") || c.IsSet("out") {
				if preserved || c.IsSet("cannot-comply") || explanation != "" {
					return usageErrorf("order reply: --get reads a reply back; it takes no --preserved, --cannot-comply or --explanation")
				}
				return runReplyGet(c.Context, g, c.Args().Slice(), get, out)
			}
			req, err := replyRequest(preserved, c.IsSet("cannot-comply"), ground, explanation)
			if err != nil {
				return err
			}
			id, err := g.orderArg(c.Context, "order reply", c.Args().Slice())
			if err != nil {
				return err
			}
			r, err := g.custody().Reply(c.Context, id, req)
			if err != nil {
				return fmt.Errorf("order reply: %w", err)
			}
			if g.json() {
				return writeJSON(g.stdout, r)
			}
			return printReply(g, r)
		},
	}
}

// replyRequest checks the flags, before anything is opened: one kind of
// reply, a ground that is one, an explanation only with a ground.
func replyRequest(preserved, cannot bool, ground, explanation string) (api.ReplyRequest, error) {
	switch {
	case preserved == cannot:
		return api.ReplyRequest{}, usageErrorf("order reply: give --preserved or --cannot-comply GROUND (one of them)")
	case preserved && explanation != "":
		return api.ReplyRequest{}, usageErrorf("order reply: --explanation goes with --cannot-comply")
	case preserved:
		return api.ReplyRequest{Kind: chain.ReplyPreserved}, nil
	}
	req := api.ReplyRequest{Kind: chain.ReplyCannotComply, Ground: ground, Explanation: explanation}
	draft := &order.Reply{Kind: req.Kind, Ground: order.Ground(ground), Explanation: explanation}
	if err := draft.CheckRequest(); err != nil {
		return api.ReplyRequest{}, usageErrorf("order reply: --cannot-comply: %v", err)
	}
	return req, nil
}

// printReply says which reply was written and where its files are.
func printReply(g *globalOptions, r *api.Reply) error {
	w := &errWriter{w: g.stdout}
	what := "confirmation of preservation"
	if r.Kind == chain.ReplyCannotComply {
		what = "Annex III, cannot comply: " + r.Ground
	}
	w.printf("order %s: reply %d (%s) written, signed and logged (order.replied, log index %d)\n", r.Order, r.Number, what, r.LogIndex)
	for _, f := range r.Files {
		w.printf("  %s  sha256 %s\n", f.Key, f.SHA256)
	}
	return w.err
}

// runReplyGet reads reply n of the order back into dir: its three
// files, each checked against the digest the log names (a file that
// differs is tampering, exit 3), none written over an existing file.
func runReplyGet(ctx context.Context, g *globalOptions, args []string, n int, dir string) error {
	switch {
	case n < 1:
		return usageErrorf("order reply: --get N: a reply number from 1")
	case dir == "":
		return usageErrorf("order reply: --get: --out DIR missing")
	}
	id, err := g.orderArg(ctx, "order reply", args)
	if err != nil {
		return err
	}
	files, err := g.custody().ReadReply(ctx, id, n)
	if err != nil {
		return fmt.Errorf("order reply --get: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("order reply --get: %w", err)
	}
	type savedFile struct {
		Path   string `json:"path"`
		SHA256 string `json:"sha256"`
	}
	var written []savedFile
	for i, ext := range agent.ReplyExts() {
		path := filepath.Join(dir, strconv.Itoa(n)+"."+ext)
		if err := writeNewFile(path, files[i]); err != nil {
			return fmt.Errorf("order reply --get: %w", err)
		}
		sum := sha256.Sum256(files[i])
		written = append(written, savedFile{Path: path, SHA256: hex.EncodeToString(sum[:])})
	}
	if g.json() {
		return writeJSON(g.stdout, written)
	}
	w := &errWriter{w: g.stdout}
	for _, f := range written {
		w.printf("%s  sha256 %s\n", f.Path, f.SHA256)
	}
	return w.err
}

// writeNewFile writes b to path, which must not exist yet.
func writeNewFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

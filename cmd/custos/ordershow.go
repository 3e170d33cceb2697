package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
)

func newOrderShowCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show one order: its record, deadline and items",
		ArgsUsage: "ORDER",
		Action: func(c *cli.Context) error {
			return runOrderShow(c.Context, g, c.Args().Slice())
		},
	}
}

func runOrderShow(ctx context.Context, g *globalOptions, args []string) error {
	id, err := g.orderArg(ctx, "order show", args)
	if err != nil {
		return err
	}
	d, err := g.custody().ShowOrder(ctx, id)
	if d == nil {
		return err
	}
	if g.json() {
		return errors.Join(err, writeJSON(g.stdout, d))
	}
	return errors.Join(err, printOrderDetail(g, d))
}

// printOrderDetail shows one order as `custos order show` does.
func printOrderDetail(g *globalOptions, od *api.OrderDetail) error {
	o, d, items, purged := od.Order, od.Deadline, od.Items, od.Purged
	w := &errWriter{w: g.stdout}
	w.printf("order:            %s\n", o.ID)
	w.printf("status:           %s\n", o.Status)
	w.printf("reference:        %s\n", oneLine(o.Reference))
	w.printf("authority:        %s (%s)\n", oneLine(o.Authority), o.RequestingState)
	w.printf("profile:          %s\n", o.Profile)
	w.printf("legal basis:      %s\n", oneLine(o.LegalBasis))
	w.printf("received:         %s\n", o.ReceivedAt.UTC().Format(time.RFC3339))
	if !o.IssuedAt.IsZero() {
		w.printf("issued:           %s (as the authority says)\n", o.IssuedAt.UTC().Format(time.RFC3339))
	}
	if !o.SignedAt.IsZero() {
		w.printf("signed:           %s (as the authority says)\n", o.SignedAt.UTC().Format(time.RFC3339))
	}
	w.printf("expires:          %s (%s)\n", o.ExpiresAt.UTC().Format(time.RFC3339), daysLeft(d))
	for i, e := range o.Extensions {
		w.printf("extension %d:      %s -> %s, %s\n", i+1, e.PreviousExpiresAt.UTC().Format(time.RFC3339), e.ExpiresAt.UTC().Format(time.RFC3339), oneLine(e.LegalBasis))
	}
	if o.CurrentHold != nil {
		w.printf("held:             since %s while %s: %s\n", o.CurrentHold.At.UTC().Format(time.RFC3339), o.CurrentHold.While, oneLine(o.CurrentHold.Basis))
	}
	if p := od.Production; p != nil {
		w.printf("production:       %s due %s (%s): %s\n", p.Kind, p.Due.UTC().Format(time.RFC3339), p.Rule, p.State)
	}
	sels := make([]string, len(o.Selectors))
	for i, s := range o.Selectors {
		sels[i] = s.String()
	}
	w.printf("selectors:        %s\n", strings.Join(sels, ", "))
	cats := make([]string, len(o.Categories))
	for i, c := range o.Categories {
		cats[i] = string(c)
	}
	w.printf("categories:       %s\n", strings.Join(cats, ","))
	if !o.Window.From.IsZero() || !o.Window.To.IsZero() {
		w.printf("window:           %s .. %s\n", stamp(o.Window.From), stamp(o.Window.To))
	}
	w.printf("confidential:     %t\n", o.Confidentiality.Confidential)
	if o.Document != nil {
		w.printf("document:         %s %s (%d bytes) sha256 %s\n", o.Document.Name, o.Document.MediaType, o.Document.Size, o.Document.SHA256)
	}
	if f := o.Form; f != nil {
		kind := "preservation"
		if f.Production {
			kind = "production"
		}
		if f.Emergency {
			kind += ", emergency"
		}
		w.printf("form:             %s %s (%s; %d fields kept verbatim) sha256 %s\n", f.Type.Annex(), oneLine(f.CertificateID), kind, len(f.Fields), f.SHA256)
		for _, a := range f.Applied {
			w.printf("  applied %s: %s %s sha256 %s\n", a.At.UTC().Format(time.RFC3339), a.Type.Annex(), oneLine(a.CertificateID), a.SHA256)
		}
	}
	if q := od.Requester; q != nil {
		w.printf("requester:        %s (%s, by %s, entry %d)\n", q.Result, q.Method, oneLine(q.Actor), q.Index)
	} else {
		w.printf("requester:        not verified: a disclosure waits for custos order verify-requester\n")
	}
	if o.IsEmergency() {
		approved := "no approval pending: another identity must approve it first (disclose --approve)"
		if len(od.ApprovedBy) > 0 {
			approved = "approved by " + strings.Join(od.ApprovedBy, ", ")
		}
		w.printf("emergency:        next disclosure %s\n", approved)
	}
	w.printf("events:           %d\n", od.Events)
	w.printf("items:            %d\n", len(items))
	for _, it := range items {
		spooled := ""
		if it.Spooled {
			spooled = " (in the local spool)"
		}
		if it.Name == "" { // preserved before batches: its event names only the digest
			w.printf("  %s%s\n", it.SHA256, spooled)
			continue
		}
		w.printf("  %s: %s  %d bytes  sha256 %s%s\n", it.Source, oneLine(it.Name), it.Size, it.SHA256, spooled)
	}
	if len(purged) > 0 {
		w.printf("purged:           %d\n", len(purged))
	}
	if len(od.Replies) > 0 {
		w.printf("replies:          %d\n", len(od.Replies))
	}
	for _, r := range od.Replies {
		what := string(r.Kind)
		if r.Ground != "" {
			what += ": " + r.Ground
		}
		w.printf("  reply %d (%s) %s, log index %d\n", r.Number, what, r.Time.UTC().Format(time.RFC3339), r.LogIndex)
		for _, f := range r.Files {
			w.printf("    %s  sha256 %s\n", f.Key, f.SHA256)
		}
	}
	return w.err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "open"
	}
	return t.UTC().Format(time.RFC3339)
}

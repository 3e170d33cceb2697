package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/order"
)

type orderAddOptions struct {
	flags    order.Flags
	file     string
	document string
}

func newOrderAddCommand(g *globalOptions) *cli.Command {
	var opts orderAddOptions
	f := &opts.flags
	var selectors cli.StringSlice
	return &cli.Command{
		Name:  "add",
		Usage: "receive an order: record it in the custody log and preserve its document",
		Description: "The order is given by flags or by --file ORDER.json|yaml with the same fields\n" +
			"(not both). It prints the new order's id; with --output json the whole order.\n" +
			"--expires takes a date (2027-02-18, the end of that day UTC), an RFC 3339 time or a\n" +
			"duration after receipt (90d, 2160h); without it the profile's default applies.\n" +
			"The receipt is this agent's clock when the order arrives; the authority's own dates\n" +
			"go in --issued-at and --signed-at. An order whose expiry is already past is refused.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Usage: "the order as a JSON or YAML `FILE`", Destination: &opts.file},
			&cli.StringFlag{Name: "document", Usage: "the order document `FILE` (PDF, email, scan), preserved as an item of the order", Destination: &opts.document},
			&cli.StringFlag{Name: "reference", Usage: "the authority's own `REF` for the order", Destination: &f.Reference},
			&cli.StringFlag{Name: "authority", Usage: "the issuing `AUTHORITY`", Destination: &f.Authority},
			&cli.StringFlag{Name: "requesting-state", Usage: "ISO 3166-1 alpha-2 `CODE` of the requesting state", Destination: &f.RequestingState},
			&cli.StringFlag{Name: "profile", Usage: "jurisdiction `PROFILE` (us-2703f, budapest-16, budapest-29, eu-epoc-pr, uncc-25, uncc-42, custom)", Destination: &f.Profile},
			&cli.StringFlag{Name: "legal-basis", Usage: "the legal basis as the order states it", Destination: &f.LegalBasis},
			&cli.StringFlag{Name: "offence-summary", Usage: "the offence and facts as the order states them", Destination: &f.OffenceSummary},
			&cli.StringSliceFlag{Name: "selector", Usage: "whose data, `TYPE:VALUE` (account, email, phone, ip, username, url, device); repeatable", Destination: &selectors},
			&cli.StringFlag{Name: "categories", Usage: "data `CATEGORIES`, comma-separated: subscriber,traffic,content", Destination: &f.Categories},
			&cli.StringFlag{Name: "from", Usage: "start of the data's time window (RFC 3339)", Destination: &f.From},
			&cli.StringFlag{Name: "to", Usage: "end of the data's time window (RFC 3339)", Destination: &f.To},
			&cli.StringFlag{Name: "issued-at", Usage: "when the authority issued the order, as it says (RFC 3339)", Destination: &f.IssuedAt},
			&cli.StringFlag{Name: "signed-at", Usage: "when the authority signed the order, as it says (RFC 3339)", Destination: &f.SignedAt},
			// Refused with the reason: the receipt is the agent's clock.
			&cli.StringFlag{Name: "received-at", Hidden: true, Destination: &f.ReceivedAt},
			&cli.StringFlag{Name: "expires", Usage: "expiry: a date, an RFC 3339 time or a duration (90d)", Destination: &f.Expires},
			&cli.BoolFlag{Name: "confidential", Usage: "the order is confidential", Destination: &f.Confidential},
			&cli.StringFlag{Name: "no-notification-until", Usage: "no customer notification before this date or duration", Destination: &f.NoNotificationUntil},
			&cli.BoolFlag{Name: "legacy-digests", Usage: "record MD5 and SHA-1 beside SHA-256 and SHA-512", Destination: &f.LegacyDigests},
			&cli.BoolFlag{Name: "production", Usage: "a production order (profile custom or eu-epoc-pr): the data is due in 10 days", Destination: &f.Production},
			&cli.BoolFlag{Name: "emergency", Usage: "an emergency order: its disclosure needs a second identity's approval (disclose --approve); with --production, due in 8 hours", Destination: &f.Emergency},
			&cli.BoolFlag{Name: "authority-notified", Usage: "with --production: the enforcing authority was notified; production waits for its 10-day review", Destination: &f.AuthorityNotified},
		},
		Action: func(c *cli.Context) error {
			f.Selectors = selectors.Value()
			flagsGiven := false
			for _, name := range c.LocalFlagNames() {
				if name != "file" && name != "document" {
					flagsGiven = true
				}
			}
			return runOrderAdd(c.Context, g, opts, flagsGiven, c.Args().Slice())
		},
	}
}

func runOrderAdd(ctx context.Context, g *globalOptions, opts orderAddOptions, flagsGiven bool, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("order add", "", args)
	}
	now := time.Now().UTC()
	var draft *order.Order
	switch {
	case opts.file != "" && flagsGiven:
		return usageErrorf("order add: give the order by --file or by flags, not both")
	case opts.file != "":
		data, err := readLimited(opts.file, order.MaxSize)
		if err != nil {
			return usageErrorf("order add: --file: %v", err)
		}
		if draft, err = order.ParseFile(data, now); err != nil {
			return usageErrorf("order add: %s: %v", opts.file, err)
		}
	default:
		if draft, err = opts.flags.Draft(now); err != nil {
			return usageErrorf("order add: %v", err)
		}
	}
	o, err := g.custody().AddOrder(ctx, draft, opts.document)
	if o == nil {
		return err
	}
	// The order is received from here on, whatever befell its document.
	var out error
	if g.json() {
		out = writeJSON(g.stdout, o)
	} else {
		_, out = fmt.Fprintln(g.stdout, o.ID)
	}
	return errors.Join(err, out)
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

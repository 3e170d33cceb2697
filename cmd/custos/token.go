package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/auth"
)

// The token commands work in-process on DATA_DIR/tokens.json directly,
// beside a running daemon (see localCustody), or through the daemon with
// an admin token.
func newTokenCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "create, list and revoke the bearer tokens of the daemon's API",
		Subcommands: []*cli.Command{
			newTokenCreateCommand(g),
			newTokenListCommand(g),
			newTokenRevokeCommand(g),
		},
	}
}

type tokenCreateOptions struct {
	role, name string
}

func newTokenCreateCommand(g *globalOptions) *cli.Command {
	var opts tokenCreateOptions
	return &cli.Command{
		Name:  "create",
		Usage: "make a token and print its secret, once (the store keeps only its hash)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "role", Usage: "`ROLE`: intake, custodian, discloser, auditor or admin", Destination: &opts.role},
			&cli.StringFlag{Name: "name", Usage: "the `NAME` custody events record for the token's requests", Destination: &opts.name},
		},
		Action: func(c *cli.Context) error { return runTokenCreate(c.Context, g, opts, c.Args().Slice()) },
	}
}

func runTokenCreate(ctx context.Context, g *globalOptions, opts tokenCreateOptions, args []string) error {
	if len(args) != 0 {
		return argCountError("token create", "--role ROLE --name NAME", args)
	}
	role, err := auth.ParseRole(opts.role)
	if err != nil {
		return usageErrorf("token create: --role: %v", err)
	}
	if err := auth.ValidateName(opts.name); err != nil {
		return usageErrorf("token create: --name: %v", err)
	}
	nt, err := g.custody().CreateToken(ctx, opts.name, role)
	if err != nil {
		return err
	}
	if g.json() {
		return writeJSON(g.stdout, nt)
	}
	w := &errWriter{w: g.stdout}
	w.printf("%s\n", nt.Secret)
	fmt.Fprintf(g.stderr, "token %s (%s, %s) created; the secret above is shown once\n", nt.Token.ID, nt.Token.Name, nt.Token.Role)
	return w.err
}

func newTokenListCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the tokens (never their secrets)",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return argCountError("token list", "", c.Args().Slice())
			}
			ts, err := g.custody().ListTokens(c.Context)
			if err != nil {
				return err
			}
			if g.json() {
				if ts == nil {
					ts = []auth.Token{}
				}
				return writeJSON(g.stdout, ts)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tREVOKED")
			for _, t := range ts {
				revoked := "-"
				if t.Revoked != nil {
					revoked = t.Revoked.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.Created.UTC().Format(time.RFC3339), revoked)
			}
			return tw.Flush()
		},
	}
}

func newTokenRevokeCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "revoke a token: its requests are refused from then on",
		ArgsUsage: "ID",
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return argCountError("token revoke", "ID", c.Args().Slice())
			}
			t, err := g.custody().RevokeToken(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(g.stdout, t)
			}
			w := &errWriter{w: g.stdout}
			w.printf("token %s (%s, %s) revoked at %s\n", t.ID, t.Name, t.Role, t.Revoked.UTC().Format(time.RFC3339))
			return w.err
		},
	}
}

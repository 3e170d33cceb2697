package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
)

// --- log restore

type logRestoreOptions struct {
	Force bool
	Key   string
}

func newLogRestoreCommand(g *globalOptions) *cli.Command {
	var opts logRestoreOptions
	return &cli.Command{
		Name:  "restore",
		Usage: "rebuild a lost local log from its mirror in the evidence store, and verify it",
		Description: "Downloads every mirrored checkpoint and the tiles and entry bundles of the newest,\n" +
			"each re-hashed as it is read, verifies the whole log with the verifier key, and\n" +
			"only then puts it in place of <data-dir>/log. A local log in the way is refused;\n" +
			"--force moves it aside to log.replaced-<time>, never deleting it. Exits 3 if the\n" +
			"mirror does not verify. --key is as for log verify.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "move an existing local log aside and restore over it", Destination: &opts.Force},
			&cli.StringFlag{Name: "key", Usage: "verifier `KEY`: file or note verifier line", Destination: &opts.Key},
		},
		Action: func(c *cli.Context) error {
			return runLogRestore(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogRestore(ctx context.Context, g *globalOptions, opts logRestoreOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("log restore", "", args)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	// Only the public key: a restore needs no passphrase, and a key kept
	// apart from the lost disk can check what the store gives back.
	v, err := verifier(ctx, cfg, opts.Key)
	if err != nil {
		return err
	}
	unlock, err := lockForWrite(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	mirror, err := openMirror(ctx, g, cfg, v)
	if err != nil {
		return err
	}
	rep, err := mirror.Restore(ctx, opts.Force)
	if err != nil {
		if rep != nil && rep.Verified != nil && len(rep.Verified.Problems) > 0 {
			// What failed, entry by entry, as log verify shows it.
			_ = printReport(g, cfg.dir().Log(), v, rep.Verified)
		}
		return err
	}
	if g.json() {
		out := reportJSON(cfg.dir().Log(), v, rep.Verified)
		out["restored_checkpoint_size"] = rep.Checkpoint.Size
		out["restored_checkpoints"] = rep.Checkpoints
		out["restored_files"] = rep.Files
		out["moved_aside"] = rep.MovedAside
		return writeJSON(g.stdout, out)
	}
	fmt.Fprintf(g.stdout, "restored:         %d checkpoints and %d tiles and entry bundles from the store, up to the checkpoint of size %d\n",
		rep.Checkpoints, rep.Files, rep.Checkpoint.Size)
	if rep.MovedAside != "" {
		fmt.Fprintf(g.stdout, "moved aside:      %s (the log that was in the way)\n", rep.MovedAside)
	}
	return writeReport(g, cfg.dir().Log(), v, rep.Verified)
}

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/storage"
)

func newStorageCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "storage",
		Usage: "check and prepare the evidence store",
		Subcommands: []*cli.Command{
			{
				Name:  "check",
				Usage: "probe the evidence store: bucket, versioning, Object Lock, and a locked probe object",
				Description: "For an S3 store, writes a probe object under .custos-probe/ with one minute of\n" +
					"retention and a legal hold, reads both back, checks that the locked version refuses\n" +
					"deletion and that the content re-hashes, then releases the hold. A server that accepts\n" +
					"lock headers without locking is refused.",
				Action: func(c *cli.Context) error { return runStorageCheck(c.Context, g, c.Args().Slice()) },
			},
			{
				Name:   "init",
				Usage:  "create the configured S3 bucket with Object Lock (and so versioning)",
				Action: func(c *cli.Context) error { return runStorageInit(c.Context, g, c.Args().Slice()) },
			},
		},
	}
}

func runStorageCheck(ctx context.Context, g *globalOptions, args []string) error {
	if len(args) != 0 {
		return argCountError("storage check", "", args)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	var results []storage.CheckResult
	var checkErr error
	switch cfg.Store.Type {
	case "s3":
		o, err := cfg.s3Options()
		if err != nil {
			return err
		}
		s, err := storage.NewS3(ctx, o)
		if err != nil {
			results = append(results, storage.CheckResult{Check: "bucket exists with Object Lock", Detail: err.Error()})
			checkErr = err
		} else {
			results, checkErr = s.Check(ctx)
		}
	default:
		// Opening the local store removes what interrupted writes left in
		// its tmp/: never while a writer runs (the lock keeps them apart).
		unlock, err := lockForRead(cfg.DataDir)
		if err != nil {
			return err
		}
		_, err = openStore(ctx, cfg)
		if uerr := unlock(); err == nil {
			err = uerr
		}
		detail := cfg.dir().Store()
		if err != nil {
			detail, checkErr = err.Error(), err
		}
		results = append(results, storage.CheckResult{Check: "local store opens", OK: err == nil, Detail: detail})
	}
	if g.json() {
		type jsonResult struct {
			Check  string `json:"check"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		}
		out := struct {
			Store   string       `json:"store"`
			OK      bool         `json:"ok"`
			Results []jsonResult `json:"results"`
		}{Store: cfg.Store.Type, OK: checkErr == nil, Results: []jsonResult{}}
		for _, r := range results {
			out.Results = append(out.Results, jsonResult(r))
		}
		if err := writeJSON(g.stdout, out); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			mark := "ok  "
			if !r.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(g.stdout, "%s %s: %s\n", mark, r.Check, r.Detail)
		}
	}
	if checkErr != nil {
		if errors.Is(checkErr, storage.ErrLockIgnored) {
			return fmt.Errorf("REFUSED: this store does not enforce Object Lock and must not hold evidence: %w", checkErr)
		}
		return fmt.Errorf("storage check failed: %w", checkErr)
	}
	return nil
}

func runStorageInit(ctx context.Context, g *globalOptions, args []string) error {
	if len(args) != 0 {
		return argCountError("storage init", "", args)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if cfg.Store.Type != "s3" {
		return usageErrorf("storage init: store.type is %q; only an S3 bucket needs creating", cfg.Store.Type)
	}
	o, err := cfg.s3Options()
	if err != nil {
		return err
	}
	created, err := storage.InitBucket(ctx, o)
	if err != nil {
		return err
	}
	verb := "exists"
	if created {
		verb = "created"
	}
	if g.json() {
		return writeJSON(g.stdout, map[string]any{"bucket": o.Bucket, "created": created, "object_lock": true})
	}
	_, err = fmt.Fprintf(g.stdout, "bucket %s %s with Object Lock at %s\n", o.Bucket, verb, o.Endpoint)
	return err
}

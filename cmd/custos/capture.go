package main

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/source"
)

type captureOptions struct {
	sources  cli.StringSlice
	cutOff   string
	category string
}

func newCaptureCommand(g *globalOptions) *cli.Command {
	var opts captureOptions
	return &cli.Command{
		Name:      "capture",
		Usage:     "preserve what an order names: run its sources, hash, store, attest and log every item",
		ArgsUsage: "ORDER",
		Description: "Without --source, every configured source (sources: in the config) that serves one of\n" +
			"the order's data categories runs. --source names a configured source or gives an ad-hoc\n" +
			"URI: file:///path (a file or a whole directory tree), https://host/path (an export\n" +
			"endpoint), s3://bucket/prefix (objects of a bucket on the evidence store's S3 server).\n" +
			"Only data that existed when the order was received is preserved unless --cut-off says\n" +
			"otherwise. An ad-hoc URI's items are labelled with --category, one of the order's\n" +
			"categories, in the signed record (disclose --categories selects by it); it may be left\n" +
			"out when the order names one. Re-running a capture preserves only what is not preserved yet. When the\n" +
			"evidence store cannot be reached, items are sealed into the local spool and stored\n" +
			"when it returns.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "source", Usage: "a configured source `NAME` or an ad-hoc URI; repeatable", Destination: &opts.sources},
			&cli.StringFlag{Name: "category", Usage: "the data `CATEGORY` of an ad-hoc URI's items, one of the order's (required when it names more than one)", Destination: &opts.category},
			&cli.StringFlag{Name: "cut-off", Usage: "newest data to preserve: an RFC 3339 `TIME`, or now (default: the order's receipt)", Destination: &opts.cutOff},
		},
		Action: func(c *cli.Context) error {
			return runCapture(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runCapture(ctx context.Context, g *globalOptions, opts captureOptions, args []string) (err error) {
	var cutOff time.Time
	switch opts.cutOff {
	case "":
	case "now":
		cutOff = time.Now().UTC()
	default:
		if cutOff, err = time.Parse(time.RFC3339Nano, opts.cutOff); err != nil {
			return usageErrorf("capture: --cut-off %q: not an RFC 3339 time or now", opts.cutOff)
		}
	}
	id, err := g.orderArg(ctx, "capture", args)
	if err != nil {
		return err
	}
	sum, err := g.custody().Capture(ctx, id, captureRequest{sources: opts.sources.Value(), category: opts.category, cutOff: opts.cutOff, cutOffAt: cutOff})
	if sum != nil {
		if perr := printCapture(g, *sum); perr != nil {
			return errors.Join(err, perr)
		}
	}
	return err
}

// captureSources makes the connectors of a capture: those named (configured
// names or ad-hoc URIs), or every configured source serving one of the
// order's categories (capture.Catalog). Errors are usage errors naming the
// source.
func captureSources(cfg *Config, o *order.Order, names []string, category string) ([]capture.NamedSource, error) {
	configured, err := cfg.sourceConfigs()
	if err != nil {
		return nil, err
	}
	srcs, err := capture.Catalog{Configured: configured, S3: func(params map[string]any) error {
		return s3SourceDefaults(cfg, params)
	}, AdHocCategory: category}.Select(o, names)
	if err != nil {
		return nil, &usageError{err: err}
	}
	return srcs, nil
}

// s3SourceDefaults fills an ad-hoc s3:// source with the evidence store's
// S3 server and credentials: the source bucket lives beside it.
func s3SourceDefaults(cfg *Config, params map[string]any) error {
	s := cfg.Store.S3
	if s.Endpoint == "" {
		return usageErrorf("capture: an s3:// source needs an S3 server: set store.s3.endpoint (and its credentials), or configure the source under sources:")
	}
	params["endpoint"] = s.Endpoint
	params["region"] = s.Region
	params["tls"] = s.TLS
	params["path_style"] = s.PathStyle
	if s.CAFile != "" {
		params["ca_file"] = s.CAFile
	}
	if s.AccessKey != "" {
		params["access_key"] = s.AccessKey
		params["secret_key"] = s.SecretKey.Reveal()
	}
	return nil
}

// printCapture shows what a capture did: one line per item, then a summary.
func printCapture(g *globalOptions, sum api.CaptureSummary) error {
	if g.json() {
		return writeJSON(g.stdout, sum)
	}
	w := &errWriter{w: g.stdout}
	for _, it := range sum.Items {
		switch {
		case it.Error != "":
			w.printf("FAIL      %s: %s: %s\n", it.Source, it.Name, it.Error)
		case it.Duplicate:
			w.printf("already   %s: %s %s\n", it.Source, it.Name, it.Digests.SHA256)
		case it.Spooled:
			w.printf("spooled   %s: %s %s %d bytes\n", it.Source, it.Name, it.Digests.SHA256, it.Size)
		default:
			w.printf("preserved %s: %s %s %d bytes\n", it.Source, it.Name, it.Digests.SHA256, it.Size)
		}
	}
	names := make([]string, 0, len(sum.SourceErrors))
	for name := range sum.SourceErrors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		w.printf("FAIL      %s: %s\n", name, sum.SourceErrors[name])
	}
	if sum.ItemsOmitted > 0 {
		w.printf("... and %d more items, not listed here: custos order show %s lists them all\n", sum.ItemsOmitted, sum.Order)
	}
	w.printf("capture %s of order %s: %d preserved, %d already preserved", sum.Capture, sum.Order, sum.Preserved, sum.Duplicates)
	if sum.Spooled > 0 {
		w.printf(", %d of them sealed in the local spool (stored when the store returns)", sum.Spooled)
	}
	w.printf("\n")
	return w.err
}

// estimate is the bytes the sources will read, for the progress bar's
// total, or -1 when a source cannot tell.
func estimate(ctx context.Context, srcs []capture.NamedSource, o *order.Order) int64 {
	var total int64
	for _, ns := range srcs {
		e, ok := ns.Source.(source.Estimator)
		if !ok {
			return -1
		}
		n, err := e.Estimate(ctx, source.Request{Order: o.ID, From: o.Window.From, To: o.Window.To})
		if err != nil {
			return -1
		}
		total += n
	}
	return total
}

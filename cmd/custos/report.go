package main

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/report"
	"github.com/custos-evidence/custos/chain"
)

type reportOptions struct {
	From, To string
	Key      string
}

func newReportCommand(g *globalOptions) *cli.Command {
	var opts reportOptions
	return &cli.Command{
		Name:  "report",
		Usage: "the transparency report of a period: orders by instrument, state and outcome, from the custody log",
		Description: "Counts the orders received from --from to --to (dates, YYYY-MM-DD, both\n" +
			"included, UTC; or RFC 3339 times, --to excluded): by instrument (profile),\n" +
			"requesting state and outcome, the accounts they named, and the median and\n" +
			"95th percentile time from receipt to the first sealed items. It reads only\n" +
			"the custody log, verified first (in-process, with --key or <key.file>.vkey;\n" +
			"the daemon verifies its own), up to a signed checkpoint it names, so every\n" +
			"figure can be recomputed from the log. --output text, json or csv.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "first `DATE` of the period (YYYY-MM-DD or RFC 3339)", Destination: &opts.From},
			&cli.StringFlag{Name: "to", Usage: "last `DATE` of the period (YYYY-MM-DD, included, or RFC 3339, excluded)", Destination: &opts.To},
			&cli.StringFlag{Name: "key", Usage: "verifier `KEY` of the log (in-process): file or note verifier line", Destination: &opts.Key},
		},
		Action: func(c *cli.Context) error {
			return runReport(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runReport(ctx context.Context, g *globalOptions, opts reportOptions, args []string) error {
	if len(args) != 0 {
		return argCountError("report", "", args)
	}
	p, err := reportPeriod(opts.From, opts.To)
	if err != nil {
		return err
	}
	if opts.Key != "" && g.server != "" {
		return usageErrorf("report: --key checks the log in-process; with --server the daemon verifies its own log")
	}
	rep, err := g.custody().Report(ctx, p, opts.Key)
	if err != nil {
		return err
	}
	switch g.output {
	case "json":
		return writeJSON(g.stdout, rep)
	case "csv":
		return writeReportCSV(g, rep)
	}
	return writeReportText(g, rep)
}

// reportPeriod reads --from and --to: a date is a whole UTC day (--to's
// included), an RFC 3339 time an instant (--to's excluded).
func reportPeriod(from, to string) (report.Period, error) {
	if from == "" || to == "" {
		return report.Period{}, usageErrorf("report: --from and --to are required (YYYY-MM-DD or RFC 3339)")
	}
	var p report.Period
	var err error
	if p.From, err = reportTime(from, false); err != nil {
		return p, usageErrorf("report: --from %q: %v", from, err)
	}
	if p.To, err = reportTime(to, true); err != nil {
		return p, usageErrorf("report: --to %q: %v", to, err)
	}
	if !p.From.Before(p.To) {
		return p, usageErrorf("report: --from %s is not before --to %s", from, to)
	}
	return p, nil
}

func reportTime(s string, end bool) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("not a date (YYYY-MM-DD) or an RFC 3339 time")
	}
	return t.UTC(), nil
}

func writeReportText(g *globalOptions, rep *report.Report) error {
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Orders received from %s to %s: %d, naming %d accounts\n",
		rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), rep.Orders, rep.Accounts)
	for _, t := range []struct {
		title string
		rows  []report.Count
	}{{"INSTRUMENT", rep.ByInstrument}, {"REQUESTING STATE", rep.ByRequestingState}, {"OUTCOME", rep.ByOutcome}} {
		fmt.Fprintf(w, "\n%s\tORDERS\n", t.title)
		for _, r := range t.rows {
			fmt.Fprintf(w, "%s\t%d\n", oneLine(r.Key), r.Orders)
		}
	}
	fsd := rep.FirstSealed
	fmt.Fprintf(w, "\nReceipt to first sealed items (%d orders): median %s, 95th percentile %s, longest %s\n",
		fsd.Orders, seconds(fsd.Median), seconds(fsd.P95), seconds(fsd.Slowest))
	fmt.Fprintf(w, "Production deadlines due in the period: %d met, %d missed\n", rep.Deadlines.Met, rep.Deadlines.Missed)
	fmt.Fprintf(w, "Computed from the first %d entries of log %s (checkpoint root %s)\n",
		rep.LogSize, rep.Origin, base64.StdEncoding.EncodeToString(rep.CheckpointRoot))
	return w.Flush()
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// writeReportCSV writes one row per figure: section, key, value.
func writeReportCSV(g *globalOptions, rep *report.Report) error {
	w := csv.NewWriter(g.stdout)
	rows := [][]string{
		{"section", "key", "value"},
		{"period", "from", rep.From.Format(time.RFC3339)},
		{"period", "to", rep.To.Format(time.RFC3339)},
		{"total", "orders", strconv.Itoa(rep.Orders)},
		{"total", "accounts", strconv.Itoa(rep.Accounts)},
	}
	for _, t := range []struct {
		section string
		rows    []report.Count
	}{{"instrument", rep.ByInstrument}, {"requesting_state", rep.ByRequestingState}, {"outcome", rep.ByOutcome}} {
		for _, r := range t.rows {
			rows = append(rows, []string{t.section, r.Key, strconv.Itoa(r.Orders)})
		}
	}
	fsd := rep.FirstSealed
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	rows = append(rows,
		[]string{"receipt_to_first_sealed", "orders", strconv.Itoa(fsd.Orders)},
		[]string{"receipt_to_first_sealed", "median_seconds", f(fsd.Median)},
		[]string{"receipt_to_first_sealed", "p95_seconds", f(fsd.P95)},
		[]string{"receipt_to_first_sealed", "max_seconds", f(fsd.Slowest)},
		[]string{"production_deadlines", "met", strconv.Itoa(rep.Deadlines.Met)},
		[]string{"production_deadlines", "missed", strconv.Itoa(rep.Deadlines.Missed)},
		[]string{"log", "origin", rep.Origin},
		[]string{"log", "size", strconv.FormatUint(rep.LogSize, 10)},
		[]string{"log", "checkpoint_root", base64.StdEncoding.EncodeToString(rep.CheckpointRoot)},
	)
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	return w.Error()
}

// Report verifies the log in the data directory, then reports from it up
// to its published checkpoint.
func (l *localCustody) Report(ctx context.Context, p report.Period, key string) (_ *report.Report, err error) {
	cfg, err := l.g.config()
	if err != nil {
		return nil, err
	}
	v, err := verifier(ctx, cfg, key)
	if err != nil {
		return nil, err
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	dir := cfg.dir().Log()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("report: no custody log in %s: nothing was received with this data directory", cfg.DataDir)
	} else if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	logFS := os.DirFS(dir)
	if _, err := chain.VerifyLog(ctx, logFS, v); err != nil {
		return nil, fmt.Errorf("report: the log %s does not verify, no report is made from it: %w", dir, err)
	}
	raw, err := fs.ReadFile(logFS, chain.CheckpointPath)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	cp, err := chain.ParseCheckpoint(raw, v)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	rep, err := report.Build(ctx, chain.Entries(ctx, logFS, 0, cp.Size), p)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	rep.Origin, rep.CheckpointRoot = cp.Origin, cp.Hash
	return rep, nil
}

// Report is the daemon's report, from its log at its newest checkpoint.
func (d *daemonCustody) Report(ctx context.Context, p report.Period, _ string) (*report.Report, error) {
	c, err := d.client()
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	rep, err := c.Report(ctx, p.From, p.To)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return rep, nil
}

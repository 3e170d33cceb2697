package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
)

type logVerifyOptions struct {
	Key           string
	WitnessPolicy string
}

func newLogVerifyCommand(g *globalOptions) *cli.Command {
	var opts logVerifyOptions
	return &cli.Command{
		Name:  "verify",
		Usage: "check every entry, tile, checkpoint and order chain of the log",
		Description: "Exits 3 if anything does not verify. --key takes a PEM public key file,\n" +
			"a file holding a note verifier key, or the verifier key itself;\n" +
			"the default is <key.file>.vkey. With --witness-policy, the witnesses' cosignatures kept\n" +
			"with the checkpoints are checked too: the newest checkpoint must meet the policy's quorum.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "verifier `KEY`: file or note verifier line", Destination: &opts.Key},
			&cli.StringFlag{Name: "witness-policy", Usage: "witness policy `FILE` (Sigsum/transparency-dev format) the kept checkpoints' cosignatures are checked against", Destination: &opts.WitnessPolicy},
		},
		Action: func(c *cli.Context) error {
			return runLogVerify(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogVerify(ctx context.Context, g *globalOptions, opts logVerifyOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("log verify", "", args)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	v, err := verifier(ctx, cfg, opts.Key)
	if err != nil {
		return err
	}
	var wc *witnessCheck
	if opts.WitnessPolicy != "" {
		p, err := readWitnessPolicy("log verify", opts.WitnessPolicy)
		if err != nil {
			return err
		}
		wc = &witnessCheck{policy: p}
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	dir := cfg.dir().Log()
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("log verify: %w", err)
	}
	fsys := os.DirFS(dir)
	report, verr := chain.VerifyLog(ctx, fsys, v)
	if report == nil {
		return fmt.Errorf("log verify %s: %w", dir, verr)
	}
	if wc != nil {
		if wc.res, err = chain.CheckLogCosignatures(fsys, wc.policy); err != nil {
			te := &chain.TamperError{}
			if !errors.As(err, &te) {
				return fmt.Errorf("log verify %s: %w", dir, err)
			}
			report.Problems = append(report.Problems, te)
		}
	}
	if err := printLogReport(g, dir, v, report, wc); err != nil {
		return err
	}
	if n := len(report.Problems); n > 0 {
		return fmt.Errorf("log %s: %d problems found: %w", dir, n, chain.ErrTamper)
	}
	if report.Unsealed > 0 {
		// Consistent, but vouched for by no signature: a writer stopped
		// uncleanly, or someone added them. The next writer seals them and
		// records a log.recovered event naming them.
		return fmt.Errorf("log %s: entries %d to %d are covered by no signed checkpoint: %w", dir, report.CheckpointSize, report.CheckpointSize+report.Unsealed-1, chain.ErrTamper)
	}
	if verr != nil {
		return fmt.Errorf("log verify %s: %w", dir, verr)
	}
	if wc != nil && !wc.res.NewestMet {
		return fmt.Errorf("log %s: the newest checkpoint (size %d) does not meet the witness policy's quorum (%s): %w", dir, wc.res.Newest, wc.policy.Describe(), chain.ErrTamper)
	}
	return nil
}

// verifier reads the verifier key named by --key: a file (PEM or note
// verifier line) or the line itself; by default <key.file>.vkey, or the
// KMS key's public half.
func verifier(ctx context.Context, cfg *Config, key string) (note.Verifier, error) {
	if key == "" && cfg.Key.KMS != "" {
		sv, err := loadKMSSigner(ctx, cfg.Key.KMS)
		if err != nil {
			return nil, err
		}
		pub, err := sv.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("key.kms %q: %w", cfg.Key.KMS, err)
		}
		k, err := chain.NewKey(cfg.AgentID, pub)
		if err != nil {
			return nil, fmt.Errorf("key.kms %q: %w", cfg.Key.KMS, err)
		}
		return k.NoteVerifier()
	}
	if key == "" {
		key = cfg.Key.File + ".vkey"
	}
	data, err := os.ReadFile(key)
	switch {
	case errors.Is(err, os.ErrNotExist) && strings.Count(key, "+") >= 2:
		data = []byte(key) // the verifier line itself
		key = "--key"
	case err != nil:
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	v, err := chain.ParseVerifierKey(data, cfg.AgentID)
	if err != nil {
		return nil, &usageError{err: fmt.Errorf("verifier key %s: %w", key, err)}
	}
	return v, nil
}

func printReport(g *globalOptions, dir string, v note.Verifier, r *chain.LogReport) error {
	return printLogReport(g, dir, v, r, nil)
}

// readWitnessPolicy reads the policy file a --witness-policy flag of
// command names; one that cannot be read or parsed is a usage error.
func readWitnessPolicy(command, file string) (*chain.WitnessPolicy, error) {
	data, err := readLimited(file, 1<<20)
	if err != nil {
		return nil, usageErrorf("%s: --witness-policy: %v", command, err)
	}
	p, err := chain.ParseWitnessPolicy(data)
	if err != nil {
		return nil, usageErrorf("%s: --witness-policy %s: %v", command, file, err)
	}
	return p, nil
}

// witnessCheck is a witness policy log verify checks the kept
// checkpoints' cosignatures against, and what it found.
type witnessCheck struct {
	policy *chain.WitnessPolicy
	res    *chain.LogCosigned // nil if the check could not run
}

// printLogReport is printReport with what a witness policy found (wc;
// nil when none was given).
func printLogReport(g *globalOptions, dir string, v note.Verifier, r *chain.LogReport, wc *witnessCheck) error {
	if g.json() {
		out := reportJSON(dir, v, r)
		if wc != nil && wc.res != nil {
			out["witnesses"] = map[string]any{
				"policy": wc.policy.Describe(), "checkpoints": wc.res.Checkpoints,
				"quorum_met": nonNil(wc.res.Met), "quorum_not_met": nonNil(wc.res.Short),
				"newest": wc.res.Newest, "newest_quorum_met": wc.res.NewestMet,
			}
			out["ok"] = out["ok"].(bool) && wc.res.NewestMet
		}
		return writeJSON(g.stdout, out)
	}
	return writeLogReport(g, dir, v, r, wc)
}

func nonNil(s []uint64) []uint64 {
	if s == nil {
		return []uint64{}
	}
	return s
}

// witnessLines says what a witness policy found of the kept checkpoints.
func witnessLines(wc *witnessCheck) string {
	if wc == nil || wc.res == nil {
		return ""
	}
	r := wc.res
	newest := "meets it"
	if !r.NewestMet {
		newest = "does NOT meet it"
	}
	return fmt.Sprintf("witnesses:        %d of %d kept checkpoints meet the quorum of %s; the newest (size %d) %s\n",
		len(r.Met), r.Checkpoints, wc.policy.Describe(), r.Newest, newest)
}

// reportJSON is the JSON form of a verification report.
func reportJSON(dir string, v note.Verifier, r *chain.LogReport) map[string]any {
	type problem struct {
		File  string `json:"file,omitempty"`
		Index *int64 `json:"index,omitempty"`
		What  string `json:"what"`
	}
	probs := []problem{}
	for _, p := range r.Problems {
		pr := problem{File: p.File, What: p.What}
		if p.Index >= 0 {
			idx := p.Index
			pr.Index = &idx
		}
		probs = append(probs, pr)
	}
	return map[string]any{
		"log":                  dir,
		"ok":                   len(r.Problems) == 0 && r.Unsealed == 0,
		"key":                  fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash()),
		"origin":               r.Origin,
		"entries":              r.Entries,
		"checkpoint_size":      r.CheckpointSize,
		"unsealed":             r.Unsealed,
		"checkpoints_verified": r.CheckpointsVerified,
		"tiles_verified":       r.TilesVerified,
		"orders":               r.Orders,
		"rotations":            rotationsJSON(r),
		"problems":             probs,
	}
}

// rotationsJSON lists the key rotations a verification found.
func rotationsJSON(r *chain.LogReport) []map[string]any {
	out := []map[string]any{}
	for _, rot := range r.Rotations {
		out = append(out, map[string]any{
			"index": rot.Index, "old_key_id": rot.Old.KeyID, "old_verifier": rot.Old.Verifier,
			"new_key_id": rot.New.KeyID, "new_verifier": rot.New.Verifier,
			"checkpoint": rot.Checkpoint, "confirmed": rot.Confirmed,
		})
	}
	return out
}

// rotationLine says what a verification found of one key rotation.
func rotationLine(rot chain.Rotation) string {
	switch {
	case rot.Confirmed:
		return fmt.Sprintf("entry %d: key %s rotated to %s; checkpoint %d signed by both", rot.Index, rot.Old.KeyID, rot.New.KeyID, rot.Checkpoint)
	case rot.Checkpoint == 0:
		return fmt.Sprintf("entry %d: key %s rotated to %s; no checkpoint covers it yet", rot.Index, rot.Old.KeyID, rot.New.KeyID)
	}
	return fmt.Sprintf("entry %d: key %s rotated to %s; checkpoint %d NOT signed by both: not confirmed", rot.Index, rot.Old.KeyID, rot.New.KeyID, rot.Checkpoint)
}

// writeReport writes the text form of a verification report.
func writeReport(g *globalOptions, dir string, v note.Verifier, r *chain.LogReport) error {
	return writeLogReport(g, dir, v, r, nil)
}

// writeLogReport is writeReport with what a witness policy found.
func writeLogReport(g *globalOptions, dir string, v note.Verifier, r *chain.LogReport, wc *witnessCheck) error {
	ok := len(r.Problems) == 0 && r.Unsealed == 0
	key := fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
	var b bytes.Buffer
	fmt.Fprintf(&b, "log:              %s\n", dir)
	fmt.Fprintf(&b, "origin:           %s\n", r.Origin)
	fmt.Fprintf(&b, "key:              %s (checkpoints must carry its signature)\n", key)
	fmt.Fprintf(&b, "entries:          %d re-hashed, parsed and matched against the tiles\n", r.Entries)
	fmt.Fprintf(&b, "checkpoint:       size %d\n", r.CheckpointSize)
	fmt.Fprintf(&b, "checkpoints:      %d kept checkpoints verified (signature and root)\n", r.CheckpointsVerified)
	fmt.Fprintf(&b, "tiles:            %d recomputed\n", r.TilesVerified)
	fmt.Fprintf(&b, "orders:           %d event chains followed\n", r.Orders)
	fmt.Fprintf(&b, "unsealed entries: %d\n", r.Unsealed)
	for _, rot := range r.Rotations {
		fmt.Fprintf(&b, "key rotation:     %s\n", rotationLine(rot))
	}
	b.WriteString(witnessLines(wc))
	switch {
	case ok && wc != nil && wc.res != nil && !wc.res.NewestMet:
		b.WriteString("problems:         none, but the newest checkpoint does not meet the witness policy's quorum\nNOT WITNESSED\n")
	case ok:
		b.WriteString("problems:         none\nOK\n")
	case len(r.Problems) == 0:
		fmt.Fprintf(&b, "problems:         none, but %d entries after checkpoint %d carry no signature\nNOT SEALED\n", r.Unsealed, r.CheckpointSize)
	default:
		fmt.Fprintf(&b, "problems:         %d\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %v\n", p)
		}
		b.WriteString("FAILED\n")
	}
	_, err := g.stdout.Write(b.Bytes())
	return err
}

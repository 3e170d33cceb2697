package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

type verifyOptions struct {
	key, keyLine, identity string
	rotations              []string
	witnessPolicy          string
	json                   bool
	html                   string
	tsaRoots               string
}

func newVerifyCommand(g *globalOptions) *cli.Command {
	var opts verifyOptions
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a disclosure package offline, trusting only the provider's key",
		ArgsUsage: "PACKAGE",
		Description: "PACKAGE is a directory, .zip, .tar or any of those encrypted with age (.age, with\n" +
			"--identity). Every byte of every file is hashed with SHA-256 and SHA-512; the bag,\n" +
			"SHA256SUMS, the signed statement, every event's inclusion proof, the checkpoint's\n" +
			"signature, the order's chain of events and its lawful story are checked, each named\n" +
			"with its result. Nothing is fetched or executed; archives are extracted into a private\n" +
			"temporary directory with limits. Exits 0 only if everything holds, 3 if anything fails,\n" +
			"4 if the package verified but the copy holds extra files (.DS_Store, __MACOSX/).\n" +
			"With --witness-policy, the checkpoint's witness cosignatures are checked against your\n" +
			"policy (which witnesses cosigned, and whether its quorum is met); without it, verify\n" +
			"says that witnesses were not checked.\n" +
			"It needs no data directory, configuration or lock.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "the provider's key `FILE`: a PEM public key or a note verifier line", Destination: &opts.key},
			&cli.StringFlag{Name: "key-line", Usage: "the provider's note verifier `LINE` (name+hash+key)", Destination: &opts.keyLine},
			&cli.StringSliceFlag{Name: "rotation", Usage: "a key rotation certificate `FILE` from the provider, linking the key to the one before or after it (repeatable)"},
			&cli.StringFlag{Name: "witness-policy", Usage: "witness policy `FILE` (Sigsum/transparency-dev format) the checkpoint's cosignatures must meet", Destination: &opts.witnessPolicy},
			&cli.StringFlag{Name: "identity", Usage: "age identity `FILE` (age or SSH private key) for an .age package", Destination: &opts.identity},
			&cli.BoolFlag{Name: "json", Usage: "print the machine report (stable JSON)", Destination: &opts.json},
			&cli.StringFlag{Name: "html", Usage: "also write a self-contained HTML report to `FILE`", Destination: &opts.html},
			&cli.StringFlag{Name: "tsa-roots", Usage: "PEM `FILE` of the timestamp authorities' root certificates you trust (self-signed; others in it are intermediates): check the package's RFC 3161 tokens and say when it was received, sealed and disclosed at the latest", Destination: &opts.tsaRoots},
		},
		Action: func(c *cli.Context) error {
			opts.rotations = c.StringSlice("rotation")
			return runVerify(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runVerify(ctx context.Context, g *globalOptions, opts verifyOptions, args []string) (err error) {
	if len(args) != 1 {
		return argCountError("verify", "PACKAGE", args)
	}
	var trust *chain.Trust
	switch {
	case opts.key != "" && opts.keyLine != "":
		return usageErrorf("verify: give --key or --key-line, not both")
	case opts.key != "":
		data, err := readLimited(opts.key, 64<<10)
		if err != nil {
			return usageErrorf("verify: --key: %v", err)
		}
		if trust, err = chain.ParseTrust(data); err != nil {
			return usageErrorf("verify: --key %s: %v", opts.key, err)
		}
	case opts.keyLine != "":
		if trust, err = chain.ParseTrustLine(opts.keyLine); err != nil {
			return usageErrorf("verify: --key-line: %v", err)
		}
	default:
		return usageErrorf("verify: --key FILE or --key-line LINE is required: the provider's key, obtained apart from the package")
	}
	if opts.witnessPolicy != "" {
		if trust.Witnesses, err = readWitnessPolicy("verify", opts.witnessPolicy); err != nil {
			return err
		}
	}
	if trust, err = linkRotations(trust, opts.rotations); err != nil {
		return err
	}
	var vopts disclosure.VerifyOptions
	if opts.tsaRoots != "" {
		certs, err := readCertificates(opts.tsaRoots)
		if err != nil {
			return usageErrorf("verify: --tsa-roots: %v", err)
		}
		// The self-signed certificates are the roots trusted; the others
		// are intermediates, trusted only through them.
		if vopts.TSARoots, vopts.TSAIntermediates = chain.SplitChain(certs); len(vopts.TSARoots) == 0 {
			return usageErrorf("verify: --tsa-roots: %s holds no self-signed (root) certificate: give the root of the authority's chain", opts.tsaRoots)
		}
	}
	var open disclosure.OpenOptions
	if opts.identity != "" {
		data, err := readLimited(opts.identity, 1<<20)
		if err != nil {
			return usageErrorf("verify: --identity: %v", err)
		}
		ids, err := disclosure.ParseIdentities(data, func() ([]byte, error) { return readPassphrase(g.stderr, false) })
		if err != nil {
			return usageErrorf("verify: --identity %s: %v", opts.identity, err)
		}
		open.Identities = ids
	}
	if strings.HasSuffix(strings.ToLower(args[0]), ".age") && len(open.Identities) == 0 {
		return usageErrorf("verify: %s is encrypted with age: give --identity FILE", args[0])
	}
	pkg, err := disclosure.Open(ctx, args[0], open)
	if errors.Is(err, disclosure.ErrIdentity) {
		return &usageError{err: fmt.Errorf("verify: %w", err)}
	}
	if err != nil {
		if (opts.json || g.json()) && errors.Is(err, chain.ErrTamper) {
			// A script reading the report learns why there is none.
			_ = writeJSON(g.stdout, map[string]any{
				"report_version": disclosure.ReportVersion, "result": disclosure.ResultFailed, "package": args[0],
				"checks": []disclosure.Check{{Name: "open", Result: disclosure.ResultFailed, Summary: err.Error()}},
			})
		}
		return fmt.Errorf("verify: %w", err)
	}
	defer func() { err = errors.Join(err, pkg.Close()) }()
	rep, err := disclosure.VerifyWith(ctx, pkg.FS, trust, vopts)
	if err != nil && !errors.Is(err, chain.ErrTamper) {
		return fmt.Errorf("verify: %w", err) // the report is incomplete: say nothing of the package
	}
	rep.CheckRecipient(pkg.Outer)
	if opts.html != "" {
		var page bytes.Buffer
		if err := writeVerifyHTML(&page, args[0], pkg.Outer.SHA256, rep, time.Now()); err != nil {
			return err
		}
		if err := datadir.WriteFile(opts.html, page.Bytes(), 0o644); err != nil {
			return fmt.Errorf("verify: --html: %w", err)
		}
	}
	if opts.json || g.json() {
		err = writeJSON(g.stdout, struct {
			*disclosure.Report
			Package       string `json:"package"`
			PackageSHA256 string `json:"package_sha256,omitempty"`
			Encrypted     bool   `json:"encrypted"`
		}{rep, args[0], pkg.Outer.SHA256, pkg.Outer.Encrypted})
	} else {
		if pkg.Outer.SHA256 != "" {
			fmt.Fprintf(g.stdout, "package %s: %s, sha256 %s\n", args[0], pkg.Outer.Kind, pkg.Outer.SHA256)
		}
		err = rep.WriteText(g.stdout)
	}
	if err != nil {
		return err
	}
	if rep.Result != disclosure.ResultOK {
		failed := rep.Failed()
		if slices.Contains(failed, "keys") && !slices.ContainsFunc(failed, func(c string) bool { return !slices.Contains(keyChecks, c) }) {
			return fmt.Errorf("verify: %s: %s failed: %w", args[0], strings.Join(failed, ", "), errUntrustedKey)
		}
		return fmt.Errorf("verify: %s: %s failed: %w", args[0], strings.Join(failed, ", "), chain.ErrTamper)
	}
	if len(rep.ExtraFiles) > 0 {
		return fmt.Errorf("verify: %s: the package verified; %s: %w", args[0], strings.Join(rep.ExtraFiles, ", "), disclosure.ErrExtraFiles)
	}
	return nil
}

// keyChecks are the checks that fail, and only they, when a package is
// verified with a key other than the one it was signed with.
var keyChecks = []string{"keys", "checkpoint", "witnesses", "proofs", "attestation-signature"}

// errUntrustedKey is a verification that failed only because the package
// carries, and is signed by, another key than the one trusted: most often
// the investigator was given the wrong key, not a tampered package. It is
// a failed verification all the same (exit 3: nothing was verified).
var errUntrustedKey error = untrustedKey{}

type untrustedKey struct{}

func (untrustedKey) Error() string {
	return "not signed by the key you trust: the package carries and is signed by another key (custody/keys/custos.vkey); " +
		"check that the key you were given is the provider's for this log, obtained apart from the package"
}

func (untrustedKey) Is(target error) bool { return target == chain.ErrTamper }

// linkRotations extends trust with the keys the rotation certificates in
// files link to it, in whatever order they are given: each pass links
// what the keys trusted so far reach. A certificate that links no
// trusted key in the end is reported as tampering.
func linkRotations(trust *chain.Trust, files []string) (*chain.Trust, error) {
	certs := map[string][]byte{}
	for _, f := range files {
		data, err := readLimited(f, chain.MaxRotationSize)
		if err != nil {
			return nil, usageErrorf("verify: --rotation: %v", err)
		}
		certs[f] = data
	}
	for len(certs) > 0 {
		var lastErr error
		var lastFile string
		progress := false
		for _, f := range files {
			data, ok := certs[f]
			if !ok {
				continue
			}
			linked, err := chain.LinkRotation(trust, data)
			if err != nil {
				lastErr, lastFile = err, f
				continue
			}
			trust, progress = linked, true
			delete(certs, f)
		}
		if !progress {
			return nil, fmt.Errorf("verify: --rotation %s: %w", lastFile, lastErr)
		}
	}
	return trust, nil
}

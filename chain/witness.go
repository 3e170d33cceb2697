package chain

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/witness"
	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
)

// CosignaturesDir holds, by tree size, each published checkpoint that
// witnesses cosigned: the signed note of checkpoints/<size> with the
// witnesses' cosignature lines after the log's signature (C2SP
// tlog-cosignature). checkpoints/<size> keeps the note as the log signed
// it, before any witness saw it.
const CosignaturesDir = "cosignatures"

// ErrWitnessQuorum is a checkpoint whose witnesses did not meet the
// policy's quorum.
var ErrWitnessQuorum = errors.New("witness quorum not met")

// DefaultWitnessTimeout is how long a checkpoint waits for its
// witnesses by default (tessera's default).
const DefaultWitnessTimeout = tessera.DefaultWitnessTimeout

// WitnessPolicy is a parsed witness policy: the Sigsum policy format as
// transparency-dev/formats reads it (witness NAME VKEY URL, group NAME
// N|any|all CHILD..., quorum NAME|none), with C2SP cosignature/v1 keys
// (Ed25519, or ML-DSA-44).
type WitnessPolicy struct {
	text      []byte
	group     witness.Group
	witnesses []PolicyWitness
}

// PolicyWitness is one witness a policy names: its key's name and its
// tlog-witness add-checkpoint URL.
type PolicyWitness struct {
	Name     string
	URL      string
	verifier note.Verifier
}

// ParseWitnessPolicy parses a policy file's text. It refuses a policy
// that does not parse, a group whose threshold is larger than its
// members, a policy without a quorum, and a witness key of a type other
// than Ed25519 or ML-DSA-44.
func ParseWitnessPolicy(text []byte) (*WitnessPolicy, error) {
	g, err := witness.ParsePolicy(text)
	if err != nil {
		return nil, fmt.Errorf("witness policy: %w", err)
	}
	// tessera parses the same text again when it sends checkpoints.
	if _, err := tessera.NewWitnessGroupFromPolicy(text); err != nil {
		return nil, fmt.Errorf("witness policy: %w", err)
	}
	p := &WitnessPolicy{text: append([]byte(nil), text...), group: g}
	seen := map[string]bool{}
	var bad error
	var walk func(c any)
	walk = func(c any) {
		switch c := c.(type) {
		case witness.Witness:
			if u, err := url.Parse(c.URL); err != nil || u.User != nil {
				bad = fmt.Errorf("witness policy: witness %s: a URL with credentials, or none: witness URLs appear in logs and errors", c.Key.Name())
			}
			id := fmt.Sprintf("%s+%08x", c.Key.Name(), c.Key.KeyHash())
			if !seen[id] {
				seen[id] = true
				p.witnesses = append(p.witnesses, PolicyWitness{Name: c.Key.Name(), URL: c.URL, verifier: c.Key})
			}
		case witness.Group:
			for _, m := range c.Components {
				walk(m)
			}
		}
	}
	walk(g)
	if bad != nil {
		return nil, bad
	}
	if n := cosignedSize(text); n > MaxCheckpointSize {
		return nil, fmt.Errorf("witness policy: %d witnesses' cosignatures would make checkpoints of about %d bytes, more than the %d a verifier reads", len(p.witnesses), n, MaxCheckpointSize)
	}
	return p, nil
}

// cosignedSize bounds the size of a checkpoint every witness of the
// policy text cosigned: the checkpoint's body and the log's signatures in
// 1 KiB, and one signature line a witness, "— NAME BASE64\n", BASE64 the
// key hash, a timestamp and the signature of the witness key's type.
func cosignedSize(text []byte) int {
	n := 1 << 10
	for _, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "witness" {
			continue
		}
		name, rest, _ := strings.Cut(f[2], "+")
		_, key64, _ := strings.Cut(rest, "+")
		sig := ed25519.SignatureSize
		if key, err := base64.StdEncoding.DecodeString(key64); err == nil && len(key) > 0 && key[0] == algMLDSA44 {
			sig = mldsaSignatureSize
		}
		n += len("— ") + len(name) + 1 + base64.StdEncoding.EncodedLen(4+8+sig) + 1
	}
	return n
}

// The C2SP signed-note type of ML-DSA-44 cosignature keys, and the size of
// their signatures (FIPS 204).
const (
	algMLDSA44         = 0x06
	mldsaSignatureSize = 2420
)

// Witnesses lists the witnesses the policy names, in policy order.
func (p *WitnessPolicy) Witnesses() []PolicyWitness { return p.witnesses }

// Describe says in a few words what the policy asks: its quorum and its
// witnesses.
func (p *WitnessPolicy) Describe() string {
	names := make([]string, len(p.witnesses))
	for i, w := range p.witnesses {
		names[i] = w.Name + " (" + w.URL + ")"
	}
	return fmt.Sprintf("quorum %d of %d top-level member(s); witnesses %s", p.group.N, len(p.group.Components), strings.Join(names, ", "))
}

// Cosigned is what a policy finds in a cosigned checkpoint.
type Cosigned struct {
	// Witnesses are the policy's witnesses whose cosignature verified,
	// Missing those without one.
	Witnesses, Missing []string
	// Others counts signature lines by keys neither the log's nor the
	// policy's.
	Others int
	// QuorumMet says the policy's quorum is met.
	QuorumMet bool
}

// CheckCosignatures checks the cosignatures of the signed checkpoint raw
// against the policy. A cosignature that names a witness of the policy
// (key name and hash) but does not verify is tampering (a *TamperError);
// a quorum not met is reported in the result, not as an error.
func (p *WitnessPolicy) CheckCosignatures(raw []byte) (*Cosigned, error) {
	res := &Cosigned{QuorumMet: p.group.Satisfied(raw)}
	vs := make([]note.Verifier, len(p.witnesses))
	for i, w := range p.witnesses {
		vs[i] = w.verifier
	}
	n, err := note.Open(raw, note.VerifierList(vs...))
	var invalid *note.InvalidSignatureError
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &invalid):
		return nil, tamper("", NoIndex, "the cosignature by witness %s+%08x does not verify", invalid.Name, invalid.Hash)
	case errors.As(err, &unverified):
		n = unverified.Note
	case err != nil:
		return nil, tamper("", NoIndex, "checkpoint is not a valid signed note: %v", err)
	}
	for _, w := range p.witnesses {
		if sigFrom(n.Sigs, w.verifier) {
			res.Witnesses = append(res.Witnesses, w.Name)
		} else {
			res.Missing = append(res.Missing, w.Name)
		}
	}
	// Every unverified signature but the log's own.
	res.Others = max(len(n.UnverifiedSigs)-1, 0)
	return res, nil
}

func sigFrom(sigs []note.Signature, v note.Verifier) bool {
	for _, s := range sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}

// WitnessConfig configures the witnesses a log sends its checkpoints to.
type WitnessConfig struct {
	// Policy names the witnesses, their URLs and the quorum.
	Policy *WitnessPolicy
	// FailOpen publishes a checkpoint whose witnesses did not meet the
	// quorum all the same, logging it at WARN; otherwise (fail-closed)
	// the checkpoint is not published and Publish returns an error
	// wrapping ErrWitnessQuorum naming the witnesses and the quorum.
	FailOpen bool
	// Timeout bounds the wait for the witnesses of one checkpoint; zero
	// means DefaultWitnessTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// withWitnesses adds cfg's witnesses to the appender's options.
func withWitnesses(opts *tessera.AppendOptions, cfg *WitnessConfig) (*tessera.AppendOptions, error) {
	if cfg == nil || cfg.Policy == nil {
		return opts, nil
	}
	g, err := tessera.NewWitnessGroupFromPolicy(cfg.Policy.text)
	if err != nil {
		return nil, fmt.Errorf("witness policy: %w", err)
	}
	return opts.WithWitnesses(g, &tessera.WitnessOptions{Timeout: cfg.Timeout, FailOpen: cfg.FailOpen}), nil
}

// keepCosigned keeps the published checkpoint raw under
// cosignatures/<size> when it carries cosignatures, once, and logs at
// WARN a checkpoint that missed its quorum. It is called with every
// checkpoint Publish publishes, and, before each new checkpoint is
// signed, with the published one (tessera publishes a new log's first,
// empty, checkpoint itself), so that every published checkpoint's
// cosignatures are kept.
func (l *Log) keepCosigned(raw []byte) error {
	w := l.cfg.Witnesses
	if w == nil || w.Policy == nil || raw == nil {
		return nil
	}
	cp, err := ParseCheckpoint(raw, l.verifier)
	if err != nil {
		return withFile(err, CheckpointPath)
	}
	file := filepath.Join(l.cfg.Dir, CosignaturesDir, strconv.FormatUint(cp.Size, 10))
	if _, err := fs.Stat(l.fsys, CosignaturesDir+"/"+strconv.FormatUint(cp.Size, 10)); err == nil {
		return nil
	}
	res, err := w.Policy.CheckCosignatures(raw)
	if err != nil {
		return withFile(err, CheckpointPath)
	}
	if !res.QuorumMet {
		l.logger.Warn("checkpoint published without its witness quorum", "size", cp.Size,
			"cosigned", strings.Join(res.Witnesses, ","), "missing", strings.Join(res.Missing, ","), "policy", w.Policy.Describe())
	}
	if len(res.Witnesses) == 0 {
		return nil
	}
	if err := writeOnce(file, raw); err != nil {
		return fmt.Errorf("keep cosigned checkpoint %d: %w", cp.Size, err)
	}
	return nil
}

// quorumError explains a checkpoint not published for want of its
// witnesses.
func quorumError(size uint64, p *WitnessPolicy, err error) error {
	return fmt.Errorf("checkpoint of %d entries not published: %w (%s): %w", size, ErrWitnessQuorum, p.Describe(), err)
}

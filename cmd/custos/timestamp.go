package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/tsa"
	"github.com/custos-evidence/custos/chain"
)

// authorities checks log.timestamp and reads each authority's chain
// file: a name that cannot name a token file or is used twice, a URL that
// does not parse, or a chain file that holds no certificate is refused,
// naming the key (never echoing the URL, which may hold a credential).
func (t *TimestampConfig) authorities() ([]tsa.Authority, error) {
	if t.Every < time.Second {
		return nil, fmt.Errorf("config: log.timestamp.every: %v is shorter than 1s", t.Every)
	}
	var out []tsa.Authority
	seen := map[string]bool{}
	for i, a := range t.TSA {
		key := fmt.Sprintf("config: log.timestamp.tsa[%d]", i)
		if err := chain.CheckTSAName(a.Name); err != nil {
			return nil, fmt.Errorf("%s.name: %w", key, err)
		}
		key += " (" + a.Name + ")"
		if seen[a.Name] {
			return nil, fmt.Errorf("%s: the name is used twice", key)
		}
		seen[a.Name] = true
		if _, err := tsa.ParseURL(a.URL); err != nil {
			return nil, fmt.Errorf("%s.url: %w", key, err)
		}
		if a.Chain == "" {
			return nil, fmt.Errorf("%s.chain: missing: name the PEM file of the certificates its tokens chain to", key)
		}
		certs, err := readCertificates(a.Chain)
		if err != nil {
			return nil, fmt.Errorf("%s.chain: %w", key, err)
		}
		out = append(out, tsa.Authority{Name: a.Name, URL: a.URL, Chain: certs})
	}
	return out, nil
}

// checkProfiles refuses a profile that names a timestamp authority that
// log.timestamp.tsa does not configure: its orders would go without the
// tokens their instrument calls for.
func (t *TimestampConfig) checkProfiles(ps *order.Profiles) error {
	for _, name := range ps.Names() {
		p, err := ps.Lookup(name)
		if err != nil || p.TSA == "" {
			continue
		}
		if !slices.ContainsFunc(t.TSA, func(a TSAConfig) bool { return a.Name == p.TSA }) {
			return fmt.Errorf("config: profiles: %s: tsa %q is not among log.timestamp.tsa", name, p.TSA)
		}
	}
	return nil
}

// readCertificates reads every CERTIFICATE block of a PEM file; a file
// with none is an error.
func readCertificates(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return certs, nil
}

// newStamper returns the requester of tokens over the log's checkpoints,
// or nil when no authority is configured.
func newStamper(cfg *Config, logger *slog.Logger) (*tsa.Stamper, error) {
	auths, err := cfg.Log.Timestamp.authorities()
	if err != nil || len(auths) == 0 {
		return nil, err
	}
	return tsa.New(tsa.Config{Dir: cfg.dir().Log(), Authorities: auths, Every: cfg.Log.Timestamp.Every, Logger: logger})
}

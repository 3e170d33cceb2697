package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
	disclosurepkg "github.com/custos-evidence/custos/chain/disclosure"
)

// A package built through the API is kept in DisclosureDir as <id>.zip
// or <id>.tar (with .age when encrypted) beside its record <id>.json, an
// api.Disclosure. After Config.DisclosureRetention the package is removed
// and the record stays, with the time of removal.

var disclosureID = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

// packageName is the name of a package in DisclosureDir, its id first.
var packageName = regexp.MustCompile(`^([0-9A-HJKMNP-TV-Z]{26})\.(?:zip|tar)(?:\.age)?$`)

// createDisclosure builds the order's disclosure package (see
// agent.Registry.Disclose), which logs disclosure.created naming the
// identity, and keeps it for download.
func (s *Server) createDisclosure(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	if s.cfg.DisclosureDir == "" {
		return newError(http.StatusNotImplemented, "not_configured", "this agent keeps no disclosure directory")
	}
	var req api.DisclosureRequest
	if err := decode(r, &req, true); err != nil {
		return err
	}
	ext := ".zip"
	switch req.Format {
	case "", "zip":
	case "tar":
		ext = ".tar"
	default:
		return badRequest("format %q: zip or tar", req.Format)
	}
	recipients, err := disclosurepkg.ParseRecipients(req.Recipients)
	if err != nil {
		return badRequest("%v", err)
	}
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	did := ulid.MustNew(ulid.Timestamp(s.cfg.Now()), rand.Reader).String()
	if err := os.MkdirAll(s.cfg.DisclosureDir, 0o700); err != nil {
		return err
	}
	out := filepath.Join(s.cfg.DisclosureDir, did+ext)
	rep, err := s.cfg.Registry.Disclose(r.Context(), v.Order.ID, agent.DiscloseOptions{
		Out: out, Items: req.Items, Categories: req.Categories,
		Recipients: recipients, RecipientText: strings.Join(req.Recipients, ", "),
		Organization: s.cfg.Organization, Actor: id.String(), Identity: id.Name,
	})
	if err != nil {
		return err
	}
	fi, err := os.Stat(rep.Path)
	if err != nil {
		return err
	}
	d := &api.Disclosure{
		ID: did, Order: v.Order.ID, File: filepath.Base(rep.Path), SHA256: rep.SHA256, Size: fi.Size(),
		Items: rep.Items, Partial: rep.Partial, Events: rep.Events, Checkpoint: rep.Checkpoint.Size, Index: rep.Index,
		Encrypted: len(recipients) > 0, Created: s.cfg.Now().UTC(), Identity: id.String(),
		Download: "/v1/disclosures/" + did + "/package",
	}
	if err := s.saveDisclosure(d); err != nil {
		return err
	}
	s.metrics.disclosures.Inc()
	w.Header().Set("Location", "/v1/disclosures/"+did)
	return writeJSON(w, http.StatusCreated, d)
}

// saveDisclosure writes d's record.
func (s *Server) saveDisclosure(d *api.Disclosure) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return datadir.WriteFile(filepath.Join(s.cfg.DisclosureDir, d.ID+".json"), append(b, '\n'), 0o600)
}

// loadDisclosure reads the record of disclosure did, a valid id.
func (s *Server) loadDisclosure(did string) (*api.Disclosure, error) {
	b, err := os.ReadFile(filepath.Join(s.cfg.DisclosureDir, did+".json"))
	if errors.Is(err, fs.ErrNotExist) || s.cfg.DisclosureDir == "" {
		return nil, notFound("no disclosure %s", did)
	}
	if err != nil {
		return nil, err
	}
	var d api.Disclosure
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("disclosure %s: %w", did, err)
	}
	return &d, nil
}

// disclosure reads disclosure {id} as id may see it.
func (s *Server) disclosure(r *http.Request, id *auth.Identity) (*api.Disclosure, error) {
	did := r.PathValue("id")
	if !disclosureID.MatchString(did) {
		return nil, badRequest("disclosure id %q: not a ULID", did)
	}
	d, err := s.loadDisclosure(did)
	if err != nil {
		return nil, err
	}
	if !s.maySee(r.Context(), d.Order, id) {
		return nil, notFound("no disclosure %s", did)
	}
	return d, nil
}

// sweepDisclosures removes the packages built longer than
// DisclosureRetention ago, marking their records removed, and returns how
// many it removed. Disclosed evidence is kept in the store, under the
// order's retention; a package is a copy made for one recipient, which
// should not outlive its use in the data directory.
func (s *Server) sweepDisclosures() (int, error) {
	if s.cfg.DisclosureDir == "" || s.cfg.DisclosureRetention == 0 {
		return 0, nil
	}
	entries, err := os.ReadDir(s.cfg.DisclosureDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	now := s.cfg.Now().UTC()
	cutoff := now.Add(-s.cfg.DisclosureRetention)
	n := 0
	var errs []error
	records := map[string]bool{}
	for _, e := range entries {
		if did, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			records[did] = true
		}
	}
	for _, e := range entries {
		did, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			// A package whose record was never written (the agent
			// stopped, or the write failed, after the build) goes too,
			// once both the time in its id and its last write are past
			// the retention: never one being written or just renamed.
			m := packageName.FindStringSubmatch(e.Name())
			if m == nil || records[m[1]] || !e.Type().IsRegular() {
				continue
			}
			u, uerr := ulid.ParseStrict(m[1])
			fi, err := e.Info()
			if uerr == nil && err == nil && ulid.Time(u.Time()).Before(cutoff) && fi.ModTime().Before(cutoff) {
				if err := os.Remove(filepath.Join(s.cfg.DisclosureDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
					continue
				}
				n++
				s.log.Info("disclosure package without a record removed after its retention", "file", e.Name())
			}
			continue
		}
		if !disclosureID.MatchString(did) {
			continue
		}
		d, err := s.loadDisclosure(did)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !d.Removed.IsZero() || !d.Created.Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(s.cfg.DisclosureDir, d.File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("disclosure %s: %w", did, err))
			continue
		}
		d.Removed = now
		if err := s.saveDisclosure(d); err != nil {
			errs = append(errs, fmt.Errorf("disclosure %s: package removed, record not updated: %w", did, err))
			continue
		}
		n++
		s.log.Info("disclosure package removed after its retention", "disclosure", did, "order", d.Order,
			"created", d.Created, "retention", s.cfg.DisclosureRetention.String())
	}
	return n, errors.Join(errs...)
}

// errPackageRemoved answers a download of a package no longer kept.
func errPackageRemoved(d *api.Disclosure, why string) error {
	return newError(http.StatusGone, "removed", "disclosure %s: the package is no longer kept: %s; build the disclosure again", d.ID, why)
}

func (s *Server) getDisclosure(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	d, err := s.disclosure(r, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// downloadDisclosure sends the package after logging item.accessed for
// its items, naming who downloaded it. A package whose bytes no longer
// hash to what was logged is not sent.
func (s *Server) downloadDisclosure(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	d, err := s.disclosure(r, id)
	if err != nil {
		return err
	}
	if !d.Removed.IsZero() {
		return errPackageRemoved(d, "removed at "+d.Removed.Format(time.RFC3339)+", the end of its retention (server.disclosure_retention)")
	}
	path := filepath.Join(s.cfg.DisclosureDir, d.File)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errPackageRemoved(d, "its file is gone from the disclosure directory")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := fileSHA256(f)
	if err != nil {
		return err
	}
	if sum != d.SHA256 {
		return fmt.Errorf("disclosure %s: package %s hashes to %s, logged as %s: %w", d.ID, d.File, sum, d.SHA256, chain.ErrTamper)
	}
	items := make([]chain.Digest, len(d.Items))
	for i, it := range d.Items {
		items[i] = chain.Digest{SHA256: it.SHA256, SHA512: it.SHA512}
	}
	e := chain.Event{Type: chain.ItemAccessed, Time: s.cfg.Now().UTC(), Order: d.Order, Actor: id.String(),
		Agent: s.cfg.Registry.Agent, Host: s.cfg.Registry.Host, Items: items,
		Details: map[string]string{"disclosure": d.ID, "package_sha256": d.SHA256, "via": "api download"}}
	if _, err := s.cfg.Log.Append(r.Context(), e); err != nil {
		return fmt.Errorf("disclosure %s: log the download: %w", d.ID, err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", d.File))
	w.Header().Set("Digest", "sha-256="+d.SHA256)
	http.ServeContent(w, r, d.File, d.Created, f)
	return nil
}

// fileSHA256 hashes f from its start, as hex.
func fileSHA256(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/chain"
)

// DisclosureRequest is the body of POST /v1/orders/{id}/disclosures.
type DisclosureRequest struct {
	Items      []string `json:"items,omitempty"`
	Categories []string `json:"categories,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	Format     string   `json:"format,omitempty"` // zip (default) or tar
}

// Disclosure is a package built through the API, as the API answers with
// it and the daemon keeps its record. Download is the path of its package
// (GET, until the daemon's disclosure retention ends; then Removed is
// set). SHA256 is the package's digest, logged in disclosure.created.
type Disclosure struct {
	ID         string                `json:"id"`
	Order      string                `json:"order"`
	File       string                `json:"file"`
	SHA256     string                `json:"sha256"`
	Size       int64                 `json:"size"`
	Items      []agent.DisclosedItem `json:"items"`
	Partial    bool                  `json:"partial"`
	Events     int                   `json:"events"`
	Checkpoint uint64                `json:"checkpoint_size"`
	Index      uint64                `json:"index"`
	Encrypted  bool                  `json:"encrypted"`
	Created    time.Time             `json:"created"`
	Identity   string                `json:"identity"`
	Download   string                `json:"download"`
	Removed    time.Time             `json:"removed,omitzero"`
}

// Disclose builds the disclosure package of order id (POST
// /v1/orders/{id}/disclosures), which logs disclosure.created and makes
// the order disclosed. The daemon keeps the package for download
// (DownloadPackage) until its disclosure retention ends.
func (c *Client) Disclose(ctx context.Context, id string, req DisclosureRequest) (*Disclosure, error) {
	var d Disclosure
	if err := c.call(ctx, "POST", "/v1/orders/"+url.PathEscape(id)+"/disclosures", req, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Disclosure is the record of disclosure id (GET /v1/disclosures/{id}).
func (c *Client) Disclosure(ctx context.Context, id string) (*Disclosure, error) {
	var d Disclosure
	if err := c.call(ctx, "GET", "/v1/disclosures/"+url.PathEscape(id), nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// DownloadPackage downloads the package of disclosure d (its Download
// path; the daemon logs item.accessed first) into the new file out, and
// checks that it hashes to d.SHA256, the digest disclosure.created
// logged. A file that does not is removed, and the error matches
// chain.ErrTamper.
func (c *Client) DownloadPackage(ctx context.Context, d *Disclosure, out string) (err error) {
	res, err := c.send(ctx, "GET", d.Download, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), res.Body); err != nil {
		return fmt.Errorf("download %s: %w", d.Download, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.SHA256 {
		return fmt.Errorf("download %s: the package hashes to %s, the daemon logged %s: %w", d.Download, got, d.SHA256, chain.ErrTamper)
	}
	return f.Sync()
}

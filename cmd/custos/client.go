package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/chain"
)

// apiClient is the CLI's client of a running daemon (--server URL): the
// same commands, the same output, the work done by the daemon.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

// newAPIClient makes the client the global flags describe: --server,
// --token or --token-file (or CUSTOS_TOKEN), --ca, and --cert with --key
// for a client certificate.
func newAPIClient(g *globalOptions) (*apiClient, error) {
	u, err := url.Parse(g.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server %q: want http(s)://HOST:PORT", g.server)
	}
	token := strings.TrimSpace(g.token)
	if g.tokenFile != "" {
		b, err := os.ReadFile(g.tokenFile)
		if err != nil {
			return nil, usageErrorf("--token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.caFile != "" {
		pem, err := os.ReadFile(g.caFile)
		if err != nil {
			return nil, usageErrorf("--ca: %v", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca %s: no PEM certificate", g.caFile)
		}
	}
	if (g.certFile == "") != (g.keyFile == "") {
		return nil, usageErrorf("--cert and --key: give both or neither")
	}
	if g.certFile != "" {
		cert, err := tls.LoadX509KeyPair(g.certFile, g.keyFile)
		if err != nil {
			return nil, usageErrorf("--cert/--key: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if token == "" && g.certFile == "" {
		return nil, usageErrorf("--server: no credentials: give --token, --token-file or CUSTOS_TOKEN, or --cert and --key")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &apiClient{base: strings.TrimSuffix(u.String(), "/"), token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Minute}}, nil
}

// apiError is an error answer of the daemon.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Fields  []struct {
		Field   string `json:"field"`
		Problem string `json:"problem"`
	} `json:"fields"`
}

func (e *apiError) Error() string { return e.Message }

// Is makes an answer of tampering match chain.ErrTamper, so that the exit
// code is the one in-process mode gives.
func (e *apiError) Is(target error) bool { return target == chain.ErrTamper && e.Code == "tamper" }

// call sends a JSON request and decodes a JSON answer into out (unless nil).
// An error answer becomes the error the command reports: bad input is a
// usage error (exit 2) as it is in-process, tampering exits 3.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	res, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		_, err := io.Copy(io.Discard, res.Body)
		return err
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: the daemon's answer: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns a successful answer for the caller to
// read and close; an error answer is returned as an error.
func (c *apiClient) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req)
}

// do sends req with the client's credentials; an error answer is returned
// as the error the command reports: bad input is a usage error (exit 2) as
// it is in-process, tampering exits 3.
func (c *apiClient) do(req *http.Request) (*http.Response, error) {
	method, path := req.Method, req.URL.Path
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("daemon %s: %w", c.base, err)
	}
	if res.StatusCode < 300 {
		return res, nil
	}
	defer res.Body.Close()
	var e struct {
		Error apiError `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
		return nil, fmt.Errorf("daemon %s: %s %s: %s", c.base, method, path, res.Status)
	}
	e.Error.Status = res.StatusCode
	if res.StatusCode == http.StatusBadRequest || res.StatusCode == http.StatusUnprocessableEntity {
		return nil, &usageError{err: &e.Error}
	}
	return nil, &e.Error
}

// download writes the answer of GET path to the new file out, checking it
// hashes to sum; a file that does not is removed.
func (c *apiClient) download(ctx context.Context, path, out, sum string) (err error) {
	res, err := c.send(ctx, "GET", path, nil)
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
		return fmt.Errorf("download %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("download %s: the package hashes to %s, the daemon logged %s: %w", path, got, sum, chain.ErrTamper)
	}
	return f.Sync()
}

// postOrderWithDocument sends an order with its document (multipart),
// streaming the file. It returns the daemon's word on a document it could
// not preserve (the order is received all the same).
func (c *apiClient) postOrderWithDocument(ctx context.Context, draft any, document string, out any) (string, error) {
	order, err := json.Marshal(draft)
	if err != nil {
		return "", err
	}
	f, err := os.Open(document)
	if err != nil {
		return "", usageErrorf("--document: %v", err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(func() error {
			w, err := mw.CreateFormField("order")
			if err != nil {
				return err
			}
			if _, err := w.Write(order); err != nil {
				return err
			}
			if w, err = mw.CreateFormFile("document", filepath.Base(document)); err != nil {
				return err
			}
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
			return mw.Close()
		}())
	}()
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/v1/orders", pr)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return "", fmt.Errorf("the daemon's answer: %w", err)
	}
	return res.Header.Get("Custos-Document-Error"), nil
}

// runJob submits a job (POST path) and waits, as long as it takes, for it
// to end; the daemon answers each wait after at most five minutes.
func (c *apiClient) runJob(ctx context.Context, path string, body any) (*jobs.Job, error) {
	var j jobs.Job
	if err := c.call(ctx, "POST", path+"?wait=5m", body, &j); err != nil {
		return nil, err
	}
	for !j.State.Terminal() {
		if err := c.call(ctx, "GET", "/v1/jobs/"+j.ID+"?wait=5m", nil, &j); err != nil {
			return nil, fmt.Errorf("job %s: %w", j.ID, err)
		}
	}
	return &j, nil
}

package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one request of a Client, reading its answer
// included, unless Config.Timeout says otherwise. Waits for a job are
// answered within five minutes; a package download may take longer.
const DefaultTimeout = 30 * time.Minute

// maxText bounds a text answer (a checkpoint, a proof) and the part of
// an error answer that is read.
const maxText = 1 << 20

// Config configures a Client.
type Config struct {
	// URL is where the daemon serves its API: http://HOST:PORT, or
	// https:// when it has a certificate.
	URL string
	// Token is the bearer token sent with every request. Empty sends
	// none: a client certificate (in TLS) then proves who is asking.
	Token string
	// TLS configures HTTPS: RootCAs for a daemon whose certificate a
	// private CA signed, Certificates for a client certificate (mTLS).
	// Nil means TLS 1.2 or later with the system's roots.
	TLS *tls.Config
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Client is a client of the daemon's API. Its methods are the API's
// routes; an error answer is returned as an *Error. Make one with
// NewClient; it is safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient makes a client of the daemon at cfg.URL.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("daemon URL %q: want http(s)://HOST:PORT", cfg.URL)
	}
	tc := cfg.TLS
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &Client{
		base:  strings.TrimSuffix(u.String(), "/"),
		token: strings.TrimSpace(cfg.Token),
		hc:    &http.Client{Transport: tr, Timeout: timeout},
	}, nil
}

// URL is the daemon's base URL.
func (c *Client) URL() string { return c.base }

// call sends a JSON request (body nil: none) and decodes the JSON answer
// into out, unless out is nil.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
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

// text is the text answer of GET path, at most maxText bytes.
func (c *Client) text(ctx context.Context, path string) ([]byte, error) {
	res, err := c.send(ctx, "GET", path, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return io.ReadAll(io.LimitReader(res.Body, maxText))
}

// send sends a JSON request and returns a successful answer for the
// caller to read and close.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
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

// do sends req with the client's credentials. An answer of 300 or more is
// returned as an *Error when it carries the API's error body, and as an
// error naming the status otherwise.
func (c *Client) do(req *http.Request) (*http.Response, error) {
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
	var answer ErrorAnswer
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxText))
	if json.Unmarshal(b, &answer) != nil || answer.Error == nil || answer.Error.Message == "" {
		return nil, fmt.Errorf("daemon %s: %s %s: %s", c.base, method, path, res.Status)
	}
	answer.Error.Status = res.StatusCode
	return nil, answer.Error
}

package source

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// httpParams are the parameters of an "http" source: one GET of an export
// endpoint.
//
//   - url (required): the http:// or https:// URL.
//   - allow_hosts: the hosts the GET and its redirects may reach, each
//     "name" (any port) or "name:port"; by default only the URL's own host
//     (with its port, if the URL names one). A redirect elsewhere, or from
//     https to http, is refused and nothing is preserved.
//   - headers: request headers. A value "env:NAME" is read from the agent's
//     environment when the capture runs (an unset variable is an error);
//     it is never recorded: the record says "env:NAME". Literal values of
//     Authorization, Proxy-Authorization, Cookie and of headers whose name
//     contains auth, token, key, secret or password are recorded as
//     "(redacted)"; keep secrets in env: references.
//   - ca_file: a PEM file of the CAs to trust for https, instead of the
//     system's.
//   - timeout: a Go duration ("90s", "10m") bounding the whole exchange,
//     body included; default 10m. Running out fails the capture, named.
//   - max_bytes: the largest body preserved; default 1 GiB. A larger one
//     (by its Content-Length, or counted while it streams) fails the
//     capture, named, and nothing is preserved.
//   - query: URL query parameters added to those of url; each value is a
//     template filled from the order (see template): {{order}},
//     {{from}}, {{to}}, {{cutoff}}, {{selector.TYPE}}.
//
// A status outside 2xx fails the capture, naming it. The item is the body
// as sent (no transparent decompression), named by the URL's path; its
// media type is that of Content-Type. No proxy from the environment is
// used. The record holds the request (method, final URL, redirects,
// recorded headers), the response (status, protocol, headers with
// Set-Cookie values redacted, the remote address) and, for https, the TLS
// version, cipher suite and the peer's certificate chain (subject, issuer,
// serial, validity, SHA-256 fingerprint and DER in base64).
type httpParams struct {
	URL        string            `json:"url"`
	AllowHosts []string          `json:"allow_hosts"`
	Headers    map[string]string `json:"headers"`
	CAFile     string            `json:"ca_file"`
	Query      map[string]string `json:"query"`
	limitParams
}

const (
	defaultTimeout  = 10 * time.Minute
	defaultMaxBytes = 1 << 30
	maxRedirects    = 10
)

type httpSource struct {
	url      *url.URL
	allow    []string
	headers  map[string]string
	query    map[string]*template
	roots    *x509.CertPool // nil: the system's
	timeout  time.Duration
	maxBytes int64
	getenv   func(string) (string, bool)
}

func newHTTP(params map[string]any) (Source, error) {
	var p httpParams
	if err := decodeParams(params, &p); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("http: url %q is not an http:// or https:// URL with a host (and no user info)", p.URL)
	}
	s := &httpSource{url: u, allow: p.AllowHosts, headers: p.Headers, query: map[string]*template{}, getenv: os.LookupEnv}
	if len(s.allow) == 0 {
		s.allow = []string{u.Host}
	}
	if !hostAllowed(u, s.allow) {
		return nil, fmt.Errorf("http: url host %q is not in allow_hosts (%s)", u.Host, strings.Join(s.allow, ", "))
	}
	for name, v := range p.Headers {
		if _, err := envRef(v); err != nil {
			return nil, fmt.Errorf("http: header %s: %w", name, err)
		}
	}
	for k, v := range p.Query {
		if s.query[k], err = parseTemplate(v); err != nil {
			return nil, fmt.Errorf("http: query %s: %w", k, err)
		}
	}
	if s.timeout, s.maxBytes, err = p.limits(); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	if p.CAFile != "" {
		pem, err := os.ReadFile(p.CAFile)
		if err != nil {
			return nil, fmt.Errorf("http: ca_file: %w", err)
		}
		s.roots = x509.NewCertPool()
		if !s.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http: ca_file %s: no PEM certificate in it", p.CAFile)
		}
	}
	return s, nil
}

func (s *httpSource) Kind() string { return "http" }

// Capture GETs the URL and streams the body to emit.
func (s *httpSource) Capture(ctx context.Context, req Request, emit Emit) (Summary, error) {
	sum := Summary{"emitted": 0}
	u, err := s.requestURL(req)
	if err != nil {
		return sum, fmt.Errorf("http %s: %w", s.url.Redacted(), err)
	}
	// The timeout is a deadline on the exchange's context rather than
	// http.Client.Timeout, so that the body can check it at its end.
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	x := &exchange{outer: ctx, ctx: rctx, timeout: s.timeout}
	hreq, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return sum, fmt.Errorf("http %s: %w", u.Redacted(), err)
	}
	recHeaders, err := s.setHeaders(hreq.Header)
	if err != nil {
		return sum, fmt.Errorf("http %s: %w", u.Redacted(), err)
	}
	var remote string
	hreq = hreq.WithContext(httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) { remote = ci.Conn.RemoteAddr().String() },
	}))
	var redirects []string
	client := s.client(&redirects)
	defer client.CloseIdleConnections()
	resp, err := client.Do(hreq)
	if err != nil {
		return sum, x.fail("GET "+u.Redacted(), err)
	}
	defer resp.Body.Close()
	final := resp.Request.URL.Redacted()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return sum, fmt.Errorf("GET %s: status %s", final, resp.Status)
	}
	if resp.ContentLength > s.maxBytes {
		return sum, fmt.Errorf("GET %s: body of %d bytes exceeds max_bytes %d", final, resp.ContentLength, s.maxBytes)
	}
	rec := map[string]any{
		"method": http.MethodGet, "url": final, "requested_url": u.Redacted(), "request_headers": recHeaders,
		"remote_addr": remote, "timeout": s.timeout.String(), "max_bytes": s.maxBytes,
	}
	if len(redirects) > 0 {
		rec["redirects"] = redirects
	}
	it := responseItem(itemName(u), resp, rec)
	body := &httpBody{r: resp.Body, max: s.maxBytes, what: "GET " + final + ": body", x: x}
	if err := emit(it, body); err != nil {
		return sum, err
	}
	sum["emitted"], sum["bytes"] = 1, body.n
	return sum, nil
}

// requestURL is the URL with the query templates filled in for req.
func (s *httpSource) requestURL(req Request) (*url.URL, error) {
	u := *s.url
	q := u.Query()
	for _, k := range sortedKeys(s.query) {
		vals, err := s.query[k].expand(req)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", k, err)
		}
		for _, v := range vals {
			q.Add(k, v)
		}
	}
	if len(s.query) > 0 {
		u.RawQuery = q.Encode()
	}
	return &u, nil
}

// setHeaders sets the configured headers, resolving env: references, and
// returns them as they may be recorded.
func (s *httpSource) setHeaders(h http.Header) (map[string]string, error) {
	rec := map[string]string{}
	for _, name := range sortedKeys(s.headers) {
		raw := s.headers[name]
		v, err := resolveValue(raw, s.getenv)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", name, err)
		}
		h.Set(name, v)
		switch ref, _ := envRef(raw); {
		case ref != "":
			rec[name] = raw // the env: reference, never the value
		case sensitiveHeader(name):
			rec[name] = "(redacted)"
		default:
			rec[name] = v
		}
	}
	return rec, nil
}

func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "cookie", "token", "key", "secret", "password"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// client is an HTTP client for one capture: no proxy, no transparent
// decompression, the configured CAs, and a redirect policy
// that re-checks allow_hosts and records each hop in redirects.
func (s *httpSource) client(redirects *[]string) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			*redirects = append(*redirects, r.URL.Redacted())
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if !hostAllowed(r.URL, s.allow) {
				return fmt.Errorf("redirect to %s refused: host %q is not in allow_hosts (%s)", r.URL.Redacted(), r.URL.Host, strings.Join(s.allow, ", "))
			}
			if via[0].URL.Scheme == "https" && r.URL.Scheme != "https" {
				return fmt.Errorf("redirect from https to %s refused", r.URL.Redacted())
			}
			return nil
		},
	}
}

// exchange is one GET: the caller's context, and ctx, the same bounded by
// the source's timeout.
type exchange struct {
	outer, ctx context.Context
	timeout    time.Duration
}

// fail names what failed, saying so plainly when it was the timeout.
func (x *exchange) fail(what string, err error) error {
	if x.outer.Err() == nil && errors.Is(x.ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: timed out after %s: %w", what, x.timeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// hostAllowed reports whether u's host is one of allow: "name" allows any
// port, "name:port" that port only (the scheme's default port when u has
// none). Names compare without regard to case.
func hostAllowed(u *url.URL, allow []string) bool {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, a := range allow {
		h, p, err := net.SplitHostPort(a)
		if err != nil {
			h, p = strings.Trim(a, "[]"), ""
		}
		if strings.EqualFold(h, host) && (p == "" || p == port) {
			return true
		}
	}
	return false
}

// responseItem is the item of a response: named name, its media type
// that of Content-Type, its time that of Last-Modified; rec, completed
// with the status, the headers and the TLS connection, is its record.
func responseItem(name string, resp *http.Response, rec map[string]any) *Item {
	rec["status"], rec["status_text"], rec["proto"] = resp.StatusCode, resp.Status, resp.Proto
	rec["headers"] = responseHeaders(resp.Header)
	if resp.TLS != nil {
		rec["tls"] = tlsRecord(resp.TLS)
	}
	it := &Item{Name: name, Record: rec}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil {
		it.MediaType = mt
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		it.Modified = t
	}
	return it
}

// itemName is the URL's path without its leading slash, or the host name
// when the path is empty.
func itemName(u *url.URL) string {
	if n := strings.Trim(u.Path, "/"); n != "" {
		return n
	}
	return u.Hostname()
}

// responseHeaders are the response's headers as recorded: all of them,
// with the value of every cookie set replaced by "(redacted)".
func responseHeaders(h http.Header) map[string][]string {
	rec := map[string][]string{}
	for k, vs := range h {
		vs = append([]string(nil), vs...)
		if k == "Set-Cookie" {
			for i, v := range vs {
				name, rest, _ := strings.Cut(v, "=")
				_, attrs, hasAttrs := strings.Cut(rest, ";")
				vs[i] = name + "=(redacted)"
				if hasAttrs {
					vs[i] += ";" + attrs
				}
			}
		}
		rec[k] = vs
	}
	return rec
}

// tlsRecord describes a TLS connection: version, cipher suite, server name,
// ALPN protocol and the peer's certificate chain as sent.
func tlsRecord(cs *tls.ConnectionState) map[string]any {
	chain := make([]map[string]any, 0, len(cs.PeerCertificates))
	for _, c := range cs.PeerCertificates {
		sum := sha256.Sum256(c.Raw)
		chain = append(chain, map[string]any{
			"subject": c.Subject.String(), "issuer": c.Issuer.String(), "serial": c.SerialNumber.String(),
			"not_before": stamp(c.NotBefore), "not_after": stamp(c.NotAfter),
			"sha256": hex.EncodeToString(sum[:]), "der": base64.StdEncoding.EncodeToString(c.Raw),
		})
	}
	return map[string]any{
		"version": tls.VersionName(cs.Version), "cipher_suite": tls.CipherSuiteName(cs.CipherSuite),
		"server_name": cs.ServerName, "negotiated_protocol": cs.NegotiatedProtocol,
		"peer_certificates": chain,
	}
}

// httpBody streams a response body. It fails, naming what, once more
// than max bytes have come, and at its end when the exchange was cut
// short: when the client gives up, a server may still end a chunked body
// cleanly, and the transport can pass that on as io.EOF.
type httpBody struct {
	r      io.Reader
	max, n int64
	what   string
	x      *exchange
}

func (b *httpBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.max:
		return n, fmt.Errorf("%s exceeds max_bytes %d", b.what, b.max)
	case err == io.EOF && b.x.ctx.Err() != nil:
		return n, b.x.fail(b.what, b.x.ctx.Err())
	case err != nil && err != io.EOF:
		return n, b.x.fail(b.what, err)
	}
	return n, err
}

// limitParams are the timeout and max_bytes parameters of the http and
// command connectors (documented with each).
type limitParams struct {
	Timeout  string `json:"timeout"`
	MaxBytes int64  `json:"max_bytes"`
}

// limits are the timeout and the size limit, defaults filled in.
func (l limitParams) limits() (time.Duration, int64, error) {
	d, maxBytes := defaultTimeout, int64(defaultMaxBytes)
	if l.Timeout != "" {
		var err error
		if d, err = time.ParseDuration(l.Timeout); err != nil || d <= 0 {
			return 0, 0, fmt.Errorf("timeout %q is not a positive duration (like 30s or 10m)", l.Timeout)
		}
	}
	if l.MaxBytes < 0 {
		return 0, 0, fmt.Errorf("max_bytes %d is negative", l.MaxBytes)
	}
	if l.MaxBytes > 0 {
		maxBytes = l.MaxBytes
	}
	return d, maxBytes, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// A template is a parameter value of the http (query) and command
// (args_from_selectors) connectors that takes values from the capture's
// request. It is literal text with placeholders:
//
//	{{order}}           the order's id
//	{{from}}, {{to}}    the order's time window, RFC 3339 in UTC
//	{{cutoff}}          the capture's cut-off, RFC 3339 in UTC
//	{{selector.TYPE}}   the value of the order's selector of type TYPE
//	                    (email, account, phone, ip, username, url, device...)
//
// There is nothing else: no escaping, no functions, no conditions. A value
// that is exactly one {{selector.TYPE}} stands for every selector of that
// type, in the order's order: a query parameter repeats, an argument
// repeats. Inside a longer value the order must have exactly one selector
// of that type. A placeholder without a value (no selector of that type,
// an open end of the window) is an error, never an empty string: an empty
// parameter could ask for everyone's data.
type template struct {
	raw   string
	parts []string // literal, placeholder, literal, ..., literal
}

func parseTemplate(s string) (*template, error) {
	t := &template{raw: s}
	rest := s
	for {
		lit, after, ok := strings.Cut(rest, "{{")
		t.parts = append(t.parts, lit)
		if !ok {
			return t, nil
		}
		name, after, ok := strings.Cut(after, "}}")
		if !ok {
			return nil, fmt.Errorf("template %q: {{ without }}", s)
		}
		name = strings.TrimSpace(name)
		if !validPlaceholder(name) {
			return nil, fmt.Errorf("template %q: unknown placeholder {{%s}} (want order, from, to, cutoff or selector.TYPE)", s, name)
		}
		t.parts = append(t.parts, name)
		rest = after
	}
}

func validPlaceholder(name string) bool {
	switch name {
	case "order", "from", "to", "cutoff":
		return true
	}
	typ, ok := strings.CutPrefix(name, "selector.")
	if !ok || typ == "" {
		return false
	}
	for _, r := range typ {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// expand fills the template for req: one value, or one per selector when
// the template is exactly one {{selector.TYPE}}.
func (t *template) expand(req Request) ([]string, error) {
	if len(t.parts) == 3 && t.parts[0] == "" && t.parts[2] == "" {
		vals, err := placeholderValues(t.parts[1], req)
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", t.raw, err)
		}
		return vals, nil
	}
	var b strings.Builder
	for i, p := range t.parts {
		if i%2 == 0 {
			b.WriteString(p)
			continue
		}
		vals, err := placeholderValues(p, req)
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", t.raw, err)
		}
		if len(vals) != 1 {
			return nil, fmt.Errorf("template %q: the order has %d selectors of type %s; inside a longer value {{%s}} needs exactly one",
				t.raw, len(vals), strings.TrimPrefix(p, "selector."), p)
		}
		b.WriteString(vals[0])
	}
	return []string{b.String()}, nil
}

func placeholderValues(name string, req Request) ([]string, error) {
	at := func(t time.Time, what string) ([]string, error) {
		if t.IsZero() {
			return nil, fmt.Errorf("{{%s}}: the request has no %s", name, what)
		}
		return []string{stamp(t)}, nil
	}
	switch name {
	case "order":
		if req.Order == "" {
			return nil, errors.New("{{order}}: the request names no order")
		}
		return []string{req.Order}, nil
	case "from":
		return at(req.From, "window start")
	case "to":
		return at(req.To, "window end")
	case "cutoff":
		return at(req.CutOff, "cut-off time")
	}
	typ := strings.TrimPrefix(name, "selector.")
	var vals []string
	for _, sel := range req.Selectors {
		if sel.Type == typ {
			vals = append(vals, sel.Value)
		}
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("{{%s}}: the order has no selector of type %s", name, typ)
	}
	return vals, nil
}

// envRef returns NAME for a value "env:NAME" (a reference to the agent's
// environment, used for secrets), "" for a literal value, and an error for
// a reference that names no valid variable.
func envRef(v string) (string, error) {
	name, ok := strings.CutPrefix(v, "env:")
	if !ok {
		return "", nil
	}
	if !validEnvName(name) {
		return "", fmt.Errorf("%q is not a reference to an environment variable (env:NAME)", v)
	}
	return name, nil
}

func validEnvName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// resolveValue is v, or the value of the variable an "env:NAME" v names;
// an unset variable is an error naming it (never its value).
func resolveValue(v string, getenv func(string) (string, bool)) (string, error) {
	name, err := envRef(v)
	if err != nil || name == "" {
		return v, err
	}
	val, ok := getenv(name)
	if !ok {
		return "", fmt.Errorf("environment variable %s (from %s) is not set", name, v)
	}
	return val, nil
}

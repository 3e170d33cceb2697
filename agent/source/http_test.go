package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exportServer is an HTTPS export endpoint with a test certificate, and
// the PEM file of that certificate for ca_file.
func exportServer(t *testing.T, mux *http.ServeMux) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake of a test is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

func TestHTTPCapture(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/export/users", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("X-Purpose") != "preservation" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Last-Modified", "Mon, 02 Mar 2026 10:00:00 GMT")
		w.Header().Add("Set-Cookie", "sid=abc123; Path=/; HttpOnly")
		fmt.Fprintf(w, `{"query":%q}`, r.URL.RawQuery)
	})
	srv, ca := exportServer(t, mux)
	t.Setenv("CUSTOS_TEST_EXPORT_TOKEN", "Bearer s3cret")
	src := mustNew(t, "http", map[string]any{
		"url": srv.URL + "/export/users?format=json", "ca_file": ca,
		"headers": map[string]string{"Authorization": "env:CUSTOS_TEST_EXPORT_TOKEN", "X-Purpose": "preservation"},
		"query": map[string]string{
			"email": "{{selector.email}}", "account": "acct-{{selector.account}}",
			"since": "{{from}}", "until": "{{to}}", "order": "{{order}}",
		},
	})
	r := req()
	r.Selectors = []Selector{{"email", "a@example.net"}, {"account", "42"}, {"email", "b@example.net"}}
	r.From, r.To = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	items, sum, err := capture(t, src, r)
	if err != nil || len(items) != 1 {
		t.Fatalf("%v %+v", err, items)
	}
	it := items[0]
	wantQuery := "account=acct-42&email=a%40example.net&email=b%40example.net&format=json&order=01JTESTORDER" +
		"&since=2026-01-01T00%3A00%3A00Z&until=2026-02-01T11%3A30%3A00Z"
	if it.content != `{"query":"`+wantQuery+`"}` {
		t.Errorf("content %s, want query %s", it.content, wantQuery)
	}
	if it.item.Name != "export/users" || it.item.MediaType != "application/json" ||
		!it.item.Modified.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) || sum["emitted"] != 1 {
		t.Errorf("item %q %q %v, summary %v", it.item.Name, it.item.MediaType, it.item.Modified, sum)
	}
	rec := it.item.Record
	if rec["url"] != srv.URL+"/export/users?"+wantQuery || rec["status"] != 200 || rec["method"] != "GET" ||
		rec["remote_addr"] != srv.Listener.Addr().String() {
		t.Errorf("record %v", rec)
	}
	hdrs := rec["headers"].(map[string][]string)
	if got := hdrs["Set-Cookie"]; len(got) != 1 || got[0] != "sid=(redacted); Path=/; HttpOnly" {
		t.Errorf("Set-Cookie recorded as %q", got)
	}
	if got := hdrs["Content-Type"]; len(got) != 1 || got[0] != "application/json; charset=utf-8" {
		t.Errorf("Content-Type recorded as %q", got)
	}
	reqHdrs := rec["request_headers"].(map[string]string)
	if reqHdrs["Authorization"] != "env:CUSTOS_TEST_EXPORT_TOKEN" || reqHdrs["X-Purpose"] != "preservation" {
		t.Errorf("request headers recorded as %v", reqHdrs)
	}
	js := recordJSON(t, rec)
	for _, secret := range []string{"s3cret", "abc123"} {
		if strings.Contains(js, secret) {
			t.Errorf("the record holds %q: %s", secret, js)
		}
	}
	tlsRec := rec["tls"].(map[string]any)
	chain := tlsRec["peer_certificates"].([]map[string]any)
	sum256 := sha256.Sum256(srv.Certificate().Raw)
	if len(chain) != 1 || chain[0]["sha256"] != hex.EncodeToString(sum256[:]) ||
		chain[0]["der"] != base64.StdEncoding.EncodeToString(srv.Certificate().Raw) ||
		chain[0]["subject"] != srv.Certificate().Subject.String() || tlsRec["version"] != "TLS 1.3" || tlsRec["cipher_suite"] == "" {
		t.Errorf("tls record %v", tlsRec)
	}
}

func TestHTTPRedirects(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "plain") }))
	t.Cleanup(plain.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("/data", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "data") })
	mux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/data", http.StatusFound) })
	srv, ca := exportServer(t, mux)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://localhost:"+port+"/data", http.StatusFound)
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, plain.URL+"/", http.StatusFound) })

	items, _, err := capture(t, mustNew(t, "http", map[string]any{"url": srv.URL + "/hop", "ca_file": ca}), req())
	if err != nil || len(items) != 1 || items[0].content != "data" || items[0].item.Record["url"] != srv.URL+"/data" {
		t.Fatalf("an allowed redirect: %v %+v", err, items)
	}
	if r := items[0].item.Record["redirects"].([]string); len(r) != 1 || r[0] != srv.URL+"/data" {
		t.Errorf("redirects recorded as %q", r)
	}
	for path, want := range map[string]string{
		"/away": `redirect to https://localhost:` + port + `/data refused: host "localhost:` + port + `" is not in allow_hosts (` + srv.Listener.Addr().String() + ")",
		"/down": "redirect from https to " + plain.URL + "/ refused",
	} {
		src := mustNew(t, "http", map[string]any{"url": srv.URL + path, "ca_file": ca, "allow_hosts": []string{"127.0.0.1"}})
		if path == "/away" {
			src = mustNew(t, "http", map[string]any{"url": srv.URL + path, "ca_file": ca})
		}
		items, _, err := capture(t, src, req())
		if err == nil || !strings.Contains(err.Error(), want) || len(items) != 0 {
			t.Errorf("%s: %v %+v, want an error with %q", path, err, items, want)
		}
	}
}

func TestHTTPRefusesBadParameters(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"url": "https://export.internal/x", "allow_hosts": []string{"other.internal"}},
			`url host "export.internal" is not in allow_hosts (other.internal)`},
		{map[string]any{"url": "https://export.internal:8443/x", "allow_hosts": []string{"export.internal:443"}},
			`url host "export.internal:8443" is not in allow_hosts`},
		{map[string]any{"url": "ftp://export.internal/x"}, `url "ftp://export.internal/x" is not an http:// or https:// URL`},
		{map[string]any{"url": "https://user:pw@export.internal/x"}, "no user info"},
		{map[string]any{"url": "https://x.internal/", "query": map[string]string{"q": "{{selector.email}"}}, "query q: template"},
		{map[string]any{"url": "https://x.internal/", "query": map[string]string{"q": "{{whoami}}"}}, "unknown placeholder {{whoami}}"},
		{map[string]any{"url": "https://x.internal/", "headers": map[string]string{"Authorization": "env:1X"}}, `header Authorization: "env:1X"`},
		{map[string]any{"url": "https://x.internal/", "timeout": "soon"}, `timeout "soon" is not a positive duration`},
		{map[string]any{"url": "https://x.internal/", "max_bytes": -1}, "max_bytes -1 is negative"},
		{map[string]any{"url": "https://x.internal/", "ca_file": "/nonexistent/ca.pem"}, "ca_file"},
		{map[string]any{"url": "https://x.internal/", "method": "POST"}, `unknown field "method"`},
	} {
		if _, err := New(Config{Name: "export", Type: "http", Params: tc.params}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.params, err, tc.want)
		}
	}
	if _, err := New(Config{Type: "http", Params: map[string]any{"url": "https://x.internal:8443/", "allow_hosts": []string{"X.internal"}}}); err != nil {
		t.Errorf("a host name allows every port, whatever its case: %v", err)
	}
}

func TestHTTPFailures(t *testing.T) {
	big := strings.Repeat("x", 1000)
	mux := http.NewServeMux()
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, big) })
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for range 10 { // no Content-Length: the size is known only while it streams
			fmt.Fprint(w, big[:100])
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/slow-headers", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "start")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv, ca := exportServer(t, mux)
	for _, tc := range []struct {
		path    string
		params  map[string]any
		emitted bool // the item reached emit and failed there
		want    string
	}{
		{"/missing", nil, false, "GET " + srv.URL + "/missing: status 404 Not Found"},
		{"/big", map[string]any{"max_bytes": 999}, false, "GET " + srv.URL + "/big: body of 1000 bytes exceeds max_bytes 999"},
		{"/stream", map[string]any{"max_bytes": 999}, true, "GET " + srv.URL + "/stream: body exceeds max_bytes 999"},
		{"/slow-headers", map[string]any{"timeout": "300ms"}, false, "GET " + srv.URL + "/slow-headers: timed out after 300ms"},
		{"/slow-body", map[string]any{"timeout": "300ms"}, true, "GET " + srv.URL + "/slow-body: body: timed out after 300ms"},
		{"/big", map[string]any{"ca_file": ""}, false, "certificate signed by unknown authority"},
	} {
		params := map[string]any{"url": srv.URL + tc.path, "ca_file": ca}
		for k, v := range tc.params {
			params[k] = v
		}
		items, _, err := capture(t, mustNew(t, "http", params), req())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.path, err, tc.want)
		}
		if tc.emitted != (len(items) == 1) || (tc.emitted && items[0].err != err) {
			t.Errorf("%s: emitted %+v", tc.path, items)
		}
	}
	items, _, err := capture(t, mustNew(t, "http", map[string]any{"url": srv.URL + "/big", "ca_file": ca, "max_bytes": 1000}), req())
	if err != nil || len(items) != 1 || items[0].content != big {
		t.Errorf("a body of exactly max_bytes: %v", err)
	}
}

// TestHTTPStreams checks that the body reaches emit while the server is
// still sending it: the server sends the rest only once emit has read the
// first part.
func TestHTTPStreams(t *testing.T) {
	release := make(chan struct{})
	var inTime bool
	mux := http.NewServeMux()
	mux.HandleFunc("/export", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "first,")
		w.(http.Flusher).Flush()
		select {
		case <-release:
			inTime = true
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, "rest")
	})
	srv, ca := exportServer(t, mux)
	var content string
	_, err := mustNew(t, "http", map[string]any{"url": srv.URL + "/export", "ca_file": ca}).Capture(context.Background(), req(),
		func(_ *Item, r io.Reader) error {
			first := make([]byte, len("first,"))
			if _, err := io.ReadFull(r, first); err != nil {
				return err
			}
			close(release)
			rest, err := io.ReadAll(r)
			content = string(first) + string(rest)
			return err
		})
	if err != nil || content != "first,rest" || !inTime {
		t.Fatalf("%v %q; streamed: %v", err, content, inTime)
	}
}

func TestTemplates(t *testing.T) {
	r := Request{Order: "01JORDER", CutOff: time.Date(2026, 3, 1, 0, 0, 0, 5, time.UTC),
		Selectors: []Selector{{"email", "a@x"}, {"email", "b@x"}, {"phone", "+4912345"}}}
	for tmpl, want := range map[string]string{
		"{{selector.email}}":           "a@x|b@x",
		"tel:{{ selector.phone }}":     "tel:+4912345",
		"{{order}}/{{cutoff}}":         "01JORDER/2026-03-01T00:00:00.000000005Z",
		"plain } {":                    "plain } {",
		"{{selector.email}}x":          `error: template "{{selector.email}}x": the order has 2 selectors of type email; inside a longer value {{selector.email}} needs exactly one`,
		"{{selector.account}}":         `error: template "{{selector.account}}": {{selector.account}}: the order has no selector of type account`,
		"{{from}}":                     `error: template "{{from}}": {{from}}: the request has no window start`,
		"since {{to}}":                 "error: template \"since {{to}}\": {{to}}: the request has no window end",
		"{{selector.}}":                `parse: template "{{selector.}}": unknown placeholder {{selector.}}`,
		"{{selector.email}} {{order}":  `parse: template "{{selector.email}} {{order}": {{ without }}`,
		"{{selector.e mail}}":          "parse: template \"{{selector.e mail}}\": unknown placeholder",
		"{{Selector.email}}":           "parse: template \"{{Selector.email}}\": unknown placeholder",
		"{{selector.device_id-2}} end": `error: template "{{selector.device_id-2}} end": {{selector.device_id-2}}: the order has no selector of type device_id-2`,
	} {
		got := ""
		tp, err := parseTemplate(tmpl)
		if err != nil {
			got = "parse: " + err.Error()
		} else if vals, err := tp.expand(r); err != nil {
			got = "error: " + err.Error()
		} else {
			got = strings.Join(vals, "|")
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %s, want %s", tmpl, got, want)
		}
	}
}

// TestHTTPBodyEndsAfterTheDeadline: a body that ends cleanly once the
// exchange has run out of time is not taken as complete. (A server that
// sees the client give up may end a chunked body cleanly; the transport
// then passes io.EOF on, now and then, as a run of TestHTTPFailures
// showed before this check.)
func TestHTTPBodyEndsAfterTheDeadline(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	x := &exchange{outer: context.Background(), ctx: ctx, timeout: time.Minute}
	_, err := io.ReadAll(&httpBody{r: strings.NewReader("partial"), max: 100, what: "GET https://x/y: body", x: x})
	if err == nil || !strings.Contains(err.Error(), "GET https://x/y: body: timed out after 1m0s") {
		t.Fatalf("%v", err)
	}
	_, err = io.ReadAll(&httpBody{r: strings.NewReader("whole"), max: 100, what: "body", x: &exchange{outer: context.Background(), ctx: context.Background()}})
	if err != nil {
		t.Fatalf("in time: %v", err)
	}
}

// TestHTTPKeepsTheBodyAsSent: a compressed body is preserved as the
// server sent it, not transparently decompressed.
func TestHTTPKeepsTheBodyAsSent(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write([]byte("plain text")); err != nil || zw.Close() != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/export.gz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gz.Bytes())
	})
	srv, ca := exportServer(t, mux)
	items, _, err := capture(t, mustNew(t, "http", map[string]any{"url": srv.URL + "/export.gz", "ca_file": ca}), req())
	if err != nil || len(items) != 1 || items[0].content != gz.String() {
		t.Fatalf("%v %+v", err, items)
	}
	if h := items[0].item.Record["headers"].(map[string][]string); len(h["Content-Encoding"]) != 1 {
		t.Errorf("headers recorded as %v", h)
	}
}

// recordJSON is a record as the pipeline stores it.
func recordJSON(t *testing.T, rec map[string]any) string {
	t.Helper()
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

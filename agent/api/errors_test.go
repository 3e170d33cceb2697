package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/chain"
)

// answering serves every request with status and body.
func answering(t *testing.T, status int, body string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// TestErrorAnswers: an error answer is an *Error that matches what the
// daemon met: bad input, tampering; anything else names the status.
func TestErrorAnswers(t *testing.T) {
	for _, tc := range []struct {
		name         string
		status       int
		body         string
		code, msg    string // of the *Error; "" when it is none
		bad, tamper  bool
		plainMessage string // the error's text when it is no *Error
	}{
		{"bad request", 400, `{"error":{"code":"bad_request","message":"legal_basis is required"}}`, "bad_request", "legal_basis is required", true, false, ""},
		{"profile rule", 422, `{"error":{"code":"profile_rule","message":"no hold under budapest-16"}}`, "profile_rule", "no hold under budapest-16", true, false, ""},
		{"tampering", 500, `{"error":{"code":"tamper","message":"TAMPERING DETECTED: x"}}`, "tamper", "TAMPERING DETECTED: x", false, true, ""},
		{"not found", 404, `{"error":{"code":"not_found","message":"order X: no such order"}}`, "not_found", "order X: no such order", false, false, ""},
		{"conflict", 409, `{"error":{"code":"conflict","message":"released"}}`, "conflict", "released", false, false, ""},
		{"a proxy's page", 502, `<html>bad gateway</html>`, "", "", false, false, "daemon URL: GET /v1/orders: 502 Bad Gateway"},
		{"an error without message", 500, `{"error":{"code":"internal"}}`, "", "", false, false, "daemon URL: GET /v1/orders: 500 Internal Server Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := answering(t, tc.status, tc.body)
			_, err := newClient(t, url, "custos_x").Orders(context.Background(), "")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, api.ErrBadRequest) != tc.bad || errors.Is(err, chain.ErrTamper) != tc.tamper {
				t.Errorf("%v: bad request %t, tampering %t", err, errors.Is(err, api.ErrBadRequest), errors.Is(err, chain.ErrTamper))
			}
			var ae *api.Error
			if tc.code == "" {
				if errors.As(err, &ae) || strings.Replace(err.Error(), url, "URL", 1) != tc.plainMessage {
					t.Errorf("error %q, want %q", err, tc.plainMessage)
				}
				return
			}
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != tc.code || err.Error() != tc.msg {
				t.Errorf("error %#v", err)
			}
		})
	}
}

// TestInvalidOrderNamesTheFields: the problem of each field of an invalid
// order reaches the client.
func TestInvalidOrderNamesTheFields(t *testing.T) {
	url := answering(t, 400, `{"error":{"code":"invalid_order","fields":[{"field":"profile","problem":"unknown"}],"message":"invalid order"}}`)
	_, err := newClient(t, url, "custos_x").AddOrder(context.Background(), draft(t, "X"))
	var ae *api.Error
	if !errors.As(err, &ae) || len(ae.Fields) != 1 || ae.Fields[0] != (api.FieldError{Field: "profile", Problem: "unknown"}) {
		t.Fatalf("%#v", err)
	}
}

// TestWireJSON: the answers that were maps keep their bytes as structs.
func TestWireJSON(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{api.ErrorAnswer{Error: &api.Error{Status: 400, Code: "bad_request", Message: "m"}}, `{"error":{"code":"bad_request","message":"m"}}`},
		{api.ErrorAnswer{Error: &api.Error{Code: "invalid_order", Message: "m", Fields: []api.FieldError{{Field: "f", Problem: "p"}}}},
			`{"error":{"code":"invalid_order","fields":[{"field":"f","problem":"p"}],"message":"m"}}`},
		{api.CreatedToken{Secret: "s", Token: auth.Token{ID: "i", Name: "n", Role: auth.Admin}}, `{"secret":"s","token":{"id":"i","name":"n","role":"admin",`},
		{api.StepRequest{Reason: "r"}, `{"reason":"r"}`},
		{api.CaptureRequest{}, `{}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || !strings.HasPrefix(string(b), tc.want) {
			t.Errorf("%T: %s %v, want %s", tc.v, b, err, tc.want)
		}
	}
}

func TestNewClientRefusesABadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8420", "ftp://host", "https://", "http://%zz"} {
		if _, err := api.NewClient(api.Config{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	c, err := api.NewClient(api.Config{URL: "https://custos.example.net:8420/"})
	if err != nil || c.URL() != "https://custos.example.net:8420" {
		t.Fatalf("%v %v", c, err)
	}
}

// TestDownloadPackageChecksTheDigest: a package whose bytes are not those
// logged is removed and reported as tampering; a file in the way is left.
func TestDownloadPackageChecksTheDigest(t *testing.T) {
	pkg := "the package's bytes"
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer custos_x" {
			w.WriteHeader(401)
			return
		}
		_, _ = io.WriteString(w, pkg)
	}))
	defer s.Close()
	c := newClient(t, s.URL, "custos_x")
	dir := t.TempDir()
	ctx := context.Background()

	out := filepath.Join(dir, "good.zip")
	if err := c.DownloadPackage(ctx, &api.Disclosure{Download: "/v1/disclosures/X/package", SHA256: sha256Hex([]byte(pkg))}, out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != pkg {
		t.Fatalf("downloaded %q %v", b, err)
	}

	bad := filepath.Join(dir, "bad.zip")
	err := c.DownloadPackage(ctx, &api.Disclosure{Download: "/v1/disclosures/X/package", SHA256: sha256Hex([]byte("other bytes"))}, bad)
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "the package hashes to ") {
		t.Fatalf("altered package: %v", err)
	}
	if _, err := os.Lstat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the altered package was kept: %v", err)
	}

	if err := c.DownloadPackage(ctx, &api.Disclosure{Download: "/v1/disclosures/X/package", SHA256: sha256Hex([]byte(pkg))}, out); !errors.Is(err, os.ErrExist) {
		t.Fatalf("download onto an existing file: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != pkg {
		t.Fatal("the file in the way was changed")
	}
}

// TestReadItemChecksTheContent: content that is not the item's is
// tampering once the reader reaches its end; an answer cut short is an
// error, which proves no tampering by itself.
func TestReadItemChecksTheContent(t *testing.T) {
	item := "the item's bytes"
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/orders/short/") {
			w.Header().Set("Content-Length", "1000")
		}
		_, _ = io.WriteString(w, item)
	}))
	defer s.Close()
	c := newClient(t, s.URL, "custos_x")
	for _, tc := range []struct {
		name, order, sum string
		problem          string // in the error; "" for none
		tamper           bool
	}{
		{"the item", "01K0000000000000000000000Z", sha256Hex([]byte(item)), "", false},
		{"other content", "01K0000000000000000000000Z", sha256Hex([]byte("other bytes")), "the content read hashes to", true},
		{"cut short", "short", sha256Hex([]byte(item)), "the daemon's answer was cut short", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := c.ReadItem(context.Background(), tc.order, tc.sum)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			switch {
			case tc.problem == "" && (err != nil || string(b) != item):
				t.Fatalf("read %q: %v", b, err)
			case tc.problem != "" && (err == nil || errors.Is(err, chain.ErrTamper) != tc.tamper || !strings.Contains(err.Error(), tc.problem)):
				t.Fatalf("read %q: %v, want %q (tampering: %t)", b, err, tc.problem, tc.tamper)
			}
		})
	}
}

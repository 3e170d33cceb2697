package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

const testOrigin = "custos.test/agent-1"

// fixture is a Server on a local store and a real log, served on a real
// listener, with a token for each role.
type fixture struct {
	dir    string
	log    *chain.Log
	reg    *agent.Registry
	srv    *Server
	http   *httptest.Server
	tokens map[string]string // by name: admin, intake, custodian, discloser, auditor, bob (intake)
	signer signature.SignerVerifier
	logs   *logBuffer // the server's log lines
}

// fixtureStore is the evidence store a fixture runs on.
type fixtureStore interface {
	agent.RegistryStore
	capture.Store
}

// fixtureOptions change a fixture: its store (default: a local store in
// its directory) and job workers (default 4).
type fixtureOptions struct {
	store   fixtureStore
	workers int
	// clientRoles, when set, serves HTTPS asking for client certificates
	// signed by clientCA, with these roles by common name.
	clientRoles map[string]auth.Role
	serverCert  *tls.Certificate
	clientCA    *x509.CertPool
	// checkpoints is the log's checkpoint interval; zero means the
	// shortest, so that tests waiting for a checkpoint wait little.
	checkpoints time.Duration
	// now is the server's clock; nil means time.Now.
	now func() time.Time
	// mailbox, when set, adds a configured source "mailbox": a directory
	// of that many files of 2 KiB.
	mailbox int
}

func (o fixtureOptions) checkpointInterval() time.Duration {
	if o.checkpoints == 0 {
		return chain.MinCheckpointInterval
	}
	return o.checkpoints
}

func newFixture(t testing.TB) *fixture { return newFixtureWith(t, fixtureOptions{}) }

func newFixtureWith(t testing.TB, opts fixtureOptions) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{dir: t.TempDir(), tokens: map[string]string{}, logs: &logBuffer{}}
	var err error
	if f.signer, err = signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))); err != nil {
		t.Fatal(err)
	}
	store := opts.store
	if store == nil {
		if store, err = storage.NewLocal(filepath.Join(f.dir, "store"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if opts.workers == 0 {
		opts.workers = 4
	}
	spool, err := storage.NewLocal(filepath.Join(f.dir, "spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.log, err = chain.Open(ctx, chain.Config{Dir: filepath.Join(f.dir, "log"), Origin: testOrigin, Signer: f.signer,
		CheckpointInterval: opts.checkpointInterval(), Agent: "agent-1"})
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := order.LoadProfiles(nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.reg, err = agent.New(agent.Config{
		Log: f.log, Store: store, Profiles: profiles, Agent: "agent-1", Host: "host-1",
		Book:     &agent.OrderBook{Dir: filepath.Join(f.dir, "orders"), Store: store},
		Capturer: &capture.Capturer{Store: store, Log: f.log, Signer: f.signer, Spool: spool, Agent: "agent-1", Host: "host-1"},
	}); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.OpenStore(filepath.Join(f.dir, "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range auth.Roles() {
		if f.tokens[string(r)], _, err = tokens.Create(string(r), r); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokens["bob"], _, err = tokens.Create("bob", auth.Intake); err != nil {
		t.Fatal(err)
	}
	// dora is a second discloser (an emergency's four eyes); portal-fr an
	// intake token of an authority's portal, a verified channel.
	if f.tokens["dora"], _, err = tokens.Create("dora", auth.Discloser); err != nil {
		t.Fatal(err)
	}
	if f.tokens["portal-fr"], _, err = tokens.Create("portal-fr", auth.Intake); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(f.dir, "export")
	writeFiles(t, export, map[string]string{"inbox/1.eml": "Subject: one\n\nhello", "inbox/2.eml": "Subject: two\n\nworld"})
	sources := testSources(export)
	if opts.mailbox > 0 {
		mailbox := filepath.Join(f.dir, "mailbox")
		files := map[string]string{}
		for i := range opts.mailbox {
			files[fmt.Sprintf("%04d.eml", i)] = fmt.Sprintf("Subject: %d\n\n%s", i, strings.Repeat("x", 2<<10))
		}
		writeFiles(t, mailbox, files)
		sources = append(sources, source.Config{Name: "mailbox", Type: "dir", Categories: []string{"content"}, Params: map[string]any{"root": mailbox}})
	}
	f.srv, err = New(ctx, Config{
		Registry: f.reg, Log: f.log, Tokens: tokens,
		Sources:       sources,
		Jobs:          jobs.Config{Dir: filepath.Join(f.dir, "jobs"), Workers: opts.workers, BaseBackoff: 10 * time.Millisecond},
		DisclosureDir: filepath.Join(f.dir, "disclosures"), Organization: "Example Mail Ltd", UploadDir: filepath.Join(f.dir, "uploads"),
		Logger: newTestLogger(f.logs), ClientRoles: opts.clientRoles, Now: opts.now,
		VerifiedChannels: []string{"portal-fr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- f.srv.Run(ctx) }()
	if opts.serverCert != nil {
		f.http = httptest.NewUnstartedServer(f.srv.Handler())
		f.http.TLS = &tls.Config{Certificates: []tls.Certificate{*opts.serverCert}, ClientCAs: opts.clientCA,
			ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
		f.http.StartTLS()
	} else {
		f.http = httptest.NewServer(f.srv.Handler())
	}
	t.Cleanup(func() {
		f.http.Close()
		if err := f.srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		cancel()
		if err := <-runDone; err != nil {
			t.Error(err)
		}
		if err := f.log.Close(context.Background()); err != nil {
			t.Error(err)
		}
		for name, secret := range f.tokens {
			if strings.Contains(f.logs.String(), secret) {
				t.Errorf("the server's log holds the secret of token %s", name)
			}
		}
	})
	return f
}

// testSources are one configured source, "mail", a directory tree.
func testSources(root string) []source.Config {
	return []source.Config{{Name: "mail", Type: "dir", Categories: []string{"content"}, Params: map[string]any{"root": root}}}
}

func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", r.status, err, r.body)
	}
}

// errorCode is the code of a JSON error answer, failing the test if the
// answer is not one.
func (r *response) errorCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	r.json(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("answer %d is not a JSON error: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer has Content-Type %q", ct)
	}
	return e.Error.Code
}

// do sends a request as token (the name of one of the fixture's tokens,
// or "" for none); body is JSON-encoded unless it is a string or []byte.
func (f *fixture) do(t testing.TB, token, method, path string, body any) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	ct := ""
	if rd != nil {
		ct = "application/json"
	}
	return f.send(t, token, method, path, ct, rd)
}

// send sends a request as token with a body of media type ct.
func (f *fixture) send(t testing.TB, token, method, path, ct string, rd io.Reader) *response {
	t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		secret, ok := f.tokens[token]
		if !ok {
			secret = token
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

// must sends a request and fails the test unless it is answered with want.
func (f *fixture) must(t testing.TB, want int, token, method, path string, body any) *response {
	t.Helper()
	r := f.do(t, token, method, path, body)
	if r.status != want {
		t.Fatalf("%s %s as %s: %d, want %d: %s\nserver log:\n%s", method, path, token, r.status, want, r.body, f.logs)
	}
	return r
}

func (f *fixture) logSize(t testing.TB) uint64 {
	t.Helper()
	n, err := f.log.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// anOrder is an order file in JSON.
func anOrder(ref string, confidential bool) map[string]any {
	o := map[string]any{
		"reference": ref, "authority": "Staatsanwaltschaft Berlin", "requesting_state": "DE",
		"profile": "budapest-16", "legal_basis": "Budapest Convention art. 16 & 29 <MLA>",
		"selectors":  []map[string]string{{"type": "email", "value": "alice@example.net"}},
		"categories": []string{"content"},
	}
	if confidential {
		o["confidentiality"] = map[string]any{"confidential": true}
	}
	return o
}

// createOrder receives an order as intake (or as), returning its id.
func (f *fixture) createOrder(t testing.TB, as, ref string, confidential bool) string {
	t.Helper()
	var o order.Order
	f.must(t, http.StatusCreated, as, "POST", "/v1/orders", anOrder(ref, confidential)).json(t, &o)
	if o.ID == "" || o.Status != order.StatusReceived {
		t.Fatalf("created order: %+v", o)
	}
	return o.ID
}

// capture runs a capture job of order id to its end.
func (f *fixture) capture(t testing.TB, id string) *jobs.Job {
	t.Helper()
	var j jobs.Job
	f.must(t, http.StatusOK, "custodian", "POST", "/v1/orders/"+id+"/captures?wait=60s", map[string]any{"sources": []string{"mail"}}).json(t, &j)
	if j.State != jobs.Succeeded {
		t.Fatalf("capture job: %+v", j)
	}
	return &j
}

package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/server"
	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// daemon is the API served by agent/server on a local store and a real
// log, with an admin token.
type daemon struct {
	url   string
	admin string
	log   *chain.Log
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	signer, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.NewLocal(filepath.Join(dir, "store"), nil)
	if err != nil {
		t.Fatal(err)
	}
	spool, err := storage.NewLocal(filepath.Join(dir, "spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := chain.Open(ctx, chain.Config{Dir: filepath.Join(dir, "log"), Origin: "custos.test/api", Signer: signer,
		CheckpointInterval: chain.MinCheckpointInterval, Agent: "agent-1"})
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := order.LoadProfiles(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := agent.New(agent.Config{
		Log: l, Store: store, Profiles: profiles, Agent: "agent-1", Host: "host-1",
		Book:     &agent.OrderBook{Dir: filepath.Join(dir, "orders"), Store: store},
		Capturer: &capture.Capturer{Store: store, Log: l, Signer: signer, Spool: spool, Agent: "agent-1", Host: "host-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.OpenStore(filepath.Join(dir, "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := tokens.Create("root", auth.Admin)
	if err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(dir, "export")
	if err := os.MkdirAll(export, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(export, "1.eml"), []byte("Subject: one\n\nhello"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Config{
		Registry: reg, Log: l, Tokens: tokens,
		Sources:       []source.Config{{Name: "mail", Type: "dir", Categories: []string{"content"}, Params: map[string]any{"root": export}}},
		Jobs:          jobs.Config{Dir: filepath.Join(dir, "jobs"), Workers: 2, BaseBackoff: 10 * time.Millisecond},
		DisclosureDir: filepath.Join(dir, "disclosures"), Organization: "Example Mail Ltd", UploadDir: filepath.Join(dir, "uploads"),
	})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		cancel()
		if err := <-runDone; err != nil {
			t.Error(err)
		}
		if err := l.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return &daemon{url: hs.URL, admin: admin, log: l}
}

func newClient(t *testing.T, url, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(api.Config{URL: url, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// as is a client acting in role, with a token the admin makes for it.
func (d *daemon) as(t *testing.T, role auth.Role) *api.Client {
	t.Helper()
	nt, err := newClient(t, d.url, d.admin).CreateToken(context.Background(), string(role)+"-api", role)
	if err != nil {
		t.Fatal(err)
	}
	if nt.Secret == "" || nt.Token.Role != role {
		t.Fatalf("token created: %+v", nt.Token)
	}
	return newClient(t, d.url, nt.Secret)
}

func draft(t *testing.T, ref string) *order.Order {
	t.Helper()
	o, err := order.ParseFile([]byte(`{"reference": "`+ref+`", "authority": "Court", "requesting_state": "FR",
		"profile": "budapest-16", "legal_basis": "art. 16", "categories": ["content"],
		"selectors": [{"type": "email", "value": "alice@example.net"}]}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestClientThroughAnOrdersLife takes an order through every route of its
// life with the typed client, against the daemon's real API.
func TestClientThroughAnOrdersLife(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	intake, custodian, discloser, auditor := d.as(t, auth.Intake), d.as(t, auth.Custodian), d.as(t, auth.Discloser), d.as(t, auth.Auditor)

	o, err := intake.AddOrder(ctx, draft(t, "API-1"))
	if err != nil || o.Status != order.StatusReceived {
		t.Fatalf("add order: %v %+v", err, o)
	}
	withDoc, docErr, err := intake.AddOrderWithDocument(ctx, draft(t, "API-2"), "order.pdf", strings.NewReader("%PDF-1.7\nthe order\n"))
	if err != nil || docErr != "" || withDoc.Document == nil || withDoc.Document.Name != "order.pdf" {
		t.Fatalf("add order with document: %v %q %+v", err, docErr, withDoc)
	}

	j, err := custodian.Capture(ctx, o.ID, api.CaptureRequest{Sources: []string{"mail"}})
	if err != nil || j.State != jobs.Succeeded {
		t.Fatalf("capture: %v %+v", err, j)
	}
	sum, err := api.CaptureResult(j)
	if err != nil || sum == nil || sum.Preserved != 1 || sum.Order != o.ID {
		t.Fatalf("capture result: %v %+v", err, sum)
	}
	rc, err := custodian.ReadItem(ctx, o.ID, sum.Items[0].Digests.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	content, err := io.ReadAll(rc)
	if err != nil || string(content) != "Subject: one\n\nhello" || rc.Close() != nil {
		t.Fatalf("item read: %v %q", err, content)
	}
	if j, err = custodian.Job(ctx, j.ID, 0); err != nil || j.State != jobs.Succeeded {
		t.Fatalf("job: %v %+v", err, j)
	}
	if list, err := auditor.Jobs(ctx, o.ID); err != nil || len(list) != 1 || list[0].ID != j.ID {
		t.Fatalf("jobs of the order: %v %+v", err, list)
	}
	fj, err := custodian.Fixity(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := api.FixityResult(fj); err != nil || rep == nil || rep.Checked != 1 || rep.Failed != 0 || !rep.Items[0].OK {
		t.Fatalf("fixity: %v %+v", err, rep)
	}

	list, err := auditor.Orders(ctx, "")
	if err != nil || len(list) != 2 {
		t.Fatalf("orders: %v %+v", err, list)
	}
	if preserved, err := auditor.Orders(ctx, order.StatusPreserved); err != nil || len(preserved) != 1 || preserved[0].Order.ID != o.ID || preserved[0].Items != 1 {
		t.Fatalf("preserved orders: %v %+v", err, preserved)
	}
	detail, err := auditor.Order(ctx, o.ID)
	if err != nil || len(detail.Items) != 1 || detail.Order.Status != order.StatusPreserved {
		t.Fatalf("order: %v %+v", err, detail)
	}

	res, err := custodian.Extend(ctx, o.ID, "", "renewal")
	if err != nil || len(res.Order.Extensions) != 1 || res.Store == nil || res.Store.Objects == 0 {
		t.Fatalf("extend: %v %+v", err, res)
	}
	if res, err = custodian.Hold(ctx, withDoc.ID, "MLA request pending"); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("hold under budapest-16 (the profile allows none): %v %+v", err, res)
	}
	if res, err = custodian.Release(ctx, withDoc.ID, "withdrawn"); err != nil || res.Order.Status != order.StatusReleased {
		t.Fatalf("release: %v %+v", err, res)
	}
	if res, err = custodian.Purge(ctx, withDoc.ID, "withdrawn"); err != nil || res.Purged == nil || res.Kept == nil || len(*res.Kept) != 1 {
		t.Fatalf("purge: %v %+v", err, res)
	}

	// A disclosure waits for a confirmed check of the requester: a
	// conflict, told by its code.
	var refused *api.Error
	if _, err := discloser.Disclose(ctx, o.ID, api.DisclosureRequest{Format: "tar"}); !errors.As(err, &refused) || refused.Status != 409 || refused.Code != "requester_unverified" {
		t.Fatalf("disclose before a requester check: %v", err)
	}
	if _, err := custodian.VerifyRequester(ctx, o.ID, api.RequesterRequest{Method: "pigeon", Result: api.ResultConfirmed, Note: "n"}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("a check by an unknown method: %v", err)
	}
	if ev, err := custodian.VerifyRequester(ctx, o.ID, api.RequesterRequest{Method: "callback", Result: api.ResultConfirmed,
		Note: "called the court registry"}); err != nil || !strings.Contains(string(ev.Event), `"type":"requester.verified"`) {
		t.Fatalf("requester check: %v %+v", err, ev)
	}
	if _, err := discloser.ApproveDisclosure(ctx, o.ID, api.ApprovalRequest{}); !errors.As(err, &refused) || refused.Code != "conflict" {
		t.Fatalf("approving an order that is no emergency: %v", err)
	}
	dis, err := discloser.Disclose(ctx, o.ID, api.DisclosureRequest{Format: "tar"})
	if err != nil || len(dis.Items) != 1 || !strings.HasSuffix(dis.File, ".tar") {
		t.Fatalf("disclose: %v %+v", err, dis)
	}
	if again, err := discloser.Disclosure(ctx, dis.ID); err != nil || again.SHA256 != dis.SHA256 {
		t.Fatalf("disclosure: %v %+v", err, again)
	}
	pkg := filepath.Join(t.TempDir(), "package.tar")
	if err := discloser.DownloadPackage(ctx, dis, pkg); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(pkg); err != nil || sha256Hex(b) != dis.SHA256 {
		t.Fatalf("the package downloaded is not the one logged: %v", err)
	}

	note, err := custodian.Note(ctx, o.ID, "called the authority")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := note.Record()
	if err != nil || rec.Event.Type != chain.CustodyNote || rec.Event.Details["note"] != "called the authority" {
		t.Fatalf("note: %v %+v", err, rec)
	}
	var types []chain.EventType
	for rec, err := range auditor.AllEvents(ctx, o.ID, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.Order != o.ID {
			t.Fatalf("event %d of another order", rec.Index)
		}
		types = append(types, rec.Event.Type)
	}
	if len(types) < 5 || types[0] != chain.OrderReceived || types[len(types)-1] != chain.CustodyNote {
		t.Fatalf("the order's events: %v", types)
	}
	page, err := auditor.Events(ctx, api.EventsQuery{Limit: 2})
	if err != nil || len(page.Events) != 2 || page.Next != 2 || page.Size <= 2 {
		t.Fatalf("a page of events: %v %+v", err, page)
	}

	cp, err := auditor.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkpoint, err := chain.ParseCheckpoint(cp, d.log.Verifier())
	if err != nil {
		t.Fatalf("checkpoint: %v\n%s", err, cp)
	}
	proof, err := auditor.InclusionProof(ctx, rec.Index)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.ParseProof(proof); err != nil {
		t.Fatalf("inclusion proof: %v\n%s", err, proof)
	}
	if _, err := auditor.InclusionProof(ctx, checkpoint.Size+1000); err == nil {
		t.Fatal("a proof of an entry that does not exist")
	}
	if hashes, err := auditor.ConsistencyProof(ctx, checkpoint.Size, checkpoint.Size); err != nil || len(hashes) != 0 {
		t.Fatalf("consistency proof of a size with itself: %v %q", err, hashes)
	}

	admin := newClient(t, d.url, d.admin)
	ts, err := admin.Tokens(ctx)
	if err != nil || len(ts) != 5 {
		t.Fatalf("tokens: %v %+v", err, ts)
	}
	revoked, err := admin.RevokeToken(ctx, ts[len(ts)-1].ID)
	if err != nil || revoked.Revoked == nil {
		t.Fatalf("revoke: %v %+v", err, revoked)
	}
	var ae *api.Error
	if _, err := auditor.Orders(ctx, ""); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != "unauthenticated" {
		t.Fatalf("a revoked token: %v", err)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

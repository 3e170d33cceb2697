package scheduler_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/scheduler"
	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// t0 is when the fake clock starts.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lagging is clk running lag behind.
func lagging(clk *clock, lag time.Duration) func() time.Time {
	return func() time.Time { return clk.Now().Add(-lag) }
}

// fixture is a registry as the daemon wires it: a real custody log and a
// local store whose clock is the fake one (or lags behind it).
type fixture struct {
	dir   string
	clk   *clock
	store *storage.Local
	log   *chain.Log
	reg   *agent.Registry
	logs  *logBuffer
}

func newFixture(t *testing.T, storeLag time.Duration) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), clk: &clock{t: t0}, logs: &logBuffer{}}
	var err error
	if f.store, err = storage.NewLocal(filepath.Join(f.dir, "store"), lagging(f.clk, storeLag)); err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	f.log, err = chain.Open(context.Background(), chain.Config{Dir: filepath.Join(f.dir, "log"), Origin: "custos.test/scheduler", Signer: sv,
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond, Agent: "agent-1", Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.log.Close(context.Background()) })
	profiles, err := order.LoadProfiles(nil)
	if err != nil {
		t.Fatal(err)
	}
	// One item a batch: the fixity rounds check a batch at a time, and
	// the tests follow each item.
	c := &capture.Capturer{Store: f.store, Log: f.log, Signer: sv, Agent: "agent-1", Host: "host-1", Now: f.clk.Now, BatchItems: 1}
	if f.reg, err = agent.New(agent.Config{
		Log: f.log, Store: f.store, Profiles: profiles, Capturer: c, Agent: "agent-1", Host: "host-1", Now: f.clk.Now,
		Book: &agent.OrderBook{Dir: filepath.Join(f.dir, "orders"), Store: f.store},
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// config is a scheduler configuration over the fixture, logging to
// f.logs.
func (f *fixture) config() scheduler.Config {
	return scheduler.Config{
		Registry: f.reg, Now: f.clk.Now, Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Actor: "custos scheduler (agent-1)",
	}
}

func (f *fixture) scheduler(t *testing.T, cfg scheduler.Config) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// step runs one Step and fails the test on an error of the Step itself.
func step(t *testing.T, s *scheduler.Scheduler) *scheduler.Report {
	t.Helper()
	rep, err := s.Step(context.Background())
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	return rep
}

// selector is the personal data of every test order.
const selector = "alice@example.net"

// addOrder receives an order under profile now.
func (f *fixture) addOrder(t *testing.T, profile string) *order.Order {
	t.Helper()
	return f.receive(t, order.Flags{
		Reference: "LE-1", Authority: "FBI", RequestingState: "US", Profile: profile, LegalBasis: "18 U.S.C. 2703(f)",
		Selectors: []string{"email:" + selector}, Categories: "content",
	})
}

// receive receives the order flags give, now, as intake.
func (f *fixture) receive(t *testing.T, flags order.Flags) *order.Order {
	t.Helper()
	draft, err := flags.Draft(f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.reg.Add(context.Background(), draft, nil, "intake@example.net")
	if err != nil {
		t.Fatal(err)
	}
	return res.Order
}

// capture preserves items (name -> content) for order id.
func (f *fixture) capture(t *testing.T, id string, items map[string]string) *capture.Report {
	t.Helper()
	rep, err := f.reg.Capture(context.Background(), id, agent.CaptureOptions{
		Sources: []capture.NamedSource{{Name: "mail", Source: fixedSource(items)}}, Actor: "custodian@example.net",
	})
	if err != nil || rep.Failed() {
		t.Fatalf("capture: %v %v", err, rep)
	}
	return rep
}

func (f *fixture) status(t *testing.T, id string) order.Status {
	t.Helper()
	v, err := f.reg.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Order.Status
}

// events returns the custody events of order id, in log order.
func (f *fixture) events(t *testing.T, id string) []*chain.Event {
	t.Helper()
	ctx := context.Background()
	size, err := f.log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*chain.Event
	for rec, err := range chain.Entries(ctx, f.log.FS(), 0, size) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.Order == id {
			out = append(out, rec.Event)
		}
	}
	return out
}

func eventTypes(evs []*chain.Event) string {
	var types []string
	for _, e := range evs {
		types = append(types, string(e.Type))
	}
	return strings.Join(types, " ")
}

// fixedSource yields its items, sorted by name.
type fixedSource map[string]string

func (fixedSource) Kind() string { return "fixed" }

func (s fixedSource) Capture(_ context.Context, _ source.Request, emit source.Emit) (source.Summary, error) {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := emit(&source.Item{Name: n, MediaType: "text/plain", Record: map[string]any{"name": n}}, strings.NewReader(s[n])); err != nil {
			return nil, err
		}
	}
	return source.Summary{"emitted": len(names)}, nil
}

// logBuffer collects the scheduler's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log lines whose message is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// receiver is a webhook endpoint that checks each request's signature
// independently of the scheduler's code, and can be made to fail.
type receiver struct {
	t      *testing.T
	secret []byte
	clk    *clock
	srv    *httptest.Server

	mu       sync.Mutex
	failing  bool
	attempts int
	got      []scheduler.Reminder
}

func newReceiver(t *testing.T, secret []byte, clk *clock) *receiver {
	r := &receiver{t: t, secret: secret, clk: clk}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	ts := req.Header.Get("X-Custos-Timestamp")
	mac := hmac.New(sha256.New, r.secret)
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(req.Header.Get("X-Custos-Signature")), []byte(want)) {
		r.t.Errorf("webhook signature %q, want %q", req.Header.Get("X-Custos-Signature"), want)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if ts != strconv.FormatInt(r.clk.Now().Unix(), 10) {
		r.t.Errorf("webhook timestamp %s, want the scheduler's clock %d", ts, r.clk.Now().Unix())
	}
	if strings.Contains(string(body), selector) {
		r.t.Errorf("webhook body carries a selector: %s", body)
	}
	if r.failing {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var rem scheduler.Reminder
	if err := json.Unmarshal(body, &rem); err != nil {
		r.t.Errorf("webhook body: %v", err)
	}
	if req.Header.Get("X-Custos-Delivery") != rem.Delivery {
		r.t.Errorf("delivery header %q, body %q", req.Header.Get("X-Custos-Delivery"), rem.Delivery)
	}
	r.got = append(r.got, rem)
}

func (r *receiver) setFailing(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = on
}

// received returns the reminders accepted so far and the attempts made.
func (r *receiver) received() ([]scheduler.Reminder, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scheduler.Reminder(nil), r.got...), r.attempts
}

// flipByte changes the first byte of the stored object key behind the
// store's back.
func (f *fixture) flipByte(t *testing.T, key string) {
	t.Helper()
	p := filepath.Join(f.dir, "store", "objects", filepath.FromSlash(key))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

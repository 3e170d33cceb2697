// Package server is the daemon's HTTP API: JSON over HTTP(S) for orders,
// captures and fixity runs (as jobs), custody events, checkpoints, proofs
// and disclosures, with health and Prometheus metrics. The API is described
// by the OpenAPI 3 document it serves at /openapi.json.
//
// Call New with a Config holding the open registry, log, token store and
// job settings; serve Handler on a listener; call Run to start the job
// workers and Shutdown to drain them. Every request but /healthz, /readyz
// and /openapi.json is authenticated (a bearer token, or a client
// certificate when the listener asks for one) and authorised by role; every
// read of evidence content and every disclosure is a custody event naming
// the identity that asked.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
)

// Defaults of Config.
const (
	DefaultMaxBody        = 1 << 20
	DefaultMaxDocument    = 256 << 20
	DefaultFlushEvery     = 10 * time.Second
	DefaultHousekeepEvery = 10 * time.Minute
)

// Log is what the API needs of the custody log.
type Log interface {
	agent.OrderLog
	Prove(ctx context.Context, index uint64) (*chain.Proof, error)
	// Failed is the error of a log that failed its verification and
	// refuses writes (see chain.Log.Verify), nil while it writes.
	Failed() error
}

// Config configures a Server.
type Config struct {
	Registry *agent.Registry
	Log      Log
	Tokens   *auth.Store
	// ClientRoles maps a client certificate's subject common name to its
	// role, for listeners that verify client certificates (mTLS).
	ClientRoles map[string]auth.Role
	// Sources are the configured sources a capture chooses from (see
	// capture.Catalog): those a request names, or, with none named, those
	// serving the order. Ad-hoc URIs are refused.
	Sources []source.Config
	// Jobs configures the job queue; its Runners are the server's.
	Jobs jobs.Config
	// DisclosureDir keeps the packages built through the API.
	DisclosureDir string
	// Organization is the provider, named in packages.
	Organization string
	// VerifiedChannels are the intake identities (token or certificate
	// names) whose orders come through a channel known to be the
	// authority's, such as its portal: an order one of them sends is
	// logged with requester.verified of method verified-channel at once.
	VerifiedChannels []string
	// Ready checks what /readyz reports beyond the log: the store answers,
	// the key signs. Nil checks nothing more.
	Ready func(ctx context.Context) error
	// MaxBody bounds request bodies; 0 means DefaultMaxBody.
	MaxBody int64
	// MaxDocument bounds an order document uploaded with its order
	// (multipart POST /v1/orders); 0 means DefaultMaxDocument.
	MaxDocument int64
	// UploadDir holds uploaded order documents while they are preserved;
	// "" refuses uploads.
	UploadDir string
	// FlushEvery is how often the spool is flushed to the store when it
	// holds items sealed during an outage; 0 means DefaultFlushEvery.
	FlushEvery time.Duration
	// DisclosureRetention is how long a package built through the API is
	// kept for download after it was built; then the package is removed
	// and its record, marked removed, stays. 0 keeps packages for ever.
	// (Jobs.Retention does the same for finished jobs.)
	DisclosureRetention time.Duration
	// HousekeepEvery is how often finished jobs and packages past their
	// retention are removed; 0 means DefaultHousekeepEvery.
	HousekeepEvery time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
	// Metrics registers the server's metrics; nil makes a new registry.
	Metrics *prometheus.Registry
}

// Server serves the API. Make one with New.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	routes  []route
	jobs    *jobs.Queue
	metrics *metrics
	log     *slog.Logger
}

// route is one operation of the API.
type route struct {
	method, pattern string
	roles           []auth.Role // nil: no authentication
}

// handlerFunc handles an authenticated request; id is nil on open routes.
// A returned error is written as a JSON error.
type handlerFunc func(w http.ResponseWriter, r *http.Request, id *auth.Identity) error

// New makes a Server and opens its job queue, resuming the jobs a previous
// run left unfinished. Run starts them.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Registry == nil || cfg.Log == nil || cfg.Tokens == nil {
		return nil, errors.New("server: a registry, a log and a token store are required")
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxDocument == 0 {
		cfg.MaxDocument = DefaultMaxDocument
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.HousekeepEvery == 0 {
		cfg.HousekeepEvery = DefaultHousekeepEvery
	}
	if cfg.DisclosureRetention < 0 || cfg.HousekeepEvery < 0 || cfg.FlushEvery < 0 {
		return nil, fmt.Errorf("server: negative disclosure retention %v, housekeeping or flush interval (%v, %v)",
			cfg.DisclosureRetention, cfg.HousekeepEvery, cfg.FlushEvery)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	s.metrics = newMetrics(cfg.Metrics, s)
	jc := cfg.Jobs
	jc.Runners = map[string]jobs.Runner{kindCapture: s.runCapture, kindFixity: s.runFixity}
	jc.Retryable = retryable
	if jc.Logger == nil {
		jc.Logger = cfg.Logger
	}
	if jc.Now == nil {
		jc.Now = cfg.Now
	}
	q, err := jobs.Open(ctx, jc)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.jobs = q
	s.register()
	return s, nil
}

// Run runs the job workers, flushes the spool every FlushEvery and
// removes what is past its retention every HousekeepEvery, until ctx is
// done or Shutdown is called.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var loops sync.WaitGroup
	loops.Go(func() { s.every(ctx, s.cfg.FlushEvery, s.flush) })
	loops.Go(func() { s.every(ctx, s.cfg.HousekeepEvery, s.housekeep) })
	err := s.jobs.Run(ctx)
	cancel()
	loops.Wait()
	return err
}

// every calls fn every d until ctx is done.
func (s *Server) every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
}

// housekeep forgets finished jobs and removes disclosure packages past
// their retention.
func (s *Server) housekeep(ctx context.Context) {
	if _, err := s.jobs.Sweep(); err != nil {
		s.log.Warn("finished jobs not all removed", "error", err)
	}
	if _, err := s.sweepDisclosures(); err != nil && ctx.Err() == nil {
		s.log.Warn("disclosure packages past their retention not all removed", "error", err)
	}
}

// flush moves items sealed in the spool during an outage to the store
// once it answers again.
func (s *Server) flush(ctx context.Context) {
	rep, err := s.cfg.Registry.FlushWhenReachable(ctx, s.cfg.Registry.Agent)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("spooled items not flushed to the store yet", "error", err)
	case err == nil && len(rep.Stored) > 0:
		s.log.Info("spooled items flushed to the store", "count", len(rep.Stored))
	}
}

// Shutdown stops starting jobs and waits for the running ones until ctx is
// done; those still running then are stopped and resume on the next start.
func (s *Server) Shutdown(ctx context.Context) error { return s.jobs.Shutdown(ctx) }

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.metrics.instrument(cleanPaths(s.mux)) }

// Routes lists the API's operations as "METHOD /path/{param}".
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, r := range s.routes {
		out[i] = r.method + " " + r.pattern
	}
	return out
}

// Who reads what: a role reads what its job needs (README, "Who may do
// what", lists each route's roles, and a test holds it to these).
var (
	// orderReaders act on orders or check them: the custodian (deadlines,
	// items, fixity), the discloser (the items to disclose), the auditor.
	// Intake receives orders; its answer to a POST is its receipt.
	orderReaders = []auth.Role{auth.Custodian, auth.Discloser, auth.Auditor}
	// logReaders read the custody log itself (events, checkpoints,
	// proofs): checking that it is complete and append-only is the
	// auditor's job.
	logReaders = []auth.Role{auth.Auditor}
)

func (s *Server) register() {
	s.handle("GET /healthz", nil, s.healthz)
	s.handle("GET /readyz", nil, s.readyz)
	s.handle("GET /openapi.json", nil, s.openapi)
	s.handle("GET /metrics", []auth.Role{auth.Auditor, auth.Admin}, s.metricsHandler)

	s.handleLimit("POST /v1/orders", []auth.Role{auth.Intake}, s.cfg.MaxDocument+maxOrderBody+64<<10, s.createOrder)
	s.handleLimit("POST /v1/forms", []auth.Role{auth.Intake}, maxFormBody, s.importForm)
	s.handle("GET /v1/orders", orderReaders, s.listOrders)
	s.handle("GET /v1/orders/{id}", orderReaders, s.getOrder)
	s.handle("POST /v1/orders/{id}/extend", []auth.Role{auth.Custodian}, s.extendOrder)
	s.handle("POST /v1/orders/{id}/hold", []auth.Role{auth.Custodian}, s.holdOrder)
	s.handle("DELETE /v1/orders/{id}/hold", []auth.Role{auth.Custodian}, s.liftHold)
	s.handle("POST /v1/orders/{id}/release", []auth.Role{auth.Custodian}, s.releaseOrder)
	s.handle("POST /v1/orders/{id}/purge", []auth.Role{auth.Custodian}, s.purgeOrder)
	s.handle("POST /v1/orders/{id}/review", []auth.Role{auth.Custodian}, s.reviewOrder)
	s.handle("POST /v1/orders/{id}/replies", []auth.Role{auth.Custodian}, s.createReply)
	s.handle("GET /v1/orders/{id}/replies/{name}", []auth.Role{auth.Custodian, auth.Discloser}, s.readReply)
	s.handle("GET /v1/orders/{id}/items/{sha256}", []auth.Role{auth.Custodian, auth.Discloser}, s.readItem)

	s.handle("POST /v1/orders/{id}/captures", []auth.Role{auth.Custodian}, s.createCapture)
	s.handle("POST /v1/orders/{id}/fixity", []auth.Role{auth.Custodian}, s.createFixity)
	s.handle("GET /v1/jobs", []auth.Role{auth.Custodian, auth.Auditor}, s.listJobs)
	s.handle("GET /v1/jobs/{id}", []auth.Role{auth.Custodian, auth.Auditor}, s.getJob)
	s.handle("POST /v1/jobs/{id}/cancel", []auth.Role{auth.Custodian}, s.cancelJob)

	s.handle("POST /v1/orders/{id}/disclosures", []auth.Role{auth.Discloser}, s.createDisclosure)
	s.handle("GET /v1/disclosures/{id}", []auth.Role{auth.Discloser}, s.getDisclosure)
	s.handle("GET /v1/disclosures/{id}/package", []auth.Role{auth.Discloser}, s.downloadDisclosure)
	s.handle("POST /v1/orders/{id}/requester-checks", []auth.Role{auth.Custodian}, s.verifyRequester)
	s.handle("POST /v1/orders/{id}/disclosure-approvals", []auth.Role{auth.Discloser}, s.approveDisclosure)

	s.handle("GET /v1/events", logReaders, s.listEvents)
	s.handle("POST /v1/notes", []auth.Role{auth.Intake, auth.Custodian, auth.Discloser}, s.createNote)
	s.handle("GET /v1/checkpoint", logReaders, s.checkpoint)
	s.handle("GET /v1/proofs/inclusion/{index}", logReaders, s.inclusionProof)
	s.handle("GET /v1/proofs/consistency", logReaders, s.consistencyProof)
	s.handle("GET /v1/timestamps", logReaders, s.listTimestamps)
	s.handle("GET /v1/report", logReaders, s.report)

	s.handle("POST /v1/tokens", []auth.Role{auth.Admin}, s.createToken)
	s.handle("GET /v1/tokens", []auth.Role{auth.Admin}, s.listTokens)
	s.handle("DELETE /v1/tokens/{id}", []auth.Role{auth.Admin}, s.revokeToken)

	// Other methods on a known path, and unknown paths, get JSON errors
	// too, not the mux's plain text.
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range s.routes {
		if allowed[rt.pattern] == nil {
			paths = append(paths, rt.pattern)
		}
		allowed[rt.pattern] = append(allowed[rt.pattern], rt.method)
	}
	for _, p := range paths {
		methods := strings.Join(allowed[p], ", ")
		s.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, methods), nil)
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no such route: %s", r.URL.Path), nil)
	})
}

// handle registers h for pattern ("METHOD /path"), authenticated and
// limited to roles unless roles is nil.
func (s *Server) handle(pattern string, roles []auth.Role, h handlerFunc) {
	s.handleLimit(pattern, roles, s.cfg.MaxBody, h)
}

// handleLimit is handle with a body limit of its own.
func (s *Server) handleLimit(pattern string, roles []auth.Role, limit int64, h handlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, route{method: method, pattern: path, roles: roles})
	s.mux.Handle(pattern, s.metrics.route(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id *auth.Identity
		if roles != nil {
			var err error
			if id, err = s.authenticate(r); err != nil {
				s.writeError(w, r, err)
				return
			}
			if !auth.HasRole(id, roles...) {
				s.writeError(w, r, forbidden(id, roles))
				return
			}
		}
		if err := s.cfg.Log.Failed(); err != nil && writesLog(method, path) {
			s.writeError(w, r, err)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		if err := h(w, r, id); err != nil {
			s.writeError(w, r, err)
		}
	})))
}

// writesLog reports whether a route records custody events (or starts a
// job that does), which a log that failed its verification refuses at
// once rather than in a job: every route but reads, tokens and the
// cancellation of a job. A read that logs item.accessed is refused when
// it tries.
func writesLog(method, path string) bool {
	return method != http.MethodGet && !strings.HasPrefix(path, "/v1/tokens") && !strings.HasSuffix(path, "/cancel")
}

// authenticate finds who a request acts as: a verified client certificate
// whose common name the configuration maps to a role, else a bearer token.
func (s *Server) authenticate(r *http.Request) (*auth.Identity, error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(s.cfg.ClientRoles) > 0 {
		id, err := auth.IdentityFromCert(r.TLS.VerifiedChains[0][0], s.cfg.ClientRoles)
		if err == nil {
			return id, nil
		}
	}
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" {
		return nil, unauthenticated("no credentials: send Authorization: Bearer TOKEN")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, unauthenticated("the Authorization header is not a bearer token")
	}
	id, err := s.cfg.Tokens.Authenticate(strings.TrimSpace(secret))
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			return nil, unauthenticated("the token is unknown, revoked or malformed")
		}
		return nil, err
	}
	return id, nil
}

// cleanPaths refuses a request whose path is not clean (dot segments,
// doubled slashes) with a JSON error, where the mux would redirect it.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "" || p[0] != '/' || strings.Contains(p, "//") || hasDotSegment(p) || strings.ContainsRune(r.URL.RawPath, '\\') {
			writeJSONError(w, http.StatusBadRequest, "bad_path", fmt.Sprintf("path %q is not clean: no dot segments or empty segments", p), nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ *auth.Identity) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz reports whether the agent can do its job: the log has not failed
// its verification and answers with a checkpoint covering every entry
// that verifies with its key, the store answers, the key signs.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *auth.Identity) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	if s.cfg.Log.Failed() != nil {
		checks["log"], ok = "failing", false // logged at Error when it failed
	} else if _, err := s.cfg.Log.Checkpoint(ctx); err != nil {
		checks["log"], ok = "failing", false
		s.log.Warn("readiness: log", "error", err)
	} else {
		checks["log"] = "ok"
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(ctx); err != nil {
			checks["store_and_key"], ok = "failing", false
			s.log.Warn("readiness", "error", err)
		} else {
			checks["store_and_key"] = "ok"
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	return writeJSON(w, status, map[string]any{"ready": ok, "checks": checks})
}

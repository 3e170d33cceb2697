package server

import (
	"context"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/chain"
)

// metrics are what /metrics exposes, on a registry of the server's own.
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	captures      *prometheus.CounterVec
	captureBytes  *prometheus.CounterVec
	captureTime   prometheus.Histogram
	jobsSubmitted *prometheus.CounterVec
	orders        prometheus.Counter
	disclosures   prometheus.Counter
	fixityFailed  prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	f := promauto{reg}
	m := &metrics{
		reg: reg,
		requests: f.counterVec("custos_api_requests_total", "API requests by route, method and status.",
			"route", "method", "status"),
		latency: f.histogramVec("custos_api_request_seconds", "API request latency by route and method.",
			prometheus.ExponentialBuckets(0.001, 2, 15), "route", "method"),
		captures:     f.counterVec("custos_captures_total", "Captures run, by outcome (completed, failed, error).", "outcome"),
		captureBytes: f.counterVec("custos_capture_bytes_total", "Bytes of items preserved, by where they went (store, spool).", "stored"),
		captureTime: f.histogram("custos_capture_seconds", "Capture duration.",
			prometheus.ExponentialBuckets(0.005, 2, 16)),
		jobsSubmitted: f.counterVec("custos_jobs_submitted_total", "Jobs submitted, by kind.", "kind"),
		orders:        f.counter("custos_orders_received_total", "Orders received through the API."),
		disclosures:   f.counter("custos_disclosures_total", "Disclosure packages built through the API."),
		fixityFailed:  f.counter("custos_fixity_failures_total", "Items whose fixity check failed."),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gaugeFunc("custos_jobs_queued", "Jobs waiting to run.", func() float64 { q, _ := s.jobs.Depth(); return float64(q) }),
		gaugeFunc("custos_jobs_running", "Jobs running.", func() float64 { _, r := s.jobs.Depth(); return float64(r) }),
		gaugeFunc("custos_log_entries", "Durable entries in the custody log.", func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := s.cfg.Log.Size(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}),
		gaugeFunc("custos_checkpoint_age_seconds", "Age of the newest published checkpoint file.", s.checkpointAge),
		gaugeFunc("custos_log_failed", "1 when a verification of the custody log found tampering: the log refuses writes until it is restored.", func() float64 {
			if s.cfg.Log.Failed() != nil {
				return 1
			}
			return 0
		}),
	)
	return m
}

// promauto makes metrics registered on one registry.
type promauto struct{ reg *prometheus.Registry }

func (p promauto) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	p.reg.MustRegister(c)
	return c
}

func (p promauto) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	p.reg.MustRegister(c)
	return c
}

func (p promauto) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	p.reg.MustRegister(h)
	return h
}

func (p promauto) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	p.reg.MustRegister(h)
	return h
}

func gaugeFunc(name, help string, f func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
}

// checkpointAge is how long ago the log's checkpoint file was written.
func (s *Server) checkpointAge() float64 {
	fi, err := fs.Stat(s.cfg.Log.FS(), chain.CheckpointPath)
	if err != nil {
		return -1
	}
	return s.cfg.Now().Sub(fi.ModTime()).Seconds()
}

// captured counts a capture's outcome and bytes.
func (m *metrics) captured(rep *capture.Report, err error, d time.Duration) {
	m.captureTime.Observe(d.Seconds())
	switch {
	case rep == nil || err != nil:
		m.captures.WithLabelValues("error").Inc()
		return
	case rep.Failed():
		m.captures.WithLabelValues("failed").Inc()
	default:
		m.captures.WithLabelValues("completed").Inc()
	}
	for _, it := range rep.Items {
		if it.Err != nil || it.Duplicate {
			continue
		}
		where := "store"
		if it.Spooled {
			where = "spool"
		}
		m.captureBytes.WithLabelValues(where).Add(float64(it.Size))
	}
}

// route wraps the handler of one route to count and time its requests
// under the route's pattern (never the raw path, whose ids are unbounded).
func (m *metrics) route(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if outer, ok := w.(*statusWriter); ok {
			outer.routed = true
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(pattern, knownMethod(r.Method), strconv.Itoa(sw.status)).Inc()
		m.latency.WithLabelValues(pattern, knownMethod(r.Method)).Observe(time.Since(start).Seconds())
	})
}

// instrument counts the requests no route took (unknown paths, bad
// methods, unclean paths) under the route "other".
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if !sw.routed {
			m.requests.WithLabelValues("other", knownMethod(r.Method), strconv.Itoa(sw.status)).Inc()
		}
	})
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request, _ *auth.Identity) error {
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// knownMethod keeps a label's values bounded: a method a client made up
// is counted as "other".
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
	routed bool
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// The kinds of job.
const (
	kindCapture = "capture"
	kindFixity  = "fixity"
)

// maxWait bounds how long a request may wait for its job (?wait=).
const maxWait = api.MaxWait

// cutOff reads the cut-off of a capture request at now.
func cutOff(p api.CaptureRequest, now time.Time) (time.Time, error) {
	switch p.CutOff {
	case "":
		return time.Time{}, nil
	case "now":
		return now.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, p.CutOff)
	if err != nil {
		return time.Time{}, fmt.Errorf("cut_off %q: not an RFC 3339 time or now", p.CutOff)
	}
	return t.UTC(), nil
}

// createCapture queues a capture of the request's order. What can be
// checked now is checked now (the order may be captured, the sources
// exist, the cut-off reads), so a bad request queues nothing. With
// ?wait=DURATION the answer waits for the job to end, at most that long.
func (s *Server) createCapture(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var p api.CaptureRequest
	if err := decode(r, &p, true); err != nil {
		return err
	}
	wait, err := waitParam(r)
	if err != nil {
		return err
	}
	cut, err := cutOff(p, s.cfg.Now())
	if err != nil {
		return badRequest("%v", err)
	}
	if p.CutOff == "now" {
		p.CutOff = cut.Format(time.RFC3339Nano) // the time of the request, not of the run
	}
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	if !v.Order.Status.CanCapture() {
		return fmt.Errorf("order %s is %s: no capture can run for it: %w", v.Order.ID, v.Order.Status, order.ErrIllegalTransition)
	}
	if _, err := s.sources(v.Order, p.Sources); err != nil {
		return badRequest("%v", err)
	}
	j, err := s.jobs.Submit(r.Context(), kindCapture, v.Order.ID, p, id.String())
	if err != nil {
		return err
	}
	s.metrics.jobsSubmitted.WithLabelValues(kindCapture).Inc()
	return s.answerJob(w, r, j, wait)
}

// waitParam reads ?wait=DURATION (or seconds), at most maxWait.
func waitParam(r *http.Request) (time.Duration, error) {
	q := r.URL.Query().Get("wait")
	if q == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(q)
	if err != nil {
		n, nerr := strconv.Atoi(q)
		if nerr != nil {
			return 0, badRequest("wait %q: a duration such as 30s", q)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || d > maxWait {
		return 0, badRequest("wait %q: between 0 and %s", q, maxWait)
	}
	return d, nil
}

// sources selects the connectors of a capture of o among the configured
// sources: those named, or, with none named, those serving the order.
func (s *Server) sources(o *order.Order, names []string) ([]capture.NamedSource, error) {
	if s.cfg.Sources == nil {
		return nil, errors.New("no sources are configured")
	}
	for _, n := range names {
		if strings.Contains(n, "://") {
			return nil, fmt.Errorf("source %q: the API captures configured sources only, by name", n)
		}
	}
	return capture.Catalog{Configured: s.cfg.Sources}.Select(o, names)
}

// runCapture is the runner of capture jobs. A capture that left items or
// sources not preserved is an error worth retrying: the next attempt
// stores nothing twice and tries what failed again.
func (s *Server) runCapture(ctx context.Context, j *jobs.Job, progress func(done, total int64)) (any, error) {
	var p api.CaptureRequest
	if err := json.Unmarshal(j.Params, &p); err != nil {
		return nil, jobs.Permanent(fmt.Errorf("job %s: parameters: %w", j.ID, err))
	}
	cut, err := cutOff(p, s.cfg.Now())
	if err != nil {
		return nil, jobs.Permanent(err)
	}
	v, err := s.cfg.Registry.Get(ctx, j.Order)
	if err != nil {
		return nil, permanentUnless(err)
	}
	srcs, err := s.sources(v.Order, p.Sources)
	if err != nil {
		return nil, jobs.Permanent(err)
	}
	var done atomic.Int64
	start := time.Now()
	rep, err := s.cfg.Registry.Capture(ctx, j.Order, agent.CaptureOptions{
		Sources: srcs, CutOff: cut, Actor: j.Identity,
		Progress: func(n int) { progress(done.Add(int64(n)), 0) },
	})
	s.metrics.captured(rep, err, time.Since(start))
	if rep == nil {
		return nil, permanentUnless(err)
	}
	sum := api.CaptureSummaryOf(j.Order, rep)
	if err != nil {
		return sum, permanentUnless(err)
	}
	if rep.Failed() {
		return sum, fmt.Errorf("capture %s: not preserved: %s", rep.ID, strings.Join(rep.Failures(), "; "))
	}
	return sum, nil
}

// permanentUnless marks err permanent unless it is worth retrying.
func permanentUnless(err error) error {
	if retryable(err) {
		return err
	}
	return jobs.Permanent(err)
}

// retryable says which failures of a job a later attempt may not meet:
// the store or a source unavailable, a deadline. Bad parameters, illegal
// steps and tampering are not.
func retryable(err error) bool {
	var ve *order.ValidationError
	switch {
	case err == nil, errors.As(err, &ve), errors.Is(err, agent.ErrNoOrder), errors.Is(err, order.ErrIllegalTransition),
		errors.Is(err, chain.ErrTamper), errors.Is(err, context.Canceled):
		return false
	}
	return true
}

func (s *Server) job(r *http.Request, id *auth.Identity) (*jobs.Job, error) {
	j, err := s.jobs.Get(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if j.Order != "" && !s.maySee(r.Context(), j.Order, id) {
		return nil, notFound("job %s: %v", j.ID, jobs.ErrNoJob)
	}
	return j, nil
}

// getJob answers with a job; with ?wait=DURATION, once it has ended or
// that long has passed, whichever comes first.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	wait, err := waitParam(r)
	if err != nil {
		return err
	}
	j, err := s.job(r, id)
	if err != nil {
		return err
	}
	if j, err = s.waitJob(r, j, wait); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

// waitJob waits up to wait for job j to end and returns it as it then
// stands, ended or not.
func (s *Server) waitJob(r *http.Request, j *jobs.Job, wait time.Duration) (*jobs.Job, error) {
	if wait <= 0 || j.State.Terminal() {
		return j, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	if done, err := s.jobs.Wait(ctx, j.ID); err == nil {
		return done, nil
	} else if r.Context().Err() != nil {
		return nil, err
	}
	return s.jobs.Get(j.ID)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	order := r.URL.Query().Get("order")
	if order != "" {
		if err := chain.ValidateOrderID(order); err != nil {
			return badRequest("order: %v", err)
		}
	}
	out := []*jobs.Job{}
	seen := map[string]bool{}
	for _, j := range s.jobs.List(order) {
		if j.Order != "" {
			ok, known := seen[j.Order]
			if !known {
				ok = s.maySee(r.Context(), j.Order, id)
				seen[j.Order] = ok
			}
			if !ok {
				continue
			}
		}
		out = append(out, j)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	j, err := s.job(r, id)
	if err != nil {
		return err
	}
	if j, err = s.jobs.Cancel(r.Context(), j.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

// createFixity queues a fixity run over the items of the request's order:
// each is read back through the store, re-hashed and compared with the
// log, and fixity.verified or fixity.failed is logged for it.
func (s *Server) createFixity(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	if err := decode(r, &struct{}{}, true); err != nil {
		return err
	}
	wait, err := waitParam(r)
	if err != nil {
		return err
	}
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	j, err := s.jobs.Submit(r.Context(), kindFixity, v.Order.ID, struct{}{}, id.String())
	if err != nil {
		return err
	}
	s.metrics.jobsSubmitted.WithLabelValues(kindFixity).Inc()
	return s.answerJob(w, r, j, wait)
}

// runFixity is the runner of fixity jobs. Items found missing or altered
// do not fail the job (the run did its work); they are its result, a
// metric, and an error line in the agent's log.
func (s *Server) runFixity(ctx context.Context, j *jobs.Job, progress func(done, total int64)) (any, error) {
	items, err := s.cfg.Registry.LoggedItems(ctx, j.Order)
	if err != nil {
		return nil, permanentUnless(err)
	}
	var total, done int64
	for _, it := range items {
		total += max(it.Size, 0)
	}
	fx := &capture.Fixity{Store: s.cfg.Registry.Store, Spool: s.spool(), Log: s.cfg.Log, Agent: s.cfg.Registry.Agent, Actor: j.Identity,
		Host: s.cfg.Registry.Host, Progress: func(n int) { done += int64(n); progress(done, total) }}
	rep := &api.FixityReport{Items: []api.FixityItem{}}
	for res, err := range fx.Run(ctx, items) {
		if err != nil {
			return rep, err // the store does not answer: the job tries again later
		}
		rep.Add(res)
		switch {
		case res.Err != nil:
			s.metrics.fixityFailed.Inc()
			s.log.Error("fixity failed: an item is missing or altered", "order", res.Item.Order, "key", res.Item.Key, "error", res.Err)
		case res.Unchecked != nil:
			s.log.Warn("fixity: an item could not be read and was not checked", "order", res.Item.Order, "key", res.Item.Key, "error", res.Unchecked)
		}
	}
	return rep, nil
}

// answerJob answers with a submitted job: at once (202), or with wait,
// once it has ended (200) or wait has passed (202).
func (s *Server) answerJob(w http.ResponseWriter, r *http.Request, j *jobs.Job, wait time.Duration) error {
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	if wait <= 0 {
		return writeJSON(w, http.StatusAccepted, j)
	}
	j, err := s.waitJob(r, j, wait)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if j.State.Terminal() {
		status = http.StatusOK
	}
	return writeJSON(w, status, j)
}

// spool is the registry's spool, where items sealed while the store was
// unreachable wait; nil when it has none.
func (s *Server) spool() capture.FixityStore {
	if c := s.cfg.Registry.Capturer; c != nil && c.Spool != nil {
		return c.Spool
	}
	return nil
}

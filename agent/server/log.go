package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/chain"
)

// Events are listed a page at a time.
const (
	defaultEventPage = 100
	maxEventPage     = 1000
)

func queryUint(r *http.Request, name string, def uint64) (uint64, error) {
	q := r.URL.Query().Get(name)
	if q == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(q, 10, 64)
	if err != nil {
		return 0, badRequest("%s %q: not a non-negative integer", name, q)
	}
	return n, nil
}

// listEvents pages through the custody log from ?from=, optionally of one
// ?order=. Events of orders the identity may not see are left out: their
// places stay empty, and the page's size counts them, as the signed
// checkpoint the caller checks the log against does (see README, "What an
// auditor sees of confidential orders").
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	from, err := queryUint(r, "from", 0)
	if err != nil {
		return err
	}
	limit, err := queryUint(r, "limit", defaultEventPage)
	if err != nil {
		return err
	}
	if limit == 0 || limit > maxEventPage {
		return badRequest("limit %d: between 1 and %d", limit, maxEventPage)
	}
	order := r.URL.Query().Get("order")
	if order != "" {
		if err := chain.ValidateOrderID(order); err != nil {
			return badRequest("order: %v", err)
		}
	}
	size, err := s.cfg.Log.Size(r.Context())
	if err != nil {
		return err
	}
	page := api.EventPage{Events: []api.Event{}, Next: from, Size: size}
	seen := map[string]bool{}
	for rec, err := range chain.Entries(r.Context(), s.cfg.Log.FS(), min(from, size), size) {
		if err != nil {
			return err
		}
		page.Next = rec.Index + 1
		e := rec.Event
		if (order != "" && e.Order != order) || !s.mayReadEvent(r, id, e, seen) {
			continue
		}
		page.Events = append(page.Events, api.Event{Index: rec.Index, Event: rec.Encoded})
		if uint64(len(page.Events)) == limit {
			break
		}
	}
	return writeJSON(w, http.StatusOK, page)
}

// mayReadEvent reports whether id may read e: an event of an order only if
// it may see the order, seen caching the answer per order.
func (s *Server) mayReadEvent(r *http.Request, id *auth.Identity, e *chain.Event, seen map[string]bool) bool {
	if e.Order == "" {
		return true
	}
	ok, known := seen[e.Order]
	if !known {
		v, err := s.cfg.Registry.Get(r.Context(), e.Order)
		switch {
		case err == nil:
			ok = visible(v.Order, id)
		case errors.Is(err, agent.ErrNoOrder):
			// An id no order backs (a note written before the order
			// arrived): no one is kept from it but by the route, which
			// only auditors read.
			ok = true
		default:
			// A record that cannot be read: only an order received as
			// not confidential shows its events.
			ok = !s.cfg.Registry.ReceivedConfidential(r.Context(), e.Order)
		}
		seen[e.Order] = ok
	}
	return ok
}

// checkpoint answers with the newest signed checkpoint covering every
// durable entry, as the C2SP signed note it is.
func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request, _ *auth.Identity) error {
	cp, err := s.cfg.Log.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	return writeText(w, cp.Raw)
}

// inclusionProof answers with the C2SP tlog-proof of entry {index}
// against the newest checkpoint.
func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request, _ *auth.Identity) error {
	index, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		return badRequest("index %q: not a log index", r.PathValue("index"))
	}
	size, err := s.cfg.Log.Size(r.Context())
	if err != nil {
		return err
	}
	if index >= size {
		return notFound("entry %d does not exist: the log has %d entries", index, size)
	}
	p, err := s.cfg.Log.Prove(r.Context(), index)
	if err != nil {
		return err
	}
	text, err := chain.FormatProof(p)
	if err != nil {
		return err
	}
	return writeText(w, text)
}

// consistencyProof answers with the hashes proving that the kept
// checkpoint of size ?new= extends the one of size ?old=, one base64 hash
// a line, as `custos log prove --consistency` prints them.
func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request, _ *auth.Identity) error {
	older, err := queryUint(r, "old", 0)
	if err != nil {
		return err
	}
	newer, err := queryUint(r, "new", 0)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if !q.Has("old") || !q.Has("new") || older > newer {
		return badRequest("give ?old=SIZE&new=SIZE, two kept checkpoint sizes with old <= new")
	}
	kept, err := chain.KeptCheckpointSizes(s.cfg.Log.FS())
	if err != nil {
		return err
	}
	for _, n := range []uint64{older, newer} {
		if !containsSize(kept, n) {
			return notFound("no kept checkpoint of size %d", n)
		}
	}
	hashes, err := chain.BuildConsistencyProof(r.Context(), s.cfg.Log.FS(), older, newer)
	if err != nil {
		return fmt.Errorf("consistency %d→%d: %w", older, newer, err)
	}
	var b bytes.Buffer
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	return writeText(w, b.Bytes())
}

func containsSize(sizes []uint64, n uint64) bool {
	for _, k := range sizes {
		if k == n {
			return true
		}
	}
	return false
}

func writeText(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

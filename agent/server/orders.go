package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// maxOrderBody bounds an order's JSON (the order file limit).
const maxOrderBody = order.MaxSize

func (s *Server) deadline(o *order.Order) order.Deadline {
	return s.cfg.Registry.Deadline(o, s.cfg.Now())
}

func detail(ctx context.Context, s *Server, v *agent.OrderView) (*api.OrderDetail, error) {
	items, err := s.cfg.Registry.Items(ctx, v.State)
	if err != nil {
		return nil, err
	}
	return api.NewOrderDetail(v, s.deadline(v.Order), items, s.cfg.Now()), nil
}

// visible reports whether id may see order o (see order.Order.Visible).
func visible(o *order.Order, id *auth.Identity) bool {
	return o.Visible(id.Name, string(id.Role))
}

// maySee reports whether id may see order oid: it exists, its record can
// be read, and it is visible to id. What hangs off an order (jobs,
// disclosures) is shown only to those who may see the order.
func (s *Server) maySee(ctx context.Context, oid string, id *auth.Identity) bool {
	v, err := s.cfg.Registry.Get(ctx, oid)
	return err == nil && visible(v.Order, id)
}

// order returns order {id} of the request as id may see it: an invalid id
// is a 400, and an order id may not see is as absent as one that does not
// exist.
func (s *Server) order(ctx context.Context, r *http.Request, id *auth.Identity) (*agent.OrderView, error) {
	oid := r.PathValue("id")
	if err := chain.ValidateOrderID(oid); err != nil {
		return nil, badRequest("order id: %v", err)
	}
	v, err := s.cfg.Registry.Get(ctx, oid)
	if err != nil {
		return nil, s.hidden(ctx, oid, err)
	}
	if !visible(v.Order, id) {
		return nil, notFound("order %s: %v", oid, agent.ErrNoOrder)
	}
	return v, nil
}

// hidden is the error a caller gets for an order whose record cannot be
// read: the error itself (tampering, a store that does not answer) for an
// order received as not confidential; for one received confidential, the
// same 404 as for an order the caller may not see, since who may see it is
// in the record that cannot be read. The agent's log has the error.
func (s *Server) hidden(ctx context.Context, oid string, err error) error {
	if errors.Is(err, agent.ErrNoOrder) || !s.cfg.Registry.ReceivedConfidential(ctx, oid) {
		return err
	}
	s.log.Error("the record of a confidential order cannot be read", "order", oid, "error", err)
	return notFound("order %s: %v", oid, agent.ErrNoOrder)
}

// createOrder receives an order: the body is an order file in JSON (the
// fields of `custos order add --file`), or multipart/form-data with that
// JSON as the part "order" and the order document (PDF, email, scan) as
// the part "document", preserved as an item of the order. A confidential
// order with no one assigned is assigned to the identity that created it.
func (s *Server) createOrder(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var (
		body []byte
		doc  *agent.Document
		err  error
	)
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "multipart/form-data") {
		var cleanup func()
		body, doc, cleanup, err = s.readUpload(r)
		if cleanup != nil {
			defer cleanup()
		}
	} else {
		if ct != "" && !isJSON(ct) {
			return newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the order as application/json (or multipart/form-data with a document), not %s", ct)
		}
		body, err = readOrderJSON(r.Body)
	}
	if err != nil {
		return err
	}
	draft, err := order.ParseFile(body, s.cfg.Now())
	var ve *order.ValidationError
	switch {
	case err != nil && !errors.As(err, &ve):
		// ParseFile reads only what the client sent: whatever it
		// refuses is the client's to mend.
		return newError(http.StatusBadRequest, "invalid_order", "%v", err)
	case err != nil:
		return err
	}
	if draft.Confidentiality.Confidential && len(draft.Confidentiality.Assigned) == 0 {
		draft.Confidentiality.Assigned = []string{id.Name}
	}
	res, err := s.cfg.Registry.Add(r.Context(), draft, doc, id.String())
	if res == nil {
		return err
	}
	s.metrics.orders.Inc()
	s.verifiedChannel(r, res.Order.ID, id)
	w.Header().Set("Location", "/v1/orders/"+res.Order.ID)
	if err != nil {
		// Received all the same (its deadline runs from receipt); the
		// document's failure is the log's capture.failed and this header.
		s.log.Error("order received, its document not preserved", "order", res.Order.ID, "error", err)
		w.Header().Set(api.DocumentErrorHeader, oneLine(err.Error()))
	}
	return writeJSON(w, http.StatusCreated, res.Order)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// readOrderJSON reads an order's JSON, at most maxOrderBody bytes.
func readOrderJSON(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxOrderBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxOrderBody {
		return nil, newError(http.StatusRequestEntityTooLarge, "too_large", "the order is more than %d bytes", maxOrderBody)
	}
	return body, checkJSON(body)
}

// readUpload reads a multipart order: its JSON, and its document into a
// private directory under UploadDir, named as the client named it (its
// base name, made safe). cleanup removes the directory.
func (s *Server) readUpload(r *http.Request) (order []byte, doc *agent.Document, cleanup func(), err error) {
	if s.cfg.UploadDir == "" {
		return nil, nil, nil, newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "this agent takes no document uploads")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, nil, badRequest("multipart body: %v", err)
	}
	if err := os.MkdirAll(s.cfg.UploadDir, 0o700); err != nil {
		return nil, nil, nil, err
	}
	dir, err := os.MkdirTemp(s.cfg.UploadDir, "upload-")
	if err != nil {
		return nil, nil, nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, cleanup, badRequest("multipart body: %v", err)
		}
		switch p.FormName() {
		case "order":
			if order != nil {
				return nil, nil, cleanup, badRequest("two order parts")
			}
			if order, err = readOrderJSON(p); err != nil {
				return nil, nil, cleanup, err
			}
		case "document":
			if doc != nil {
				return nil, nil, cleanup, badRequest("two document parts")
			}
			if doc, err = s.saveUpload(dir, p); err != nil {
				return nil, nil, cleanup, err
			}
		default:
			return nil, nil, cleanup, badRequest("unknown part %q: want order and document", p.FormName())
		}
	}
	if order == nil {
		return nil, nil, cleanup, badRequest("the multipart body has no order part")
	}
	return order, doc, cleanup, nil
}

// maxUploadName bounds an uploaded document's name (a file system's is 255).
const maxUploadName = 100

// uploadName keeps a client's file name readable and harmless.
var uploadName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (s *Server) saveUpload(dir string, p *multipart.Part) (*agent.Document, error) {
	name := uploadName.ReplaceAllString(filepath.Base(p.FileName()), "_")
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		name = "document" + name
	}
	if len(name) > maxUploadName {
		// Keep the end: it holds the extension the media type comes from.
		name = name[len(name)-maxUploadName:]
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(p, s.cfg.MaxDocument+1))
	if err != nil {
		return nil, err
	}
	if n > s.cfg.MaxDocument {
		return nil, newError(http.StatusRequestEntityTooLarge, "too_large", "the document is more than %d bytes", s.cfg.MaxDocument)
	}
	if n == 0 {
		return nil, badRequest("the document is empty")
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return &agent.Document{Path: path}, nil
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	status := r.URL.Query().Get("status")
	if status != "" {
		if _, err := order.ParseStatus(status); err != nil {
			return badRequest("status: %v", err)
		}
	}
	views, problems, err := s.cfg.Registry.ListReadable(r.Context())
	if err != nil {
		return err
	}
	for oid, perr := range problems {
		// Left out of the list, loudly: one bad record must not hide the
		// others, nor show a confidential order's id.
		s.log.Error("order record cannot be read; left out of the order list", "order", oid, "error", perr)
	}
	out := []api.OrderSummary{}
	for _, v := range views {
		if !visible(v.Order, id) || (status != "" && string(v.Order.Status) != status) {
			continue
		}
		out = append(out, api.NewOrderSummary(v, s.deadline(v.Order), s.cfg.Now()))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	d, err := detail(r.Context(), s, v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// step runs a lifecycle step on the request's order and answers with its
// api.StepResult, as `custos order ... --output json` prints it. A step
// needs a legal basis (needBasis) or else a reason.
func (s *Server) step(w http.ResponseWriter, r *http.Request, id *auth.Identity, needBasis bool,
	run func(ctx context.Context, o *order.Order, b api.StepRequest) (*api.StepResult, error)) error {
	var b api.StepRequest
	if err := decode(r, &b, !needBasis); err != nil {
		return err
	}
	switch {
	case needBasis && b.LegalBasis == "":
		return badRequest("legal_basis is required")
	case needBasis && b.Reason != "":
		return badRequest("reason: this step takes a legal_basis, not a reason")
	case !needBasis && (b.LegalBasis != "" || b.Expires != ""):
		return badRequest("legal_basis, expires: this step takes a reason only")
	}
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	if !needBasis && b.Reason == "" {
		return badRequest("reason is required")
	}
	res, err := run(r.Context(), v.Order, b)
	if err != nil {
		return err
	}
	if res.Store != nil && len(res.Store.Missing) > 0 {
		s.log.Error("tampering detected: objects the custody log names are missing from the store",
			"order", v.Order.ID, "missing", res.Store.Missing)
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) extendOrder(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	return s.step(w, r, id, true, func(ctx context.Context, o *order.Order, b api.StepRequest) (*api.StepResult, error) {
		var until time.Time
		if b.Expires != "" {
			t, err := order.ParseExpiry(b.Expires, o.ExpiresAt)
			if err != nil {
				return nil, badRequest("expires: %v", err)
			}
			until = t
		}
		n, rep, err := s.cfg.Registry.Extend(ctx, o.ID, until, b.LegalBasis, id.String())
		return api.NewStepResult(n, rep), err
	})
}

func (s *Server) holdOrder(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	return s.step(w, r, id, true, func(ctx context.Context, o *order.Order, b api.StepRequest) (*api.StepResult, error) {
		if b.Expires != "" {
			return nil, badRequest("expires: a hold has no fixed end (extend the order to move its expiry)")
		}
		n, rep, err := s.cfg.Registry.Hold(ctx, o.ID, b.LegalBasis, id.String())
		return api.NewStepResult(n, rep), err
	})
}

func (s *Server) liftHold(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	return s.step(w, r, id, false, func(ctx context.Context, o *order.Order, b api.StepRequest) (*api.StepResult, error) {
		n, rep, err := s.cfg.Registry.LiftHold(ctx, o.ID, b.Reason, id.String())
		return api.NewStepResult(n, rep), err
	})
}

func (s *Server) releaseOrder(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	return s.step(w, r, id, false, func(ctx context.Context, o *order.Order, b api.StepRequest) (*api.StepResult, error) {
		n, err := s.cfg.Registry.Release(ctx, o.ID, b.Reason, id.String())
		return api.NewStepResult(n, nil), err
	})
}

func (s *Server) purgeOrder(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	return s.step(w, r, id, false, func(ctx context.Context, o *order.Order, b api.StepRequest) (*api.StepResult, error) {
		rep, err := s.cfg.Registry.Purge(ctx, o.ID, b.Reason, id.String())
		if err != nil {
			return nil, err
		}
		return api.NewPurgeResult(rep), nil
	})
}

// readItem streams an item's content, read back through the store (which
// re-hashes it), after logging item.accessed naming who asked: a read of
// evidence is a custody event, and one that cannot be logged does not
// happen.
func (s *Server) readItem(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	sum := r.PathValue("sha256")
	it, err := s.cfg.Registry.Item(r.Context(), v.State, sum)
	if err != nil {
		return err
	}
	if it == nil {
		return notFound("order %s holds no item %q", v.Order.ID, sum)
	}
	dg, key := it.Digest, it.Key
	if it.Spooled {
		return newError(http.StatusServiceUnavailable, "unavailable", "item %s is sealed in the local spool and reaches the store when it answers; try again then", sum)
	}
	rc, info, err := s.cfg.Registry.Store.Get(r.Context(), key)
	if errors.Is(err, storage.ErrNotExist) {
		err = fmt.Errorf("item %s: the custody log holds it and the store does not: %w", key, chain.ErrTamper)
	}
	if err != nil {
		return fmt.Errorf("read item %s: %w", key, err)
	}
	defer rc.Close()
	e := chain.Event{Type: chain.ItemAccessed, Time: s.cfg.Now().UTC(), Order: v.Order.ID, Actor: id.String(),
		Agent: s.cfg.Registry.Agent, Host: s.cfg.Registry.Host, Authority: v.Order.LegalBasis,
		Items: []chain.Digest{dg}, Details: map[string]string{"key": key, "via": "api"}}
	if _, err := s.cfg.Log.Append(r.Context(), e); err != nil {
		return fmt.Errorf("read item %s: log the access: %w", key, err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(info.Size))
	w.Header().Set("Digest", "sha-256="+sum)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := copyVerified(w, rc); err != nil {
		// The status is sent: the answer is cut off (the client sees fewer
		// bytes than Content-Length), and the log says why.
		s.log.Error("item read failed mid-stream; answer cut off", "order", v.Order.ID, "key", key, "error", err)
		if errors.Is(err, chain.ErrTamper) {
			s.recordTamper(r.Context(), v.Order.ID, dg, key, err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// copyVerified copies the store's reader to w, holding back the last
// chunk until the reader ends cleanly: the store checks the digest only at
// the end, and an altered item must not reach the client whole.
func copyVerified(w io.Writer, r io.Reader) error {
	cur, next := make([]byte, 256<<10), make([]byte, 256<<10)
	n, err := io.ReadFull(r, cur)
	for {
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			// cur[:n] is the end, and the reader ended cleanly.
			_, werr := w.Write(cur[:n])
			return werr
		case err != nil:
			return err
		}
		m, nerr := io.ReadFull(r, next)
		if nerr != nil && !errors.Is(nerr, io.EOF) && !errors.Is(nerr, io.ErrUnexpectedEOF) {
			return nerr
		}
		if _, werr := w.Write(cur[:n]); werr != nil {
			return werr
		}
		cur, next, n, err = next, cur, m, nerr
	}
}

// recordTamper logs fixity.failed for an item found altered or missing
// while it was read.
func (s *Server) recordTamper(ctx context.Context, order string, dg chain.Digest, key string, cause error) {
	e := chain.Event{Type: chain.FixityFailed, Time: s.cfg.Now().UTC(), Order: order, Actor: s.cfg.Registry.Agent,
		Agent: s.cfg.Registry.Agent, Host: s.cfg.Registry.Host, Items: []chain.Digest{dg},
		Reason: cause.Error(), Details: map[string]string{"key": key, "via": "api read"}}
	if _, err := s.cfg.Log.Append(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("fixity.failed not logged", "order", order, "key", key, "error", err)
	}
	s.metrics.fixityFailed.Inc()
}

// isJSON reports whether a Content-Type is JSON.
func isJSON(ct string) bool { return strings.HasPrefix(ct, "application/json") }

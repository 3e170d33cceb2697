package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/order"
)

// maxFormBody bounds a form's request body: the form, and room to say it
// is too large rather than cut it.
const maxFormBody = order.MaxFormSize + 64<<10

// importForm receives an EU form: the body is its XML (application/xml),
// at most order.MaxFormSize bytes. An EPOC-PR or EPOC becomes an order
// (201, assigned to the identity when confidential), the XML its document
// item; an Annex V or VI holds or extends the order it names (200). A
// refused form is a 400 invalid_form naming its fields, and nothing is
// recorded.
func (s *Server) importForm(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isXML(ct) {
		return newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the form as application/xml, not %s", ct)
	}
	if s.cfg.UploadDir == "" {
		return newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "this agent takes no document uploads")
	}
	path, cleanup, err := s.saveForm(r.Body)
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		return err
	}
	res, err := s.cfg.Registry.Import(r.Context(), &agent.Document{Path: path}, agent.ImportOptions{Actor: id.String(), Assign: []string{id.Name}})
	if res == nil {
		return err
	}
	status := http.StatusOK
	if !res.Applied {
		s.metrics.orders.Inc()
		s.verifiedChannel(r, res.Order.ID, id)
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/orders/"+res.Order.ID)
	}
	if err != nil {
		s.log.Error("order received, its form not preserved", "order", res.Order.ID, "error", err)
		w.Header().Set(api.DocumentErrorHeader, oneLine(err.Error()))
	}
	return writeJSON(w, status, api.NewImportResult(res))
}

func isXML(ct string) bool {
	base, _, _ := strings.Cut(ct, ";")
	base = strings.ToLower(strings.TrimSpace(base))
	return base == "application/xml" || base == "text/xml"
}

// saveForm writes the form's XML to a private directory under UploadDir,
// for the registry to parse and preserve; cleanup removes it.
func (s *Server) saveForm(body io.Reader) (path string, cleanup func(), err error) {
	if err := os.MkdirAll(s.cfg.UploadDir, 0o700); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(s.cfg.UploadDir, "form-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "form.xml")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", cleanup, err
	}
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(body, order.MaxFormSize+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || n > order.MaxFormSize:
		return "", cleanup, newError(http.StatusRequestEntityTooLarge, "too_large", "the form is more than %d bytes", order.MaxFormSize)
	case err != nil:
		return "", cleanup, err
	case n == 0:
		return "", cleanup, badRequest("the form is empty")
	}
	return path, cleanup, f.Sync()
}

package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRoutes keeps openapi.json true to the server: every
// route is described with the roles it allows, and nothing else is.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	f := newFixture(t)
	var described []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			described = append(described, method+" "+path)
			i := slices.IndexFunc(f.srv.routes, func(r route) bool { return r.method == method && r.pattern == path })
			if i < 0 {
				t.Errorf("openapi.json describes %s %s, which the server does not serve", method, path)
				continue
			}
			rt := f.srv.routes[i]
			var want []string
			for _, r := range rt.roles {
				want = append(want, string(r))
			}
			var got []string
			if raw, ok := op.Extensions["x-custos-roles"].([]any); ok {
				for _, r := range raw {
					got = append(got, r.(string))
				}
			}
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: openapi.json gives roles %v, the server %v", method, path, got, want)
			}
			if open := op.Security != nil && len(*op.Security) == 0; open != (rt.roles == nil) {
				t.Errorf("%s %s: openapi.json says open=%v, the server authenticates=%v", method, path, open, rt.roles != nil)
			}
		}
	}
	served := f.srv.Routes()
	sort.Strings(described)
	sort.Strings(served)
	if !slices.Equal(described, served) {
		t.Errorf("routes and openapi.json differ:\nserved    %v\ndescribed %v", served, described)
	}
	// And the document served is this one.
	r := f.must(t, http.StatusOK, "", "GET", "/openapi.json", nil)
	if !bytes.Equal(r.body, openAPI) {
		t.Error("/openapi.json serves another document")
	}
}

// TestOpenAPIDescribesTheAnswers runs an order's life through a client
// that checks every request and answer against openapi.json.
func TestOpenAPIDescribesTheAnswers(t *testing.T) {
	f := newFixture(t)
	v := validateAnswers(t, f)
	t.Run("life", orderLife(f))
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/timestamps", nil)
	if v.checked < 20 {
		t.Fatalf("only %d answers checked", v.checked)
	}
	// Errors are described too.
	f.must(t, http.StatusUnauthorized, "", "GET", "/v1/orders", nil)
	f.must(t, http.StatusForbidden, "auditor", "POST", "/v1/orders", anOrder("x", false))
	f.must(t, http.StatusBadRequest, "intake", "POST", "/v1/orders", `{"reference":`)
}

// validateAnswers makes f's client check every request and answer
// against openapi.json.
func validateAnswers(t *testing.T, f *fixture) *validatingTransport {
	t.Helper()
	router, err := legacy.NewRouter(loadOpenAPI(t))
	if err != nil {
		t.Fatal(err)
	}
	v := &validatingTransport{t: t, router: router, next: f.http.Client().Transport}
	f.http.Client().Transport = v
	return v
}

// validatingTransport checks each request and its answer against the
// OpenAPI document.
type validatingTransport struct {
	t       *testing.T
	router  routers.Router
	next    http.RoundTripper
	checked int
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))

	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	check.URL.Host = "127.0.0.1:8420" // the server the document names
	route, params, err := v.router.FindRoute(check)
	if err != nil {
		v.t.Errorf("%s %s: not in openapi.json: %v", req.Method, req.URL.Path, err)
		return res, nil
	}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if res.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
			v.t.Errorf("%s %s: the request does not match openapi.json: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		v.t.Errorf("%s %s: answer %d does not match openapi.json: %v", req.Method, req.URL.Path, res.StatusCode, err)
	}
	v.checked++
	return res, nil
}

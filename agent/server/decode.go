package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decode reads one JSON value of the body into v: unknown fields, a key
// given twice in one object, trailing data and a body over the limit are
// errors. An empty body is allowed when optional is true (v keeps its zero
// value). Every body the API decodes goes through here (an order through
// checkJSON), so each refuses the same things the same way.
func decode(r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json, not %s", ct)
	}
	// The body is bounded by the route's limit (http.MaxBytesReader).
	body, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err // a 413
	case err != nil:
		return badRequest("the body could not be read: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("the request needs a JSON body")
	}
	if err := checkDuplicates(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return newError(http.StatusBadRequest, "malformed_json", "the body is not the JSON this operation takes: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newError(http.StatusBadRequest, "malformed_json", "the body holds more than one JSON value")
	}
	return nil
}

// checkJSON refuses an order that is not one JSON object, or that gives a
// key twice: ParseFile reads YAML too, and the API takes JSON only.
func checkJSON(body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		if err == nil {
			err = errors.New("null")
		}
		return newError(http.StatusBadRequest, "malformed_json", "the order is not a JSON object: %v", err)
	}
	return checkDuplicates(body)
}

// checkDuplicates refuses a JSON text in which one object holds the same
// key twice: encoding/json would keep the last silently, and a request
// must mean one thing. Keys that differ only in case count as the same,
// as encoding/json matches struct fields without regard to case.
func checkDuplicates(body []byte) error {
	if path, first := duplicateKey(body); path != "" {
		msg := fmt.Sprintf("key %q is given twice", path)
		if !strings.HasSuffix(path, first) {
			msg = fmt.Sprintf("key %q is given twice (also as %q)", path, first)
		}
		return newError(http.StatusBadRequest, "duplicate_key", "%s: give each key once", msg)
	}
	return nil
}

// jsonFrame is an object or array being read by duplicateKey.
type jsonFrame struct {
	keys    map[string]string // folded key → as first given; nil for an array
	wantKey bool              // an object expects a key (or its end) next
	key     string            // the object's key whose value is being read
	index   int               // the array's element being read
	path    string            // where the frame is: "", "selectors[0]"
}

// child is the path of the frame's current element.
func (f *jsonFrame) child() string {
	switch {
	case f == nil:
		return ""
	case f.keys == nil:
		return fmt.Sprintf("%s[%d]", f.path, f.index)
	case f.path == "":
		return f.key
	}
	return f.path + "." + f.key
}

// duplicateKey returns the path of the first key that repeats one of the
// same object (and that first key as given), or "" when there is none or
// data is not JSON (which the decoder then reports).
func duplicateKey(data []byte) (path, first string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*jsonFrame
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.keys != nil {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", ""
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.wantKey {
			k, ok := tok.(string)
			if !ok { // the object's end
				stack = stack[:len(stack)-1]
				valueDone()
				continue
			}
			top.key, top.wantKey = k, false
			if prev, seen := top.keys[strings.ToLower(k)]; seen {
				return top.child(), prev
			}
			top.keys[strings.ToLower(k)] = k
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &jsonFrame{keys: map[string]string{}, wantKey: true, path: top.child()})
		case json.Delim('['):
			stack = append(stack, &jsonFrame{path: top.child()})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

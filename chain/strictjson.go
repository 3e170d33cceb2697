package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// CheckJSONKeys checks the keys of the signed or verified JSON document b
// before it is decoded into a value of v's type (issue 18 item 3). Two
// parsers must never see two documents in one: so it refuses, in every
// object at every depth, a key given twice (one parser keeps the first,
// another the last), and two keys that differ only in case (Go's decoder
// folds case, most others do not); and it refuses a key that matches one
// of the names of v's type (its json tags, at any depth) only when case
// is folded, which Go would decode and a case-sensitive reader would
// ignore. Keys unknown to v's type are tolerated: DSSE and in-toto allow
// them, and they change nothing that is decoded.
func CheckJSONKeys(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := checkJSONValue(dec, reflect.TypeOf(v), 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

// maxJSONDepth bounds the nesting CheckJSONKeys follows.
const maxJSONDepth = 64

// checkJSONValue reads one value from dec, checking the keys of each
// object in it; t is the Go type it decodes into, nil when none is known.
func checkJSONValue(dec *json.Decoder, t reflect.Type, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("JSON nested more than %d deep", maxJSONDepth)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := checkJSONValue(dec, elem, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('{'):
		return checkJSONObject(dec, t, depth)
	}
	return nil
}

// checkJSONObject reads the rest of an object whose '{' was read.
func checkJSONObject(dec *json.Decoder, t reflect.Type, depth int) error {
	fields := structFields(t)
	var elem reflect.Type
	if t != nil && t.Kind() == reflect.Map {
		elem = t.Elem()
	}
	seen := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		folded := strings.ToLower(key)
		if first, dup := seen[folded]; dup {
			if first == key {
				return fmt.Errorf("duplicate key %q: refused, as readers differ on which one counts", key)
			}
			return fmt.Errorf("keys %q and %q differ only in case: refused, as readers differ on which one counts", first, key)
		}
		seen[folded] = key
		ft := elem
		if f, ok := fields[folded]; ok {
			if f.Name != key {
				return fmt.Errorf("key %q is not the field %q: keys are case-sensitive", key, f.Name)
			}
			ft = f.Type
		}
		if err := checkJSONValue(dec, ft, depth+1); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// structFields maps the lower-case JSON name of each of t's fields to its
// name and type; nil if t is not a struct.
func structFields(t reflect.Type) map[string]reflect.StructField {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[strings.ToLower(name)] = reflect.StructField{Name: name, Type: f.Type}
	}
	return out
}

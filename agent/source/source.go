// Package source holds the connectors: each reaches one kind of system
// that holds data an order names, streams what it finds as items, and
// records exactly what it ran and what it got, so that a court can see how
// every preserved byte was obtained.
//
// A connector never decides what is preserved: it yields items to the
// capture pipeline (package agent), which hashes, stores and logs them.
package source

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Selector is one typed identifier of an order (account, email, phone, ip,
// username, url, device); Value is as the order gives it.
type Selector struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Request is what one capture asks of a source.
type Request struct {
	Order      string     // the order's id
	Selectors  []Selector // whose data
	Categories []string   // subscriber, traffic, content
	From, To   time.Time  // the order's time window; zero: open
	// CutOff is the capture's cut-off: by default only data that existed
	// when the order was received is preserved. Connectors that can tell
	// (file times, log line times) skip and count newer data.
	CutOff time.Time
}

// Item is one unit a source yields.
type Item struct {
	// Name is a readable, relative, slash-separated name: the path under
	// the source's root, the URL path, "query.jsonl".
	Name      string
	MediaType string    // "" if unknown
	Modified  time.Time // zero if unknown
	// Record is exactly what was run and got for this item: path, size,
	// mode, mtime, owner; URL, status, response headers, TLS peer chain;
	// SQL text and parameters; argv, exit status, stderr. The source may
	// complete it while the content is read; it is final once the content
	// has returned io.EOF.
	Record map[string]any
}

// Emit receives one item and its content. It reads the content to the end
// (io.EOF) before it returns; an error from the content's Read means the
// item is not preserved, and the error says why.
type Emit func(item *Item, content io.Reader) error

// Summary records what a whole capture of a source did beyond its items:
// counts read, skipped as newer than the cut-off, filtered out.
type Summary map[string]any

// Source is one configured connector.
type Source interface {
	// Kind is the connector type: file, dir, http, command, postgres, s3,
	// logfilter.
	Kind() string
	// Capture runs the connector for req, passing each item to emit in
	// turn. It stops at the first error, of emit or its own, and returns
	// it; items emit accepted before stay accepted.
	Capture(ctx context.Context, req Request, emit Emit) (Summary, error)
}

// Config is a named source of the configuration (`sources:`): its type,
// the data categories it serves, and the connector's parameters.
type Config struct {
	Name       string
	Type       string
	Categories []string
	Params     map[string]any
}

// constructors lists the connector types. Each decodes its parameters
// with decodeParams, so that an unknown or mistyped parameter is refused,
// named.
var constructors = map[string]func(params map[string]any) (Source, error){
	"command": newCommand,
	"dir":     newDir,
	"file":    newFile,
	"http":    newHTTP,

	"logfilter": newLogfilter,
	"postgres":  newPostgres,
	"s3":        newS3,
}

// Kinds lists the connector types, sorted.
func Kinds() []string {
	var ks []string
	for k := range constructors {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// New makes the connector a configured source describes. Errors name the
// source and the parameter.
func New(cfg Config) (Source, error) {
	s, err := newSource(cfg)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", cfg.Name, err)
	}
	return s, nil
}

// Validate reports what New would refuse in cfg: an unknown type, an
// unknown or mistyped parameter, a relative path, a bad URL or template.
// It connects to nothing and runs nothing (an http source reads its
// ca_file). The error names the connector and the parameter, not the
// source, which the caller names its own way.
func Validate(cfg Config) error {
	_, err := newSource(cfg)
	return err
}

// EnvNames lists the environment variables of the agent that cfg's
// connector reads: every "env:NAME" value among its parameters (headers,
// a child's env, S3 keys) and postgres's dsn_env. It reads none of them.
func EnvNames(cfg Config) []string {
	var names []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if name, _ := envRef(x); name != "" {
				names = append(names, name)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case map[string]string:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(cfg.Params)
	if n, ok := cfg.Params["dsn_env"].(string); ok && cfg.Type == "postgres" && validEnvName(n) {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newSource(cfg Config) (Source, error) {
	mk, ok := constructors[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("unknown type %q (want one of %s)", cfg.Type, strings.Join(Kinds(), ", "))
	}
	return mk(cfg.Params)
}

// decodeParams fills dst (a pointer to a struct with json tags) from the
// configuration's parameters, refusing unknown ones.
func decodeParams(params map[string]any, dst any) error {
	b, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("parameters: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("parameters: %w", err)
	}
	return nil
}

// ConfigFromURI turns an ad-hoc source of `custos capture --source URI`
// into a Config: file:///path (a file, or a whole directory tree),
// http(s)://... (an export endpoint), s3://bucket/prefix (objects of a
// bucket; the endpoint and credentials come from the caller's defaults).
// A directory is told from a file by isDir.
func ConfigFromURI(uri string, isDir func(path string) bool) (Config, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return Config{}, fmt.Errorf("source %q: not a URI (file:///path, https://host/path, s3://bucket/prefix)", uri)
	}
	switch strings.ToLower(scheme) {
	case "file":
		if !strings.HasPrefix(rest, "/") {
			return Config{}, fmt.Errorf("source %q: a file URI names an absolute path (file:///path)", uri)
		}
		if isDir(rest) {
			return Config{Name: uri, Type: "dir", Params: map[string]any{"root": rest}}, nil
		}
		return Config{Name: uri, Type: "file", Params: map[string]any{"path": rest}}, nil
	case "http", "https":
		return Config{Name: uri, Type: "http", Params: map[string]any{"url": uri}}, nil
	case "s3":
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return Config{}, fmt.Errorf("source %q: no bucket (s3://bucket/prefix)", uri)
		}
		return Config{Name: uri, Type: "s3", Params: map[string]any{"bucket": bucket, "prefix": prefix}}, nil
	}
	return Config{}, fmt.Errorf("source %q: unknown scheme %q (file, http, https, s3)", uri, scheme)
}

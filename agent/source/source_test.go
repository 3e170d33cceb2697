package source

import (
	"slices"
	"strings"
	"testing"
)

func TestNewRefusesUnknownType(t *testing.T) {
	_, err := New(Config{Name: "mail", Type: "ftp"})
	if err == nil || !strings.Contains(err.Error(), `source "mail": unknown type "ftp"`) {
		t.Fatalf("unknown type: %v", err)
	}
}

func TestDecodeParamsRefusesUnknown(t *testing.T) {
	var p struct {
		Path string `json:"path"`
	}
	if err := decodeParams(map[string]any{"path": "/x"}, &p); err != nil || p.Path != "/x" {
		t.Fatalf("decode: %+v %v", p, err)
	}
	err := decodeParams(map[string]any{"paht": "/x"}, &p)
	if err == nil || !strings.Contains(err.Error(), `unknown field "paht"`) {
		t.Fatalf("unknown parameter: %v", err)
	}
	err = decodeParams(map[string]any{"path": 3}, &p)
	if err == nil || !strings.Contains(err.Error(), "path") {
		t.Fatalf("mistyped parameter: %v", err)
	}
}

func TestConfigFromURI(t *testing.T) {
	isDir := func(p string) bool { return p == "/srv/export" }
	for uri, want := range map[string]string{
		"file:///srv/export":        "dir root=/srv/export",
		"file:///srv/export/a.mbox": "file path=/srv/export/a.mbox",
		"https://export.internal/x": "http url=https://export.internal/x",
		"s3://mail-archive/2026/":   "s3 bucket=mail-archive prefix=2026/",
	} {
		c, err := ConfigFromURI(uri, isDir)
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		got := c.Type
		for _, k := range []string{"root", "path", "url", "bucket", "prefix"} {
			if v, ok := c.Params[k]; ok {
				got += " " + k + "=" + v.(string)
			}
		}
		if got != want {
			t.Errorf("%s: %s, want %s", uri, got, want)
		}
	}
	for _, bad := range []string{"/srv/export", "file://relative/path", "ftp://host/x", "s3:///prefix"} {
		if _, err := ConfigFromURI(bad, isDir); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: %v, want an error naming it", bad, err)
		}
	}
}

// TestValidate: what New refuses, Validate reports without the source's
// name; and EnvNames lists the variables a source reads.
func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "m", Type: "dir", Params: map[string]any{"root": "/srv/mail"}}, ""},
		{Config{Name: "m", Type: "dir", Params: map[string]any{"root": "srv/mail"}}, `dir: root "srv/mail" is not an absolute path`},
		{Config{Name: "m", Type: "dir", Params: map[string]any{"root": "/srv/mail", "rooot": "/x"}}, `dir: parameters: json: unknown field "rooot"`},
		{Config{Name: "m", Type: "ftp"}, `unknown type "ftp"`},
	} {
		err := Validate(c.cfg)
		if (c.want == "") != (err == nil) || (err != nil && (!strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), `"m"`))) {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	cfg := Config{Type: "command", Params: map[string]any{"argv": []any{"dump"}, "env": map[string]any{"TOKEN": "env:DUMP_TOKEN", "A": "1"}}}
	if got := EnvNames(cfg); !slices.Equal(got, []string{"DUMP_TOKEN"}) {
		t.Errorf("EnvNames(command) = %v", got)
	}
	cfg = Config{Type: "postgres", Params: map[string]any{"dsn_env": "PG_DSN", "query": "select 1"}}
	if got := EnvNames(cfg); !slices.Equal(got, []string{"PG_DSN"}) {
		t.Errorf("EnvNames(postgres) = %v", got)
	}
}

package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/custos-evidence/custos/chain"
)

// compileReportSchema compiles docs/verify-report.schema.json.
func compileReportSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "verify-report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("verify-report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("verify-report.schema.json")
	if err != nil {
		t.Fatalf("compile the schema: %v", err)
	}
	return sch, doc.(map[string]any)
}

// TestVerifyReportSchema runs custos verify --json on real packages, as
// disclosed, tampered with, refused, encrypted and with extra files, and
// validates every report against the published schema; the schema names
// every check a report can hold; and each event's raw bytes are enough to
// check it again: they decode to the event shown, and the next event's
// prev is their SHA-256 (issue 18 item 14).
func TestVerifyReportSchema(t *testing.T) {
	sch, doc := compileReportSchema(t)
	p := buildTamperPkgs(t)
	reports := map[string]string{}
	for _, tc := range []struct {
		name, from string
		change     func(t *testing.T, pkg string)
		code       int
	}{
		{"directory", "dir", nil, exitOK},
		{"encrypted", "age", nil, exitOK},
		{"tampered", "dir", func(t *testing.T, pkg string) {
			editPkgFile(t, pkg, "data/export/mail/a.eml", flipLowBitOfFirstByte)
		}, exitTamper},
		{"refused archive", "zip", func(t *testing.T, pkg string) {
			editPkgFile(t, pkg, "", func(b []byte) []byte { return append(b, "hidden"...) })
		}, exitTamper},
		{"extra files", "dir", func(t *testing.T, pkg string) {
			writeTree(t, pkg, map[string]string{".DS_Store": "Bud1"})
		}, exitExtra},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkg := p.copyPkg(t, tc.from)
			if tc.change != nil {
				tc.change(t, pkg)
			}
			code, stdout, stderr := verifyIn(t, p, pkg, p.key, "--json")
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(stdout))
			if err != nil {
				t.Fatalf("the report is not JSON: %v", err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Fatalf("the report does not conform to docs/verify-report.schema.json: %v\n%.3000s", err, stdout)
			}
			reports[tc.name] = stdout
		})
	}
	// Every check name a report holds is in the schema, and the schema
	// names no check that none of these reports holds.
	var documented []string
	for _, c := range doc["$defs"].(map[string]any)["checkName"].(map[string]any)["oneOf"].([]any) {
		c := c.(map[string]any)
		if d, _ := c["description"].(string); d == "" {
			t.Errorf("check %v has no meaning in the schema", c["const"])
		}
		documented = append(documented, c["const"].(string))
	}
	var seen []string
	for _, out := range reports {
		var r struct {
			Checks []struct{ Name string } `json:"checks"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Checks {
			if !slices.Contains(seen, c.Name) {
				seen = append(seen, c.Name)
			}
		}
	}
	slices.Sort(documented)
	slices.Sort(seen)
	if !slices.Equal(documented, seen) {
		t.Errorf("the schema documents the checks %v; reports hold %v", documented, seen)
	}
	checkRawEvents(t, reports["directory"])
}

// checkRawEvents checks a report's events from their raw bytes alone.
func checkRawEvents(t *testing.T, report string) {
	t.Helper()
	var r struct {
		Events []struct {
			Index uint64          `json:"index"`
			Event json.RawMessage `json:"event"`
			Raw   string          `json:"raw"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(report), &r); err != nil || len(r.Events) == 0 {
		t.Fatalf("events: %v", err)
	}
	prev := ""
	for _, e := range r.Events {
		raw, err := base64.StdEncoding.DecodeString(e.Raw)
		if err != nil {
			t.Fatalf("event %d: raw is not base64: %v", e.Index, err)
		}
		ev, err := chain.ParseEvent(raw)
		if err != nil {
			t.Fatalf("event %d: raw is not a canonical event: %v", e.Index, err)
		}
		shown, _ := json.Marshal(ev)
		var a, b any
		_ = json.Unmarshal(shown, &a)
		_ = json.Unmarshal(e.Event, &b)
		if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
			t.Fatalf("event %d: raw decodes to %s, the report shows %s", e.Index, ja, jb)
		}
		if prev != "" && ev.Prev != prev {
			t.Fatalf("event %d: prev %s, SHA-256 of the raw bytes before is %s", e.Index, ev.Prev, prev)
		}
		prev = chain.EventHash(raw)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

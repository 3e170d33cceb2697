package disclosure_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain/disclosure"
)

// docSection returns the text of docs/package.md under heading, up to the
// next heading of any level.
func docSection(t *testing.T, heading string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "package.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/package.md has no section %q", heading)
	}
	if i := regexp.MustCompile(`\n#{2,3} `).FindStringIndex(after); i != nil {
		after = after[:i[0]]
	}
	return after
}

// docBlocks returns the fenced blocks of section whose fence says lang
// ("" for a bare fence).
func docBlocks(section, lang string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)\n```"+regexp.QuoteMeta(lang)+"\n(.*?)```\n").FindAllStringSubmatch(section, -1) {
		out = append(out, m[1])
	}
	return out
}

// needTool fails under CI=true, where scripts/with-verify-tools.sh runs the
// tests, when name is not installed, and skips elsewhere.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true)", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

// The worked example of "Checking the events with standard tools" works
// on real packages (issue 18 item 12): its coreutils lines print what the
// page says they print on the golden batch package, and its Python lines
// check every event of both golden packages and refuse an event changed
// by one byte. README.txt says the leaf is the hash of the event's bytes,
// not of the line.
func TestDocEventsWorkedExample(t *testing.T) {
	needTool(t, "python3")
	needTool(t, "bash")
	section := docSection(t, "### Checking the events with standard tools")
	shell, py := docBlocks(section, ""), docBlocks(section, "python")
	if len(shell) != 1 || len(py) != 1 {
		t.Fatalf("the section has %d shell and %d Python blocks, want one of each", len(shell), len(py))
	}
	// The coreutils lines: each "$ command" and the lines after it, its output.
	var cmd string
	var want []string
	check := func() {
		if cmd == "" {
			return
		}
		c := exec.Command("bash", "-c", cmd)
		c.Dir = filepath.Join("testdata", "golden-batch")
		out, err := c.Output()
		if got := strings.TrimSuffix(string(out), "\n"); err != nil || got != strings.Join(want, "\n") {
			t.Errorf("$ %s\n%s (%v), the page says\n%s", cmd, got, err, strings.Join(want, "\n"))
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(shell[0], "\n"), "\n") {
		if c, ok := strings.CutPrefix(l, "$ "); ok {
			check()
			cmd, want = c, nil
		} else {
			want = append(want, l)
		}
	}
	check()

	run := func(dir string) (string, error) {
		c := exec.Command("python3", "-")
		c.Dir, c.Stdin = dir, strings.NewReader(py[0])
		out, err := c.CombinedOutput()
		return string(out), err
	}
	for _, name := range []string{"golden", "golden-batch"} {
		dir := filepath.Join("testdata", name)
		out, err := run(dir)
		if err != nil {
			t.Fatalf("%s: python3: %v\n%s", name, err, out)
		}
		var wantOut strings.Builder
		for _, l := range bytes.Split(bytes.TrimSuffix(readFile(t, dir, "custody/events.jsonl"), []byte("\n")), []byte("\n")) {
			idx := regexp.MustCompile(`^\{"index":([0-9]+),`).FindSubmatch(l)
			n, _ := strconv.Atoi(string(idx[1]))
			wantOut.WriteString(strconv.Itoa(n) + " OK\n")
		}
		if out != wantOut.String() {
			t.Errorf("%s: the documented check says\n%s\nwant\n%s", name, out, wantOut.String())
		}
		readme := string(readFile(t, dir, "README.txt"))
		if !strings.Contains(readme, "SHA-256(0x00 || E)") || !strings.Contains(readme, "not the") || strings.Contains(readme, "tlog-proofs of the lines") {
			t.Errorf("%s/README.txt does not say the leaf is the hash of the event's raw bytes:\n%s", name, readme)
		}
	}

	// The last event changed by one byte: its proof no longer leads to
	// the checkpoint.
	bad := t.TempDir()
	if err := os.CopyFS(bad, os.DirFS(filepath.Join("testdata", "golden-batch"))); err != nil {
		t.Fatal(err)
	}
	events := readFile(t, bad, "custody/events.jsonl")
	last := bytes.LastIndex(events, []byte(`"agent":"agent-1"`))
	events[last+len(`"agent":"agent-`)] = '2'
	if err := os.WriteFile(filepath.Join(bad, "custody", "events.jsonl"), events, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(bad); err != nil || !strings.HasSuffix(out, " DOES NOT MATCH the checkpoint\n") {
		t.Errorf("the documented check of an altered event: %v\n%s", err, out)
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// docs/package.md lists the fields the writer writes (issue 18 item 15):
// its table of the statement's predicate fields is exactly the fields of
// the golden packages' signed statements, its list of bag-info.txt labels
// is theirs in their order, and it shows the verify flag README.txt shows.
func TestDocMatchesWhatIsWritten(t *testing.T) {
	code := regexp.MustCompile("`([^`]+)`")
	docFields := map[string]bool{}
	var docFiles []string
	for _, l := range strings.Split(docSection(t, "## custody/"), "\n") {
		cells := strings.Split(strings.TrimSpace(l), "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			docFields[m[1]] = true
			if m[1] == "files" {
				for _, f := range code.FindAllStringSubmatch(cells[2], -1) {
					docFiles = strings.Split(strings.Trim(f[1], "{}"), ", ")
				}
			}
		}
	}
	written := map[string]bool{}
	var files []string
	for _, name := range []string{"golden", "golden-batch"} {
		var env struct{ Payload []byte }
		if err := json.Unmarshal(readFile(t, filepath.Join("testdata", name), "custody/attestation.dsse.json"), &env); err != nil {
			t.Fatal(err)
		}
		var st struct{ Predicate map[string]any }
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			t.Fatal(err)
		}
		flattenFields("", st.Predicate, written)
		files = files[:0]
		for f := range st.Predicate["files"].(map[string]any) {
			files = append(files, f)
		}
	}
	// The items' fields the golden contents leave empty (omitempty):
	// every field of disclosure.File.
	ft := reflect.TypeFor[disclosure.File]()
	for i := range ft.NumField() {
		tag, _, _ := strings.Cut(ft.Field(i).Tag.Get("json"), ",")
		written["items[]."+tag] = true
	}
	if !maps.Equal(docFields, written) {
		t.Errorf("docs/package.md's predicate fields\n%v\nthe statement's\n%v", slices.Sorted(maps.Keys(docFields)), slices.Sorted(maps.Keys(written)))
	}
	slices.Sort(files)
	slices.Sort(docFiles)
	if !slices.Equal(files, docFiles) {
		t.Errorf("docs/package.md's predicate files %v, the statement's %v", docFiles, files)
	}

	// bag-info.txt's labels, in order.
	_, bullet, _ := strings.Cut(docSection(t, "## The bag (RFC 8493, BagIt 1.0)"), "- `bag-info.txt`")
	bullet, _, _ = strings.Cut(bullet, "\n- ")
	bullet, _, _ = strings.Cut(bullet, "\n\n") // the list, not the paragraph on what signs each
	var docLabels, labels []string
	for _, m := range code.FindAllStringSubmatch(bullet, -1) {
		if regexp.MustCompile(`^[A-Z][A-Za-z]*(-[A-Z][A-Za-z]*)+$`).MatchString(m[1]) {
			docLabels = append(docLabels, m[1])
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(readFile(t, filepath.Join("testdata", "golden"), "bag-info.txt")), "\n"), "\n") {
		label, _, _ := strings.Cut(l, ":")
		labels = append(labels, label)
	}
	if !slices.Equal(docLabels, labels) {
		t.Errorf("docs/package.md's bag-info labels\n%v\nbag-info.txt's\n%v", docLabels, labels)
	}

	// The verify command README.txt shows.
	m := regexp.MustCompile(`custos verify \. --[a-z-]+`).FindString(string(readFile(t, filepath.Join("testdata", "golden"), "README.txt")))
	if m == "" || !strings.Contains(docSection(t, "## SHA256SUMS and README.txt"), "`"+m+" ") {
		t.Errorf("README.txt shows %q, which docs/package.md's README section does not", m)
	}
}

// flattenFields adds the names of v's fields to out: nested objects as
// a.b, arrays of objects as a[].b; the files map is one field.
func flattenFields(prefix string, v map[string]any, out map[string]bool) {
	for k, x := range v {
		name := prefix + k
		switch x := x.(type) {
		case map[string]any:
			if name != "files" {
				flattenFields(name+".", x, out)
				continue
			}
		case []any:
			if len(x) > 0 {
				if _, ok := x[0].(map[string]any); ok {
					for _, e := range x {
						flattenFields(name+"[].", e.(map[string]any), out)
					}
					continue
				}
			}
		}
		out[name] = true
	}
}

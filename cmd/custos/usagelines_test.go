package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/custos-evidence/custos/chain/tsatest"
)

// docLine is a custos command line shown in a document.
type docLine struct {
	where string // file:line
	text  string // as shown, continuation lines joined
}

// usageDocs are the documents whose command lines TestUsageLines runs,
// relative to cmd/custos. README.txt of a package is written from the
// template in write_text.go: its lines are read from there.
var usageDocs = []string{"../../README.md", "../../docs/*.md", "../../chain/disclosure/write_text.go"}

var inlineCommand = regexp.MustCompile("`(custos [^`]+)`")

// docLines reads the command lines of file: in a Markdown file those of its
// fenced blocks (a pipe of two commands is two lines) and its inline code
// spans that give more than a command's name; in a Go file the indented
// lines of its text templates.
func docLines(t *testing.T, file string) []docLine {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docLine
	isGo := strings.HasSuffix(file, ".go")
	fenced, pending, start := false, "", 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		where := fmt.Sprintf("%s:%d", filepath.Base(file), n)
		switch {
		case isGo:
			if s := strings.TrimSpace(line); strings.HasPrefix(line, " ") && strings.HasPrefix(s, "custos ") {
				out = append(out, docLine{where, s})
			}
		case strings.HasPrefix(line, "```"):
			fenced = !fenced
		case fenced:
			s := strings.TrimSpace(line)
			if pending == "" && !strings.HasPrefix(s, "custos ") {
				continue
			}
			if pending == "" {
				start = n
			}
			s = stripComment(s)
			if cont, ok := strings.CutSuffix(s, `\`); ok {
				pending += cont + " "
				continue
			}
			for _, cmd := range strings.Split(pending+s, " | ") {
				out = append(out, docLine{fmt.Sprintf("%s:%d", filepath.Base(file), start), strings.TrimSpace(cmd)})
			}
			pending = ""
		default:
			for _, m := range inlineCommand.FindAllStringSubmatch(line, -1) {
				if !isCommandName(m[1]) && isCommandLine(m[1]) {
					out = append(out, docLine{where, m[1]})
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stripComment removes a shell comment: a # after a space, outside quotes.
func stripComment(s string) string {
	quote := rune(0)
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && i > 0 && s[i-1] == ' ':
			return strings.TrimSpace(s[:i])
		}
	}
	return s
}

// isCommandLine says whether s names a command of custos.
func isCommandLine(s string) bool {
	app := newApp(&globalOptions{})
	f := strings.Fields(s)
	return len(f) > 1 && findCommand(app.Commands, f[1]) != nil
}

// isCommandName says whether s is only a command's name ("custos log
// verify"), as prose names one, rather than a command line.
func isCommandName(s string) bool {
	app := newApp(&globalOptions{})
	cmds := app.Commands
	for _, w := range strings.Fields(s)[1:] {
		c := findCommand(cmds, w)
		if c == nil {
			return false
		}
		cmds = c.Subcommands
	}
	return true
}

// usageFixture is what a documented command line's placeholders are
// filled in with: a data directory with a key, an order captured and
// disclosed, the package, the verifier key and an age identity.
type usageFixture struct {
	data, pkg, vkey, keyLine, identity, recipient, order, export string
	tsaRoots                                                     []byte // PEM roots of a test timestamp authority
}

func newUsageFixture(t *testing.T) *usageFixture {
	t.Helper()
	dir := t.TempDir()
	fx := &usageFixture{data: filepath.Join(dir, "data"), pkg: filepath.Join(dir, "pkg"), export: filepath.Join(dir, "export"),
		tsaRoots: tsatest.New(t, tsatest.Options{}).RootPEM()}
	t.Setenv("CUSTOS_DATA_DIR", fx.data)
	t.Setenv("CUSTOS_KEY_PASSPHRASE", testPassphrase)
	t.Setenv("CUSTOS_NEW_KEY_PASSPHRASE", testPassphrase+" rotated")
	t.Setenv("CUSTOS_ACTOR", "alice@example.net")
	t.Setenv("CUSTOS_LOG_CHECKPOINT_INTERVAL", "100ms")
	t.Setenv("CUSTOS_SERVER_LISTEN", "127.0.0.1:0")
	if err := os.MkdirAll(fx.export, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fx.export, "a.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// `custos capture ORDER` runs the configured sources.
	config := filepath.Join(dir, "custos.yaml")
	must(t, os.WriteFile(config, fmt.Appendf(nil, "sources:\n  export:\n    type: dir\n    categories: [content]\n    root: %s\n", fx.export), 0o644))
	t.Setenv("CUSTOS_CONFIG", config)
	must := func(args ...string) string {
		code, out, errOut := custos(context.Background(), args...)
		if code != 0 {
			t.Fatalf("custos %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return strings.TrimSpace(out)
	}
	must("keys", "generate")
	fx.order = must("order", "add", "--reference", "LE-1", "--authority", "Court", "--requesting-state", "FR",
		"--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:a@example.net", "--categories", "content")
	must("capture", fx.order)
	must("order", "verify-requester", "--method", "callback", "--result", "confirmed", "--note", "called the authority back", fx.order)
	must("disclose", "--out", fx.pkg, fx.order)
	fx.vkey = filepath.Join(fx.data, "keys", "custos.key.vkey")
	b, err := os.ReadFile(fx.vkey)
	if err != nil {
		t.Fatal(err)
	}
	fx.keyLine = strings.TrimSpace(string(b))
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	fx.identity, fx.recipient = filepath.Join(dir, "identity.txt"), id.Recipient().String()
	if err := os.WriteFile(fx.identity, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fx
}

// placeholder is a word of the docs that stands for a value.
var placeholder = regexp.MustCompile(`^[A-Z][A-Z0-9_]{2,}$|\.\.\.|%s|^T$`)

// orderPrefix is an example prefix of an order id.
var orderPrefix = regexp.MustCompile(`^0[0-7][0-9a-zA-Z]{2,23}$`)

// fill turns a documented command line into arguments: optional parts
// are given, the first of alternatives taken, placeholders filled in
// with fx's values (paths written into work).
func (fx *usageFixture) fill(t *testing.T, text, work string) []string {
	t.Helper()
	text = regexp.MustCompile(`\|--[a-z-]+ [A-Z][A-Z0-9_]*`).ReplaceAllString(text, "") // --key F|--key-line L
	text = strings.NewReplacer("[", "", "]", "", `"..."`, `"a reason"`).Replace(text)
	words, err := shellWords(text)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	var args []string
	prev := ""
	for _, w := range words[1:] {
		if w == "..." {
			continue
		}
		w, _, _ = strings.Cut(w, "|")
		w = strings.TrimSuffix(w, ",...")
		switch flag := strings.TrimLeft(prev, "-"); {
		case flag == "key" || flag == "rotation":
			// (no rotation certificate in the fixture: the key file
			// stands in, refused as not one, exit 3)
			w = fx.vkey
		case flag == "key-line" || w == "%s":
			w = fx.keyLine
		case flag == "identity":
			w = fx.identity
		case flag == "recipient":
			w = fx.recipient
		case flag == "source":
			w = "file://" + fx.export
		case flag == "category":
			w = "content"
		case flag == "cut-off":
			w = "now"
		case flag == "expires" && placeholder.MatchString(w):
			w = "90d"
		case flag == "issued-at" || flag == "signed-at":
			w = time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
		case flag == "items":
			w = "0123456789abcdef"
		case flag == "tsa-roots":
			w = filepath.Join(work, "tsa-roots.pem")
			must(t, os.WriteFile(w, fx.tsaRoots, 0o644))
		case flag == "out" || flag == "html" || flag == "document":
			w = filepath.Join(work, strings.ToLower(filepath.Base(w)))
			if flag == "document" {
				must(t, os.WriteFile(w, []byte("%PDF-1.4\n"), 0o644))
			}
		case flag == "witness-policy":
			w = filepath.Join(work, "witnesses.policy")
			must(t, os.WriteFile(w, []byte("witness w1 w1.example+6ae2e1d6+BBFR9wtrOxVS4qTTaupj1PwW0uFzmU0bRwkNUpMmJRxE https://w1.example\nquorum none\n"), 0o644))
		case flag == "actor":
			w = "custodian@example.net"
		case flag == "agent-id":
			w = "custos.example.net/agent-1"
		case flag == "organization":
			w = "Example Mail GmbH"
		case flag == "listen":
			w = "127.0.0.1:0"
		case flag == "cannot-comply" && placeholder.MatchString(w):
			w = "conflicting-obligations"
		case (flag == "from" || flag == "to") && w == "DATE":
			w = map[string]string{"from": "2000-01-01", "to": "2099-12-31"}[flag]
		case prev == "" && strings.HasSuffix(w, ".xml"): // an EU form: the tests' own
			b, err := os.ReadFile(filepath.Join("..", "..", "agent", "order", "testdata", "forms", filepath.Base(w)))
			must(t, err)
			w = filepath.Join(work, filepath.Base(w))
			must(t, os.WriteFile(w, b, 0o644))
		case orderPrefix.MatchString(w): // an example prefix: the fixture's order's
			w = strings.ToLower(fx.order[:len(w)])
		case w == "ORDER" || w == "ID" || w == "01J..." || flag == "order":
			w = fx.order
		case w == "INDEX" || w == "N":
			w = "1"
		case w == "PKG" || w == "PACKAGE" || w == ".":
			w = fx.pkg
		}
		if placeholder.MatchString(w) {
			t.Fatalf("%s: no value for the placeholder %q: add one to usageFixture.fill", text, w)
		}
		args = append(args, w)
		if strings.HasPrefix(w, "-") {
			prev = w
		} else {
			prev = ""
		}
	}
	return args
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// shellWords splits s as a shell would, for the quoting docs use.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words, in = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// TestUsageLines runs every command line shown in README.md, docs/*.md and
// a disclosure package's README.txt, placeholders filled in, each on its
// own copy of a data directory, and fails if one is refused as a usage
// error (exit 2): the docs cannot drift from the binary. Each runs again
// with --output json, and all it prints, errors included, must be JSON. A command may
// fail otherwise (an item not there, a port in use): what it is asked is
// what the docs show, not that the fixture suits it.
func TestUsageLines(t *testing.T) {
	var lines []docLine
	for _, pattern := range usageDocs {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", pattern, err)
		}
		for _, f := range files {
			lines = append(lines, docLines(t, f)...)
		}
	}
	if len(lines) < 30 {
		t.Fatalf("only %d command lines found in the docs: is the extraction broken?", len(lines))
	}
	fx := newUsageFixture(t)
	s3 := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	for _, l := range lines {
		t.Run(l.where, func(t *testing.T) {
			if strings.HasPrefix(l.text, "custos storage ") {
				if s3 == "" && os.Getenv("CI") == "true" {
					t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh")
				}
				if s3 == "" {
					t.Skip("no S3 test server: storage commands need one")
				}
				setS3Env(t, s3)
			}
			if l.text == "custos verify . --key-line '%s'" {
				t.Chdir(fx.pkg) // README.txt: run in the package
			}
			for _, output := range []string{"text", "json"} {
				args, code, out, errOut := fx.runDocLine(t, l.text, output)
				if code == exitUsage {
					t.Errorf("%s: %s\nran: custos %q\nexit 2 (usage)\nstdout:\n%s\nstderr:\n%s", l.where, l.text, args, out, errOut)
				}
				if output == "json" && args[0] != "serve" {
					for name, s := range map[string]string{"stdout": out, "stderr": errOut} {
						if !jsonLines(s) {
							t.Errorf("%s: %s\nran: custos %q\n%s is not JSON:\n%s", l.where, l.text, args, name, s)
						}
					}
				}
			}
		})
	}
}

// runDocLine runs the documented command line text, filled in, on a copy
// of the fixture's data directory, with --output output.
func (fx *usageFixture) runDocLine(t *testing.T, text, output string) (args []string, code int, stdout, stderr string) {
	t.Helper()
	work := t.TempDir()
	data := filepath.Join(work, "data")
	if !strings.HasPrefix(text, "custos keys generate") {
		if out, err := exec.Command("cp", "-a", fx.data, data).CombinedOutput(); err != nil {
			t.Fatalf("copy the data directory: %v\n%s", err, out)
		}
	}
	t.Setenv("CUSTOS_DATA_DIR", data)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(work, "config")) // custos init writes there
	args = fx.fill(t, text, work)
	if text == "custos verify . --key-line '%s'" {
		args[1] = "."
	}
	limit := time.Minute
	if args[0] == "serve" {
		limit = 3 * time.Second // it runs until stopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	code, stdout, stderr = custos(ctx, append(args, "--output", output)...)
	return args, code, stdout, stderr
}

// jsonLines says whether s is JSON: one value, or one per line.
func jsonLines(s string) bool {
	if json.Valid([]byte(s)) || s == "" {
		return true
	}
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			return false
		}
	}
	return true
}

// setS3Env points the store at the test S3 server, in a bucket of its own.
func setS3Env(t *testing.T, endpoint string) {
	t.Setenv("CUSTOS_STORE_TYPE", "s3")
	t.Setenv("CUSTOS_STORE_S3_ENDPOINT", endpoint)
	t.Setenv("CUSTOS_STORE_S3_BUCKET", fmt.Sprintf("custos-usage-%d", time.Now().UnixNano()))
	t.Setenv("CUSTOS_STORE_S3_ACCESS_KEY", os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"))
	t.Setenv("CUSTOS_STORE_S3_SECRET_KEY", os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"))
	t.Setenv("CUSTOS_STORE_S3_TLS", fmt.Sprint(os.Getenv("CUSTOS_TEST_S3_TLS") == "true"))
	t.Setenv("CUSTOS_STORE_S3_PATH_STYLE", "true")
	t.Setenv("CUSTOS_STORE_S3_RETRY_FOR", "2s")
}

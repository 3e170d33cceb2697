package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/custos-evidence/custos/chain/tsatest"
)

// scriptTB lets a script start test authorities (tsatest.New).
type scriptTB struct{ ts *testscript.TestScript }

func (scriptTB) Helper()             {}
func (s scriptTB) Fatal(args ...any) { s.ts.Fatalf("%s", fmt.Sprint(args...)) }
func (s scriptTB) Cleanup(f func())  { s.ts.Defer(f) }

// tsas starts timestamp authorities for the script and writes, into
// $WORK, the configurations that name them (absolute paths, as YAML
// cannot expand $WORK):
//
//	tsa.yaml         good (works), down (never answers), liar (tokens for another digest);
//	                 the profile eu-epoc-pr names good
//	tsa-good.yaml    good alone
//	tsa-fast.yaml    good alone, asked at most once a second
//	tsa-profile-missing.yaml  eu-epoc-pr names an authority not configured
//	tsa-badurl.yaml  a URL that does not parse
//	tsa-nocert.yaml  a chain file with no certificate
//
// and good-root.pem (the good authority's root), other-root.pem (an
// authority's that is configured nowhere).
func cmdTSAs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: tsas")
	}
	tb := scriptTB{ts}
	auths := map[string]*tsatest.TSA{
		"good": tsatest.New(tb, tsatest.Options{Name: "Good TSA"}),
		"down": tsatest.New(tb, tsatest.Options{Name: "Down TSA", Down: true}),
		"liar": tsatest.New(tb, tsatest.Options{Name: "Liar TSA", OtherDigest: true}),
	}
	other := tsatest.New(tb, tsatest.Options{Name: "Other TSA"})
	write := func(name string, data []byte) string {
		p := ts.MkAbs(name)
		ts.Check(os.WriteFile(p, data, 0o644))
		return p
	}
	entry := func(name, url, chain string) string {
		return fmt.Sprintf("    - {name: %s, url: %q, chain: %q}\n", name, url, chain)
	}
	conf := func(entries ...string) []byte {
		return []byte("log:\n  timestamp:\n    tsa:\n" + strings.Join(entries, ""))
	}
	var all []string
	for _, n := range []string{"good", "down", "liar"} {
		chain := write(n+"-chain.pem", auths[n].ChainPEM())
		all = append(all, entry(n, auths[n].URL(), chain))
	}
	write("tsa.yaml", append(conf(all...), "profiles:\n  eu-epoc-pr: {tsa: good}\n"...))
	write("tsa-fast.yaml", append(conf(all[0]), "    every: 1s\n"...))
	write("tsa-good.yaml", conf(all[0]))
	write("tsa-profile-missing.yaml", append(conf(all[0]), "profiles:\n  eu-epoc-pr: {tsa: qualified}\n"...))
	write("good-root.pem", auths["good"].RootPEM())
	write("good-leaf.pem", bytes.TrimSuffix(auths["good"].ChainPEM(), auths["good"].RootPEM()))
	write("other-root.pem", other.RootPEM())
	write("tsa-badurl.yaml", conf(entry("good", "http://[::1", filepath.Join(ts.Getenv("WORK"), "good-chain.pem"))))
	write("tsa-nocert.yaml", conf(entry("good", auths["good"].URL(), write("nocert.pem", []byte("not a certificate\n")))))
}

// tsrfile DIR VAR sets VAR to the first token (*.tsr) in DIR, by name,
// and VAR_CHECKPOINT to the checkpoint it covers beside it
// (<size>.checkpoint).
func cmdTSRFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tsrfile DIR VAR")
	}
	dir := ts.MkAbs(args[0])
	ents, err := os.ReadDir(dir)
	ts.Check(err)
	for _, e := range ents {
		if size, _, ok := strings.Cut(e.Name(), "."); ok && strings.HasSuffix(e.Name(), ".tsr") {
			ts.Setenv(args[1], filepath.Join(dir, e.Name()))
			ts.Setenv(args[1]+"_CHECKPOINT", filepath.Join(dir, size+".checkpoint"))
			return
		}
	}
	ts.Fatalf("no .tsr file in %s", dir)
}

// toolCondition is the script condition tool:NAME: NAME is installed.
// Under CI=true (scripts/with-verify-tools.sh installs it there) a missing
// tool is an error, which fails the script rather than skip it.
func toolCondition(name string) (bool, error) {
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			return false, fmt.Errorf("%s is not installed (CI=true)", name)
		}
		return false, nil
	}
	return true, nil
}

// flipgentime FILE changes one digit of the genTime of the token in FILE
// (tsatest.Flip): one byte, inside what the authority signed.
func cmdFlipGenTime(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: flipgentime FILE")
	}
	file := ts.MkAbs(args[0])
	b, err := os.ReadFile(file)
	ts.Check(err)
	ts.Check(os.WriteFile(file, tsatest.Flip(b), 0o644))
}

// sleep DURATION lets the clock pass a rate limit (log.timestamp.every):
// what is waited for is time itself, not another process.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// reportschema FILE validates the custos verify --json report in FILE
// against docs/verify-report.schema.json.
func cmdReportSchema(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: reportschema FILE")
	}
	f, err := os.Open(filepath.Join(ts.Getenv("CUSTOS_TEST_REPO"), "docs", "verify-report.schema.json"))
	ts.Check(err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	ts.Check(err)
	c := jsonschema.NewCompiler()
	ts.Check(c.AddResource("verify-report.schema.json", doc))
	sch, err := c.Compile("verify-report.schema.json")
	ts.Check(err)
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(ts.ReadFile(args[0])))
	ts.Check(err)
	if err := sch.Validate(inst); err != nil {
		ts.Fatalf("%s does not follow the schema: %v", args[0], err)
	}
}

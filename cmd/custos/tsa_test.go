package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

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
//	tsa.yaml         good (works), down (never answers), liar (tokens for another digest)
//	tsa-good.yaml    good alone
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
	write("tsa.yaml", conf(all...))
	write("tsa-good.yaml", conf(all[0]))
	write("good-root.pem", auths["good"].RootPEM())
	write("other-root.pem", other.RootPEM())
	write("tsa-badurl.yaml", conf(entry("good", "http://[::1", filepath.Join(ts.Getenv("WORK"), "good-chain.pem"))))
	write("tsa-nocert.yaml", conf(entry("good", auths["good"].URL(), write("nocert.pem", []byte("not a certificate\n")))))
}

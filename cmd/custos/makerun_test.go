package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestMakeRun runs scripts/run.sh, the README's first command, twice on a
// fresh data directory with the binary built from this tree, so that the
// command a newcomer types first keeps working: the second run preserves
// nothing twice.
func TestMakeRun(t *testing.T) {
	bin := custosBinary(t)
	dir := t.TempDir()
	run := func() string {
		t.Helper()
		cmd := exec.Command("../../scripts/run.sh")
		cmd.Env = append(os.Environ(), "CUSTOS_BIN="+bin, "CUSTOS_DATA_DIR="+filepath.Join(dir, "data"),
			"CUSTOS_KEY_PASSPHRASE=make run test", "CUSTOS_ACTOR=tester@example.net", "CUSTOS_RUN_SERVE=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	for i, want := range [][]string{
		{`: 2 preserved, 0 already preserved`, `3 items checked, 0 failed`, `problems: +none`, `(?m)^01\S+ +preserved +budapest-16 .* 3 +- +DEMO-0001$`},
		{`: 0 preserved, 2 already preserved`, `3 items checked, 0 failed`, `problems: +none`},
	} {
		out := run()
		for _, w := range want {
			if !regexp.MustCompile(w).MatchString(out) {
				t.Errorf("run %d: output lacks %s:\n%s", i+1, w, out)
			}
		}
	}
}

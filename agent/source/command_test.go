package source

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCommandCapture(t *testing.T) {
	src := mustNew(t, "command", map[string]any{
		"argv":                []string{"printf", "%s|"},
		"args_from_selectors": []string{"{{selector.email}}", "--from={{from}}"},
		"env":                 map[string]string{"GREETING": "hello world"},
	})
	r := req()
	r.Selectors = []Selector{{"email", "a@example.net"}, {"email", "b@example.net"}}
	r.From = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	items, sum, err := capture(t, src, r)
	if err != nil || len(items) != 1 {
		t.Fatalf("%v %+v", err, items)
	}
	it := items[0]
	if it.content != "a@example.net|b@example.net|--from=2026-01-01T00:00:00Z|" || it.item.Name != "printf.stdout" {
		t.Errorf("item %s: %q", it.item.Name, it.content)
	}
	rec := it.item.Record
	exe, err := exec.LookPath("printf")
	if err != nil {
		t.Fatal(err)
	}
	exeSum, err := fileSHA256(exe)
	if err != nil {
		t.Fatal(err)
	}
	wantArgv := []string{"printf", "%s|", "a@example.net", "b@example.net", "--from=2026-01-01T00:00:00Z"}
	if !slices.Equal(rec["argv"].([]string), wantArgv) || rec["executable"] != exe || rec["executable_sha256"] != exeSum ||
		rec["exit_code"] != 0 || rec["dir"] != "/" || rec["stderr"] != "" || rec["stdout_bytes"] != int64(len(it.content)) {
		t.Errorf("record %v", rec)
	}
	if env := rec["env"].(map[string]string); env["GREETING"] != "hello world" || env["PATH"] != os.Getenv("PATH") || len(env) != 2 {
		t.Errorf("env recorded as %v", env)
	}
	if _, err := time.ParseDuration(rec["duration"].(string)); err != nil || rec["pid"] == nil {
		t.Errorf("duration %v, pid %v", rec["duration"], rec["pid"])
	}
	if sum["emitted"] != 1 || sum["bytes"] != int64(len(it.content)) {
		t.Errorf("summary %v", sum)
	}
}

func TestCommandEnvironmentIsControlled(t *testing.T) {
	t.Setenv("CUSTOS_TEST_PARENT_ONLY", "leaked")
	t.Setenv("CUSTOS_TEST_SECRET", "hunter2")
	dir := t.TempDir()
	src := mustNew(t, "command", map[string]any{
		"argv": []string{"sh", "-c", "pwd; env | sort"},
		"env":  map[string]string{"A": "1", "TOKEN": "env:CUSTOS_TEST_SECRET"},
		"dir":  dir,
	})
	items, _, err := capture(t, src, req())
	if err != nil || len(items) != 1 {
		t.Fatalf("%v %+v", err, items)
	}
	lines := strings.Split(strings.TrimSpace(items[0].content), "\n")
	// sh itself adds PWD (and may add SHLVL, _ ); nothing of the agent's.
	var env []string
	for _, l := range lines[1:] {
		if name, _, _ := strings.Cut(l, "="); name != "PWD" && name != "SHLVL" && name != "_" {
			env = append(env, l)
		}
	}
	if lines[0] != dir || !slices.Equal(env, []string{"A=1", "PATH=" + os.Getenv("PATH"), "TOKEN=hunter2"}) {
		t.Errorf("the child saw %q", lines)
	}
	rec := items[0].item.Record
	if rec["env"].(map[string]string)["TOKEN"] != "env:CUSTOS_TEST_SECRET" || strings.Contains(recordJSON(t, rec), "hunter2") {
		t.Errorf("record %v", rec)
	}

	src = mustNew(t, "command", map[string]any{"argv": []string{"env"}, "env": map[string]string{"TOKEN": "env:CUSTOS_TEST_UNSET"}})
	items, _, err = capture(t, src, req())
	if err == nil || !strings.Contains(err.Error(), "env TOKEN: environment variable CUSTOS_TEST_UNSET (from env:CUSTOS_TEST_UNSET) is not set") || len(items) != 0 {
		t.Errorf("an unset reference: %v %+v", err, items)
	}
}

func TestCommandFailures(t *testing.T) {
	dataDir := t.TempDir()
	writeFile(t, filepath.Join(dataDir, "data.txt"), "not a program")
	for _, tc := range []struct {
		name    string
		params  map[string]any
		emitted bool // the run started, and its output failed
		want    string
		rec     map[string]any
	}{
		{"non-zero exit", map[string]any{"argv": []string{"sh", "-c", "echo partial; echo broken >&2; exit 3"}}, true,
			`command sh -c echo partial; echo broken >&2; exit 3: exit status 3 (stderr: "broken")`,
			map[string]any{"exit_code": 3, "stderr": "broken\n", "stderr_bytes": int64(7), "stdout_bytes": int64(8)}},
		{"false", map[string]any{"argv": []string{"false"}}, true, "command false: exit status 1", map[string]any{"exit_code": 1}},
		{"timeout", map[string]any{"argv": []string{"sleep", "30"}, "timeout": "200ms"}, true,
			"command sleep 30: timed out after 200ms; its process group was killed", map[string]any{"exit_code": -1, "signal": "killed"}},
		{"too much output", map[string]any{"argv": []string{"yes"}, "max_bytes": 1000}, true,
			"command yes: output exceeds max_bytes 1000; killed", nil},
		{"killed by a signal", map[string]any{"argv": []string{"sh", "-c", "kill -TERM $$"}}, true,
			"command sh -c kill -TERM $$: signal: terminated", map[string]any{"signal": "terminated"}},
		{"no such program", map[string]any{"argv": []string{"custos-no-such-program"}}, false,
			`command custos-no-such-program: program "custos-no-such-program" not found in PATH`, nil},
		{"not executable", map[string]any{"argv": []string{"./data.txt"}, "dir": dataDir}, false,
			"command ./data.txt: program " + dataDir + "/data.txt: not an executable file", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, sum, err := capture(t, mustNew(t, "command", tc.params), req())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error with %q", err, tc.want)
			}
			if tc.emitted != (len(items) == 1) || sum["emitted"] != 0 {
				t.Fatalf("emitted %+v, summary %v", items, sum)
			}
			if tc.emitted && !errors.Is(err, items[0].err) {
				t.Errorf("capture returned %v, the item's read %v", err, items[0].err)
			}
			for k, v := range tc.rec {
				if items[0].item.Record[k] != v {
					t.Errorf("record %s = %v (%T), want %v", k, items[0].item.Record[k], items[0].item.Record[k], v)
				}
			}
		})
	}
}

// TestCommandTimeoutKillsTheProcessGroup: a child the command started
// dies with it, and does not hold the output open.
func TestCommandTimeoutKillsTheProcessGroup(t *testing.T) {
	src := mustNew(t, "command", map[string]any{"argv": []string{"sh", "-c", "sleep 30 & echo $!; wait"}, "timeout": "300ms"})
	items, _, err := capture(t, src, req())
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") || len(items) != 1 {
		t.Fatalf("%v %+v", err, items)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(items[0].content))
	if err != nil {
		t.Fatalf("output %q: %v", items[0].content, err)
	}
	for deadline := time.Now().Add(5 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("the command's child %d outlived it", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling for the kernel to finish the killed child
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting for its parent to reap it has exited).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// TestCommandStreams: the output reaches emit while the command runs; the
// command finishes only once emit has read its first line.
func TestCommandStreams(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "go-on")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	src := mustNew(t, "command", map[string]any{
		"argv": []string{"sh", "-c", `echo first; read line < "$1"; echo "$line"`, "sh", fifo}, "timeout": "10s",
	})
	var content string
	_, err := src.Capture(context.Background(), req(), func(_ *Item, r io.Reader) error {
		first := make([]byte, len("first\n"))
		if _, err := io.ReadFull(r, first); err != nil {
			return err
		}
		if err := os.WriteFile(fifo, []byte("second\n"), 0o600); err != nil {
			return err
		}
		rest, err := io.ReadAll(r)
		content = string(first) + string(rest)
		return err
	})
	if err != nil || content != "first\nsecond\n" {
		t.Fatalf("%v %q", err, content)
	}
}

// TestCommandStopsWhenEmitGivesUp: an emit that fails before the end of
// the output ends the run and its process group.
func TestCommandStopsWhenEmitGivesUp(t *testing.T) {
	failed := errors.New("store unavailable")
	var rec map[string]any
	sum, err := mustNew(t, "command", map[string]any{"argv": []string{"yes"}}).Capture(context.Background(), req(),
		func(it *Item, r io.Reader) error {
			rec = it.Record
			_, _ = io.ReadFull(r, make([]byte, 10))
			return failed
		})
	if !errors.Is(err, failed) || sum["emitted"] != 0 {
		t.Fatalf("%v %v", err, sum)
	}
	if pid := rec["pid"].(int); alive(pid) {
		t.Errorf("yes (pid %d) still runs", pid)
	}
}

func TestCommandRefusesBadParameters(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{}, "argv names no program"},
		{map[string]any{"argv": []string{""}}, "argv names no program"},
		{map[string]any{"argv": "ls -l"}, "argv"},
		{map[string]any{"argv": []string{"ls"}, "dir": "tmp"}, `dir "tmp" is not an absolute path`},
		{map[string]any{"argv": []string{"ls"}, "env": map[string]string{"A=B": "x"}}, `env: "A=B" is not a variable name`},
		{map[string]any{"argv": []string{"ls"}, "env": map[string]string{"T": "env:"}}, `env T: "env:" is not a reference`},
		{map[string]any{"argv": []string{"ls"}, "args_from_selectors": []string{"{{selector.email"}}, "{{ without }}"},
		{map[string]any{"argv": []string{"ls"}, "timeout": "-1s"}, `timeout "-1s" is not a positive duration`},
		{map[string]any{"argv": []string{"ls"}, "shell": true}, `unknown field "shell"`},
	} {
		if _, err := New(Config{Name: "export", Type: "command", Params: tc.params}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.params, err, tc.want)
		}
	}
	src := mustNew(t, "command", map[string]any{"argv": []string{"echo"}, "args_from_selectors": []string{"{{selector.phone}}"}})
	items, _, err := capture(t, src, req())
	if err == nil || !strings.Contains(err.Error(), "the order has no selector of type phone") || len(items) != 0 {
		t.Errorf("a template without a value: %v %+v", err, items)
	}
}

// TestCommandPATH: a program is looked up in the child's PATH, and a
// directory of it that is not absolute is passed over.
func TestCommandPATH(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "export-mail"), []byte("#!/bin/sh\necho exported\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	items, _, err := capture(t, mustNew(t, "command", map[string]any{
		"argv": []string{"export-mail"}, "env": map[string]string{"PATH": filepath.Join(dir, "bin") + ":/bin:/usr/bin"},
	}), req())
	if err != nil || len(items) != 1 || items[0].content != "exported\n" || items[0].item.Record["executable"] != filepath.Join(dir, "bin", "export-mail") {
		t.Fatalf("%v %+v", err, items)
	}
	t.Chdir(dir) // where the agent runs: "bin" would name dir/bin
	_, _, err = capture(t, mustNew(t, "command", map[string]any{
		"argv": []string{"export-mail"}, "dir": dir, "env": map[string]string{"PATH": "bin:/bin:/usr/bin"},
	}), req())
	if err == nil || !strings.Contains(err.Error(), `program "export-mail" not found in PATH bin:/bin:/usr/bin`) {
		t.Fatalf("a relative PATH entry: %v", err)
	}
}

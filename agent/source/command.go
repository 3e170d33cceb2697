package source

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// commandParams are the parameters of a "command" source: one program
// run without a shell, whose standard output is the item.
//
//   - argv (required): the program and its arguments, taken literally
//     (no shell, no globbing, no templates). A program name without a
//     slash is looked up in the child's PATH (absolute directories only);
//     one with a slash is taken as is, relative to dir.
//   - args_from_selectors: templates (see template) appended to argv,
//     filled from the order: "--email={{selector.email}}", "{{from}}".
//     An argument that is exactly {{selector.TYPE}} becomes one argument
//     per selector of that type.
//   - env: the child's environment. The child gets only these variables,
//     plus PATH (the agent's own, or "/usr/local/bin:/usr/bin:/bin" when
//     the agent has none) unless env sets PATH. A value "env:NAME" is read
//     from the agent's environment when the capture runs (an unset one is
//     an error) and is recorded as the reference, never the value; literal
//     values are recorded as they are, so keep secrets in env: references.
//   - dir: the child's working directory, absolute; default "/".
//   - timeout: a Go duration bounding the whole run, output streamed
//     included; default 10m. When it runs out the command's whole process
//     group is killed and the item fails, named "timed out".
//   - max_bytes: the most output preserved; default 1 GiB. More fails the
//     item, named, and the process group is killed.
//
// Standard input is empty. The record holds the argv as run, the resolved
// executable and its SHA-256 (read just before it started), the
// environment as recorded, dir, pid, start time and, once the output has
// ended, the exit code (or signal), duration, output size and the first
// 64 KiB of standard error. Only a command that exits 0 within its timeout
// yields an item: otherwise the final Read of its output fails with an
// error naming the exit status (and the first line of standard error),
// the timeout or the size limit, so nothing is preserved.
type commandParams struct {
	Argv              []string          `json:"argv"`
	ArgsFromSelectors []string          `json:"args_from_selectors"`
	Env               map[string]string `json:"env"`
	Dir               string            `json:"dir"`
	limitParams
}

const (
	stderrLimit  = 64 << 10 // standard error recorded
	waitDelay    = 2 * time.Second
	fallbackPATH = "/usr/local/bin:/usr/bin:/bin"
)

type commandSource struct {
	argv     []string
	extra    []*template
	env      map[string]string
	dir      string
	timeout  time.Duration
	maxBytes int64
	getenv   func(string) (string, bool)
}

func newCommand(params map[string]any) (Source, error) {
	var p commandParams
	if err := decodeParams(params, &p); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	if len(p.Argv) == 0 || p.Argv[0] == "" {
		return nil, errors.New("command: argv names no program")
	}
	s := &commandSource{argv: p.Argv, env: p.Env, dir: p.Dir, getenv: os.LookupEnv}
	if s.dir == "" {
		s.dir = "/"
	}
	if !filepath.IsAbs(s.dir) {
		return nil, fmt.Errorf("command: dir %q is not an absolute path", p.Dir)
	}
	for name, v := range p.Env {
		if !validEnvName(name) {
			return nil, fmt.Errorf("command: env: %q is not a variable name", name)
		}
		if _, err := envRef(v); err != nil {
			return nil, fmt.Errorf("command: env %s: %w", name, err)
		}
	}
	for _, a := range p.ArgsFromSelectors {
		t, err := parseTemplate(a)
		if err != nil {
			return nil, fmt.Errorf("command: args_from_selectors: %w", err)
		}
		s.extra = append(s.extra, t)
	}
	var err error
	if s.timeout, s.maxBytes, err = p.limits(); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	return s, nil
}

func (s *commandSource) Kind() string { return "command" }

// Capture runs the command and streams its standard output to emit.
func (s *commandSource) Capture(ctx context.Context, req Request, emit Emit) (Summary, error) {
	sum := Summary{"emitted": 0}
	argv, err := s.args(req)
	if err != nil {
		return sum, fmt.Errorf("command %s: %w", s.argv[0], err)
	}
	name := "command " + strings.Join(argv, " ")
	env, recEnv, pathEnv, err := s.environ()
	if err != nil {
		return sum, fmt.Errorf("%s: %w", name, err)
	}
	exe, err := lookPath(argv[0], pathEnv, s.dir)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", name, err)
	}
	exeSum, err := fileSHA256(exe)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", name, err)
	}
	out, err := s.start(ctx, name, exe, argv, env)
	if err != nil {
		return sum, err
	}
	defer out.stop()
	out.rec["argv"], out.rec["executable"], out.rec["executable_sha256"] = argv, exe, exeSum
	out.rec["env"], out.rec["dir"] = recEnv, s.dir
	out.rec["timeout"], out.rec["max_bytes"] = s.timeout.String(), s.maxBytes
	it := &Item{Name: filepath.Base(argv[0]) + ".stdout", Record: out.rec}
	if err := emit(it, out); err != nil {
		return sum, err
	}
	if out.result != io.EOF {
		return sum, fmt.Errorf("%s: its output was not read to the end", name)
	}
	sum["emitted"], sum["bytes"] = 1, out.n
	return sum, nil
}

// args is argv with the expanded args_from_selectors appended.
func (s *commandSource) args(req Request) ([]string, error) {
	argv := append([]string(nil), s.argv...)
	for _, t := range s.extra {
		vals, err := t.expand(req)
		if err != nil {
			return nil, fmt.Errorf("args_from_selectors: %w", err)
		}
		argv = append(argv, vals...)
	}
	return argv, nil
}

// environ is the child's environment, the same as recorded (env:
// references as such), and the child's PATH.
func (s *commandSource) environ() (env []string, rec map[string]string, path string, err error) {
	vals, rec := map[string]string{}, map[string]string{}
	for name, raw := range s.env {
		if vals[name], err = resolveValue(raw, s.getenv); err != nil {
			return nil, nil, "", fmt.Errorf("env %s: %w", name, err)
		}
		rec[name] = raw
	}
	if _, ok := vals["PATH"]; !ok {
		p, ok := s.getenv("PATH")
		if !ok {
			p = fallbackPATH
		}
		vals["PATH"], rec["PATH"] = p, p
	}
	for _, k := range sortedKeys(vals) {
		env = append(env, k+"="+vals[k])
	}
	return env, rec, vals["PATH"], nil
}

// lookPath finds the program argv[0] names as the child would, in its
// PATH; directories that are not absolute are passed over (they would run
// whatever the working directory holds).
func lookPath(name, pathEnv, dir string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := isExecutable(p); err != nil {
			return "", fmt.Errorf("program %s: %w", p, err)
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, name)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("program %q not found in PATH %s", name, pathEnv)
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// start starts the command in its own process group, its standard output
// flowing through a pipe that the returned reader drains.
func (s *commandSource) start(ctx context.Context, name, exe string, argv, env []string) (*commandOutput, error) {
	tctx, cancelT := context.WithTimeout(ctx, s.timeout)
	rctx, abort := context.WithCancelCause(tctx)
	cmd := exec.CommandContext(rctx, exe, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env, cmd.Dir = env, s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay // a child that left the group cannot hold the output open for ever
	pr, pw := io.Pipe()
	o := &commandOutput{
		name: name, cmd: cmd, pr: pr, max: s.maxBytes, timeout: s.timeout, stderr: &headBuffer{max: stderrLimit},
		outer: ctx, tctx: tctx, abort: abort, done: make(chan struct{}), rec: map[string]any{},
	}
	cmd.Stdout, cmd.Stderr = pw, o.stderr
	o.started = time.Now()
	if err := cmd.Start(); err != nil {
		abort(nil)
		cancelT()
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	o.rec["pid"], o.rec["started_at"] = cmd.Process.Pid, stamp(o.started)
	go func() {
		o.waitErr = cmd.Wait()
		o.ended = time.Now()
		pw.Close()
		abort(nil)
		cancelT()
		close(o.done)
	}()
	return o, nil
}

// commandOutput is a running command's standard output. At its end it
// waits for the command, completes the record and returns io.EOF only if
// the command exited 0 in time.
type commandOutput struct {
	name           string
	cmd            *exec.Cmd
	pr             *io.PipeReader
	max, n         int64
	timeout        time.Duration
	stderr         *headBuffer
	outer, tctx    context.Context
	abort          context.CancelCauseFunc
	done           chan struct{}
	waitErr        error // set before done closes
	started, ended time.Time
	rec            map[string]any
	result         error // what the final Read returned
}

func (o *commandOutput) Read(p []byte) (int, error) {
	if o.result != nil {
		return 0, o.result
	}
	n, err := o.pr.Read(p)
	o.n += int64(n)
	if o.n > o.max { // stop, which follows, kills the process group
		o.result = fmt.Errorf("%s: output exceeds max_bytes %d; killed", o.name, o.max)
		return n, o.result
	}
	if err == io.EOF {
		<-o.done
		o.result = o.finish()
		return n, o.result
	}
	return n, err
}

// stop ends a run whose output was not read to the end: it kills the
// process group and waits for it.
func (o *commandOutput) stop() {
	select {
	case <-o.done:
		return
	default:
	}
	o.abort(errors.New("the output was not read to the end"))
	o.pr.CloseWithError(errors.New("capture stopped")) // unblocks the copy of the output
	<-o.done
}

// finish completes the record once the command has ended and says how it
// ended: io.EOF for an exit 0 in time, else an error naming what happened.
func (o *commandOutput) finish() error {
	st := o.cmd.ProcessState
	o.rec["duration"], o.rec["stdout_bytes"] = o.ended.Sub(o.started).String(), o.n
	if st != nil {
		o.rec["exit_code"] = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.rec["signal"] = ws.Signal().String()
		}
	}
	o.stderr.record(o.rec)
	var exitErr *exec.ExitError
	switch {
	case o.waitErr == nil:
		return io.EOF
	case o.outer.Err() == nil && errors.Is(o.tctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: timed out after %s; its process group was killed", o.name, o.timeout)
	case o.outer.Err() != nil:
		return fmt.Errorf("%s: %w", o.name, o.outer.Err())
	case errors.As(o.waitErr, &exitErr):
		return fmt.Errorf("%s: %s%s", o.name, exitErr.ProcessState, o.stderr.hint())
	case errors.Is(o.waitErr, exec.ErrWaitDelay):
		return fmt.Errorf("%s: exited, but a process it started kept its output open for more than %s", o.name, waitDelay)
	}
	return fmt.Errorf("%s: %w", o.name, o.waitErr)
}

// headBuffer keeps the first max bytes written to it and counts them all;
// it never blocks the writer.
type headBuffer struct {
	buf []byte
	max int
	n   int64
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	if room := h.max - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// record puts standard error in rec: as text when it is UTF-8, else in
// base64, with its full size and whether it was cut.
func (h *headBuffer) record(rec map[string]any) {
	if utf8.Valid(h.buf) {
		rec["stderr"] = string(h.buf)
	} else {
		rec["stderr_base64"] = base64.StdEncoding.EncodeToString(h.buf)
	}
	rec["stderr_bytes"], rec["stderr_truncated"] = h.n, h.n > int64(len(h.buf))
}

// hint is the first line of standard error, for an error message.
func (h *headBuffer) hint() string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(h.buf)), "\n")
	if line == "" {
		return ""
	}
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	return fmt.Sprintf(" (stderr: %q)", line)
}

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// custosBinary builds the custos binary once for the tests that run it as
// a user does.
func custosBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "custos-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "custos")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// daemon is a running `custos serve`.
type daemon struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var servingLine = regexp.MustCompile(`serving \S+ on (https?://\S+) `)

// startDaemon starts `custos serve` on a free port with env and waits for
// the line that says where it listens.
func startDaemon(t testing.TB, bin string, env []string) *daemon {
	t.Helper()
	return startDaemonOn(t, bin, env, "127.0.0.1:0")
}

// startDaemonOn is startDaemon listening on listen.
func startDaemonOn(t testing.TB, bin string, env []string, listen string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--listen", listen)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	d.url = awaitServing(t, stdout, d.stderr, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.done //nolint:errcheck // killed: the exit status says so
		}
	})
	return d
}

// awaitServing reads a daemon's standard output until the line that says
// where it listens, returns that URL and drains the rest; kill ends a
// daemon that does not get there within 60s.
func awaitServing(t testing.TB, stdout io.Reader, stderr *lockedBuffer, kill func()) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("custos serve ended before serving:\n%s", stderr)
			}
			if m := servingLine.FindStringSubmatch(l); m != nil {
				go func() {
					for range lines {
					}
				}()
				return m[1]
			}
		case <-timeout:
			kill()
			t.Fatalf("custos serve did not start within 60s:\n%s", stderr)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop(t testing.TB) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("custos serve after SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("custos serve did not stop within 90s of SIGTERM:\n%s", d.stderr)
	}
}

// call sends a JSON request with a bearer token and decodes the answer
// into out (when not nil), failing unless the status is want.
func (d *daemon) call(t testing.TB, token, method, path string, body any, want int, out any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s\ndaemon log:\n%s", method, path, res.StatusCode, want, b, d.stderr)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

// s3ServeEnv is the environment of a daemon on the test S3 server, in a
// bucket of its own that `custos storage init` creates.
func s3ServeEnv(t *testing.T, bin string, env []string) []string {
	t.Helper()
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		t.Skip("no S3 test server (run through scripts/with-minio.sh)")
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	env = append(env, "CUSTOS_STORE_TYPE=s3", "CUSTOS_STORE_S3_ENDPOINT="+ep,
		"CUSTOS_STORE_S3_BUCKET=custos-serve-"+hex.EncodeToString(b),
		"CUSTOS_STORE_S3_ACCESS_KEY="+os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"),
		"CUSTOS_STORE_S3_SECRET_KEY="+os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"),
		fmt.Sprintf("CUSTOS_STORE_S3_TLS=%v", os.Getenv("CUSTOS_TEST_S3_TLS") == "true"),
		"CUSTOS_STORE_S3_PATH_STYLE=true")
	cmd := exec.Command(bin, "storage", "init")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("custos storage init: %v\n%s", err, out)
	}
	return env
}

// TestServeScenario is the daemon as a provider runs it: `custos serve`
// on MinIO; tokens made by the first admin; an order received, captured
// and disclosed through the API; the package downloaded and verified with
// `custos verify`; then SIGTERM, and no secret in the daemon's log.
func TestServeScenario(t *testing.T) {
	bin := custosBinary(t)
	dir := t.TempDir()
	const passphrase = "serve scenario passphrase"
	export := filepath.Join(dir, "export")
	if err := os.MkdirAll(export, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"a.eml": "Subject: a\n\nalpha", "b.eml": "Subject: b\n\nbravo"} {
		if err := os.WriteFile(filepath.Join(export, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(dir, "custos.yaml")
	if err := os.WriteFile(config, []byte("sources:\n  mailbox:\n    type: dir\n    categories: [content]\n    root: "+export+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"CUSTOS_DATA_DIR=" + filepath.Join(dir, "data"), "CUSTOS_CONFIG=" + config,
		"CUSTOS_KEY_PASSPHRASE=" + passphrase, "CUSTOS_LOG_CHECKPOINT_INTERVAL=200ms", "CUSTOS_SCHEDULER_MIRROR_EVERY=1s", "CUSTOS_SCHEDULER_TICK=1s"}
	env = s3ServeEnv(t, bin, env)
	d := startDaemon(t, bin, env)

	admin, err := os.ReadFile(filepath.Join(dir, "data", "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"admin": strings.TrimSpace(string(admin)), "passphrase": passphrase,
		"s3 secret key": os.Getenv("CUSTOS_TEST_S3_SECRET_KEY")}
	token := func(role string) string {
		var nt struct {
			Secret string `json:"secret"`
		}
		d.call(t, secrets["admin"], "POST", "/v1/tokens", map[string]string{"name": role + "-1", "role": role}, http.StatusCreated, &nt)
		secrets[role] = nt.Secret
		return nt.Secret
	}
	intake, custodian, discloser := token("intake"), token("custodian"), token("discloser")

	var order struct {
		ID string `json:"id"`
	}
	d.call(t, intake, "POST", "/v1/orders", map[string]any{
		"reference": "SERVE-1", "authority": "Court of Rotterdam", "requesting_state": "NL", "profile": "eu-epoc-pr",
		"legal_basis": "Regulation (EU) 2023/1543, art. 6", "categories": []string{"content"},
		"selectors": []map[string]string{{"type": "email", "value": "alice@example.net"}},
	}, http.StatusCreated, &order)
	var job struct {
		State  string `json:"state"`
		Result struct {
			Preserved int `json:"preserved"`
		} `json:"result"`
	}
	d.call(t, custodian, "POST", "/v1/orders/"+order.ID+"/captures?wait=2m", map[string]any{"cut_off": "now"}, http.StatusOK, &job)
	if job.State != "succeeded" || job.Result.Preserved != 2 {
		t.Fatalf("capture job: %+v", job)
	}
	var dis struct {
		Download string `json:"download"`
		SHA256   string `json:"sha256"`
	}
	d.call(t, custodian, "POST", "/v1/orders/"+order.ID+"/requester-checks",
		map[string]string{"method": "portal", "result": "confirmed", "note": "the reference is in the court's portal"}, http.StatusCreated, nil)
	d.call(t, discloser, "POST", "/v1/orders/"+order.ID+"/disclosures", map[string]any{"format": "tar"}, http.StatusCreated, &dis)
	pkg := d.call(t, discloser, "GET", dis.Download, nil, http.StatusOK, nil)
	mirrored := strings.Count(d.stderr.String(), `"msg":"log mirrored"`)
	pkgPath := filepath.Join(dir, "package.tar")
	if err := os.WriteFile(pkgPath, pkg, 0o600); err != nil {
		t.Fatal(err)
	}
	// The investigator's side: the package and the provider's public key.
	verify := exec.Command(bin, "verify", "--key", filepath.Join(dir, "data", "keys", "custos.key.vkey"), pkgPath)
	verify.Env = []string{"HOME=" + dir}
	if out, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("custos verify: %v\n%s", err, out)
	}
	// The scheduler mirrors the log to the store while the daemon runs:
	// what the disclosure added is copied without waiting for a stop.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(d.stderr.String(), `"msg":"log mirrored"`) == mirrored {
		if time.Now().After(deadline) {
			t.Fatalf("the log was not mirrored within 30 s while the daemon ran:\n%s", d.stderr)
		}
		time.Sleep(100 * time.Millisecond) // polling the daemon's log for a condition
	}
	d.stop(t)
	for what, s := range secrets {
		if s != "" && strings.Contains(d.stderr.String(), s) {
			t.Errorf("the daemon's log holds the %s", what)
		}
	}
	// Stopped, the data directory is free for in-process commands, and
	// the log records what the API did, naming each caller.
	show := exec.Command(bin, "--output", "json", "log", "show", "--order", order.ID)
	show.Env = append(os.Environ(), env...)
	out, err := show.CombinedOutput()
	if err != nil {
		t.Fatalf("custos log show: %v\n%s", err, out)
	}
	for _, want := range []string{`"intake-1 (intake, token `, `"custodian-1 (custodian, token `, `"discloser-1 (discloser, token `, `disclosure.created`, `item.accessed`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the order's events do not hold %s:\n%s", want, out)
		}
	}
}

// TestServePlainHTTPBeyondLoopback: with server.insecure_http (a proxy in
// front terminates TLS) the daemon serves plain HTTP on every interface,
// and says so in one WARN line; without it, it refuses to start (see
// testdata/script/serve_start.txtar).
func TestServePlainHTTPBeyondLoopback(t *testing.T) {
	bin := custosBinary(t)
	dir := t.TempDir()
	env := []string{"CUSTOS_DATA_DIR=" + filepath.Join(dir, "data"), "CUSTOS_KEY_PASSPHRASE=insecure http test",
		"CUSTOS_SERVER_INSECURE_HTTP=true"}
	d := startDaemonOn(t, bin, env, "0.0.0.0:0")
	d.stop(t)
	var said []string
	for line := range strings.Lines(d.stderr.String()) {
		if strings.Contains(line, "insecure_http") {
			said = append(said, line)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], `"level":"WARN"`) || !strings.Contains(said[0], `"listen":"0.0.0.0:0"`) {
		t.Fatalf("want one WARN line about server.insecure_http, got %q\nlog:\n%s", said, d.stderr)
	}
}

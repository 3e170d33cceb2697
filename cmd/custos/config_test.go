package main

import (
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/source"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// envFrom returns a lookupEnv over a fixed environment.
func envFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// TestExampleConfig loads configs/custos.example.yaml through the same code
// as custos, so the example never goes stale: a key renamed or removed
// there, or here, fails this test.
func TestExampleConfig(t *testing.T) {
	clearCustosEnv(t)
	cfg, err := loadConfig("../../configs/custos.example.yaml", envFrom(map[string]string{"HOME": "/home/c"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir: "/var/lib/custos",
		AgentID: "custos.example.net/agent-1",
		Actor:   "custodian@example.net",
		Key:     KeyConfig{File: "/var/lib/custos/keys/custos.key"},
		Store: StoreConfig{Type: "local", S3: S3Config{
			Endpoint: "127.0.0.1:9000", Bucket: "evidence", Region: "us-east-1",
			TLS: true, RetentionMode: "GOVERNANCE", Checksum: "CRC32C", PartSize: 16 << 20, UploadConcurrency: 1, RetryFor: 2 * time.Minute,
		}},
		Log: LogConfig{CheckpointInterval: 2 * time.Second, VerifyEvery: 24 * time.Hour, Timestamp: TimestampConfig{TSA: []TSAConfig{}, Every: time.Minute},
			WitnessFailOpen: true, WitnessTimeout: 5 * time.Second},
		Server: ServerConfig{Listen: "127.0.0.1:8420", Workers: 4, DrainTimeout: 30 * time.Second,
			JobRetention: 7 * 24 * time.Hour, DisclosureRetention: 7 * 24 * time.Hour},
		Capture: CaptureConfig{Concurrency: 2, Workers: 16, BatchItems: 1024, BatchWait: 250 * time.Millisecond},
		Scheduler: SchedulerConfig{Tick: time.Minute, AutoRelease: true, PurgeGrace: 7 * 24 * time.Hour, FixityEvery: 24 * time.Hour,
			FixityRate: 64 << 20, MirrorEvery: time.Minute},
		Intake: IntakeConfig{VerifiedChannels: []string{}},
	}
	got := *cfg
	srcs, err := got.sourceConfigs()
	if err != nil {
		t.Fatal(err)
	}
	// Every example source must make a connector, or the example lies.
	for _, sc := range srcs {
		if _, err := source.New(sc); err != nil {
			t.Errorf("example source %s: %v", sc.Name, err)
		}
	}
	if len(srcs) != 2 || srcs[1].Name != "mailboxes" || srcs[1].Type != "dir" || !reflect.DeepEqual(srcs[1].Categories, []string{"content"}) ||
		srcs[1].Params["root"] != "/srv/mail" {
		t.Errorf("sources = %+v, want access-logs and mailboxes as in the example", srcs)
	}
	ps, err := order.LoadProfiles(got.Profiles)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := ps.Lookup("us-2703f"); err != nil || len(p.Reminders) != 4 {
		t.Errorf("profiles: us-2703f reminders = %v (%v), want the example's four", p, err)
	}
	got.Sources, got.Profiles = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example config:\n got %+v\nwant %+v", got, want)
	}
}

// TestExampleConfigDocumentsEveryKey checks that every key custos knows
// appears in the example, so a new key cannot go undocumented.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	clearCustosEnv(t)
	data := readFile(t, "../../configs/custos.example.yaml")
	for _, k := range configKeys("") {
		leaf := k.name[strings.LastIndexByte(k.name, '.')+1:]
		if !strings.Contains(data, "\n"+leaf+":") && !strings.Contains(data, " "+leaf+":") {
			t.Errorf("key %s is not in configs/custos.example.yaml", k.name)
		}
	}
}

func TestDefaults(t *testing.T) {
	clearCustosEnv(t)
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HOME": "/home/c"}, "/home/c/.local/share/custos"},
		{map[string]string{"HOME": "/home/c", "XDG_DATA_HOME": "/xdg"}, "/xdg/custos"},
	} {
		cfg, err := loadConfig("", envFrom(tc.env), nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DataDir != tc.want || cfg.Key.File != tc.want+"/keys/custos.key" {
			t.Errorf("env %v: data_dir %s, key.file %s; want %s", tc.env, cfg.DataDir, cfg.Key.File, tc.want)
		}
		if !regexp.MustCompile(`^[a-z0-9.-]+/custos-[0-9a-f]{8}$`).MatchString(cfg.AgentID) || cfg.Log.CheckpointInterval != 2*time.Second || cfg.Store.Type != "local" {
			t.Errorf("defaults: %+v", cfg)
		}
	}
}

func TestEnvAndOverrides(t *testing.T) {
	clearCustosEnv(t)
	t.Setenv("CUSTOS_STORE_S3_ENDPOINT", "minio:9000")
	t.Setenv("CUSTOS_STORE_S3_SECRET_KEY", "hunter2")
	t.Setenv("CUSTOS_STORE_S3_ACCESS_KEY", "custos")
	t.Setenv("CUSTOS_STORE_S3_TLS", "false")
	t.Setenv("CUSTOS_ACTOR", "env")
	t.Setenv("CUSTOS_LOG_CHECKPOINT_INTERVAL", "250ms")
	cfg, err := loadConfig("../../configs/custos.example.yaml", envFrom(map[string]string{"HOME": "/h"}), overrides{"actor": "flag"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.S3.Endpoint != "minio:9000" || cfg.Store.S3.TLS || cfg.Log.CheckpointInterval != 250*time.Millisecond {
		t.Errorf("env not applied: %+v", cfg.Store.S3)
	}
	if cfg.Actor != "flag" {
		t.Errorf("actor %q, want the flag's", cfg.Actor)
	}
	if cfg.Store.S3.SecretKey.Reveal() != "hunter2" {
		t.Errorf("secret not read")
	}
	for _, s := range []string{fmtAll(cfg), fmtAll(cfg.Store.S3.SecretKey)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestConfigErrorsAreUsageErrors(t *testing.T) {
	clearCustosEnv(t)
	t.Setenv("CUSTOS_AGENT_ID", "a+b")
	_, err := loadConfig("", envFrom(map[string]string{"HOME": "/h"}), nil)
	var ue *usageError
	if !errors.As(err, &ue) || exitCode(err) != exitUsage {
		t.Fatalf("got %v, want a usage error", err)
	}
	if !strings.HasPrefix(err.Error(), "config: agent_id: ") {
		t.Errorf("error %q does not name agent_id", err)
	}
}

// clearCustosEnv hides CUSTOS_* variables of the environment running the
// tests from viper for the duration of t.
func clearCustosEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CUSTOS_") {
			t.Setenv(k, "")
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fmtAll formats v every way a log line or error might.
func fmtAll(v any) string {
	j, _ := json.Marshal(v)
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, j)
}

// TestSystemdUnit keeps configs/custos.service true to the binary: its
// command line parses, the environment it sets is what custos reads, and
// the hardening options stay.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../configs/custos.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not KEY=VALUE: %q", line)
		}
		unit[k] = append(unit[k], v)
	}
	exec := strings.Fields(unit["ExecStart"][0])
	if exec[0] != "/usr/local/bin/custos" || exec[len(exec)-1] != "serve" {
		t.Fatalf("ExecStart %v", exec)
	}
	var out, errOut strings.Builder
	args := append([]string{"custos"}, exec[1:]...)
	if code := run(context.Background(), append(args, "--help"), &out, &errOut); code != 0 || !strings.Contains(out.String(), "custos serve") {
		t.Fatalf("%v --help: exit %d\n%s%s", args, code, out.String(), errOut.String())
	}
	for _, env := range unit["Environment"] {
		if stray := strayEnv([]string{env}, configKeys(""), nil); len(stray) > 0 {
			t.Errorf("Environment=%s: custos reads no such variable", env)
		}
	}
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "PrivateDevices=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "CapabilityBoundingSet=", "MemoryDenyWriteExecute=yes",
		"SystemCallFilter=@system-service", "UMask=0077", "KillSignal=SIGTERM", "StateDirectory=custos"} {
		k, v, _ := strings.Cut(want, "=")
		if !slices.Contains(unit[k], v) {
			t.Errorf("the unit lacks %s", want)
		}
	}
}

// TestStrayEnv: a CUSTOS_ variable that is no configuration key, is read
// by no flag and by no configured source is stray; one set to nothing is
// taken as unset.
func TestStrayEnv(t *testing.T) {
	clearCustosEnv(t)
	cfg := &Config{Sources: map[string]any{
		"db":     map[string]any{"type": "postgres", "dsn_env": "CUSTOS_PG_DSN", "query": "select 1"},
		"export": map[string]any{"type": "http", "url": "https://example.net/x", "headers": map[string]any{"Authorization": "env:CUSTOS_EXPORT_TOKEN"}},
	}}
	environ := []string{
		"HOME=/h", "CUSTOS_DATA_DIR=/d", "CUSTOS_STORE_S3_SECRET_KEY=hunter2", "CUSTOS_SERVER_WORKERS=8",
		"CUSTOS_CONFIG=/c.yaml", "CUSTOS_TOKEN=custos_x", "CUSTOS_SERVER_URL=http://x", "CUSTOS_KEY_PASSPHRASE=p",
		"CUSTOS_KEY_PASSPHRASE_FILE=/p", "CUSTOS_RUN_SERVE=0", "CUSTOS_BIN=/b", "CUSTOS_TEST_S3_ENDPOINT=e", "CUSTOS_BENCH_DIR=/x",
		"CUSTOS_PG_DSN=postgres://x", "CUSTOS_EXPORT_TOKEN=t",
		"CUSTOS_STORE_TYP=s3", "CUSTOS_SERVER_LISTEN_ADDR=x", "CUSTOS_STORE_TYP=again", "CUSTOS_UNSET_TYPO=",
	}
	if got, want := strayEnv(environ, configKeys(""), cfg), []string{"CUSTOS_SERVER_LISTEN_ADDR", "CUSTOS_STORE_TYP"}; !slices.Equal(got, want) {
		t.Errorf("stray: %v, want %v", got, want)
	}
	// Without a configuration (it could not be read), what sources read is
	// not known, and so stray.
	if got := strayEnv(environ, configKeys(""), nil); !slices.Contains(got, "CUSTOS_PG_DSN") || len(got) != 4 {
		t.Errorf("stray without a configuration: %v", got)
	}
}

// TestVerifiedChannels: intake.verified_channels is read from the file and
// from CUSTOS_INTAKE_VERIFIED_CHANNELS (comma-separated), for the daemon.
func TestVerifiedChannels(t *testing.T) {
	clearCustosEnv(t)
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("intake:\n  verified_channels: [portal-fr, portal-de]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(file, envFrom(map[string]string{"HOME": "/h"}), nil)
	if err != nil || !slices.Equal(cfg.Intake.VerifiedChannels, []string{"portal-fr", "portal-de"}) {
		t.Fatalf("from the file: %v %+v", err, cfg)
	}
	if err := os.WriteFile(file, []byte("intake:\n  verified_channels: [portal-fr, {name: x}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(file, envFrom(map[string]string{"HOME": "/h"}), nil); exitCode(err) != exitUsage ||
		!strings.Contains(fmt.Sprint(err), "intake.verified_channels") {
		t.Fatalf("a channel that is no name: %v", err)
	}
	t.Setenv("CUSTOS_INTAKE_VERIFIED_CHANNELS", "portal-nl,portal-be")
	cfg, err = loadConfig("", envFrom(map[string]string{"HOME": "/h"}), nil)
	if err != nil || !slices.Equal(cfg.Intake.VerifiedChannels, []string{"portal-nl", "portal-be"}) {
		t.Fatalf("from the environment: %v %+v", err, cfg)
	}
}

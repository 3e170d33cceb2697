package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"
)

// BenchmarkCLICommands times the write commands a custodian runs most, as a
// user runs them (process start to exit): `order add`, `log note` and a
// capture of one 2 KiB file into a new order, on the local store. Beside
// them, in the same run, `custos help`: what starting the process costs
// whatever the command does. It runs once with a key encrypted under a
// passphrase (from the environment: scrypt is paid by every command that
// signs) and once with an unencrypted key (--no-passphrase), so the
// passphrase's share shows. With the encrypted key it also times, in the
// same run, the key file's own key derivation alone (scrypt with the
// parameters and salt the file holds, once in a new process): the
// machine's floor for any command that must decrypt the key, above which
// each command's own share is reported. Target (issue 20): each under
// 0.5 s.
func BenchmarkCLICommands(b *testing.B) {
	for _, keyKind := range []string{"passphrase", "unencrypted"} {
		b.Run(keyKind, func(b *testing.B) { benchCommands(b, keyKind == "passphrase") })
	}
}

func benchCommands(b *testing.B, passphrase bool) {
	bin := custosBinary(b)
	work := b.TempDir()
	file := filepath.Join(work, "message.eml")
	if err := os.WriteFile(file, []byte(strings.Repeat("x", 2048)), 0o600); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "CUSTOS_DATA_DIR="+filepath.Join(work, "data"), "CUSTOS_ACTOR=bench@example.net")
	gen := []string{"keys", "generate"}
	if passphrase {
		env = append(env, "CUSTOS_KEY_PASSPHRASE=bench passphrase")
	} else {
		gen = append(gen, "--no-passphrase")
	}
	custos := func(args ...string) (string, time.Duration) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("custos %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), d
	}
	custos(gen...)
	kdf := func() time.Duration { return 0 }
	if passphrase {
		kdf = keyDerivation(b, filepath.Join(work, "data", "keys", "custos.key"), "bench passphrase")
	}
	orderAdd := []string{"order", "add", "--reference", "BENCH", "--authority", "Court", "--requesting-state", "US", "--profile", "us-2703f",
		"--legal-basis", "18 U.S.C. 2703(f)", "--selector", "email:a@b.example", "--categories", "content"}
	names := []string{"help", "order add", "log note", "capture of one file"}
	times := make([][]time.Duration, len(names))
	var kdfs []time.Duration
	for i := 0; b.Loop(); i++ {
		kdfs = append(kdfs, kdf())
		_, d := custos("help")
		times[0] = append(times[0], d)
		id, d := custos(orderAdd...)
		times[1] = append(times[1], d)
		_, d = custos("log", "note", fmt.Sprintf("bench note %d", i))
		times[2] = append(times[2], d)
		_, d = custos("capture", "--cut-off", "now", "--source", "file://"+file, id)
		times[3] = append(times[3], d)
	}
	med := func(d []time.Duration) time.Duration { s := slices.Clone(d); slices.Sort(s); return s[len(s)/2] }
	base := med(times[0])
	var line strings.Builder
	fmt.Fprintf(&line, "whole commands, median of %d (key %s): custos help %v", len(times[0]), map[bool]string{true: "encrypted, passphrase in the environment", false: "unencrypted"}[passphrase], base.Round(time.Millisecond))
	worst := time.Duration(0)
	for k := 1; k < len(names); k++ {
		m := med(times[k])
		worst = max(worst, m)
		fmt.Fprintf(&line, "; %s %v (%.1fx help)", names[k], m.Round(time.Millisecond), m.Seconds()/base.Seconds())
		b.ReportMetric(float64(m.Milliseconds()), "ms-"+strings.ReplaceAll(names[k], " ", "-"))
	}
	b.ReportMetric(float64(base.Milliseconds()), "ms-help")
	fmt.Fprintf(&line, "; target: each under 500ms: %s", map[bool]string{true: "met", false: "NOT met"}[worst < 500*time.Millisecond])
	if passphrase {
		k := med(kdfs)
		fmt.Fprintf(&line, "; the key file's scrypt alone %v, so the slowest command's own share is %v",
			k.Round(time.Millisecond), (worst - k).Round(time.Millisecond))
		b.ReportMetric(float64(k.Milliseconds()), "ms-key-derivation")
	}
	b.Log(line.String())
}

// keyDerivation returns a func timing the key derivation of the encrypted
// key file at path: scrypt with the parameters and salt it holds (the
// go-securesystemslib format sigstore writes), as decrypting it costs a
// command: once, in a new process (TestKeyDerivationChild), where the
// 32 MiB scrypt needs is memory the process has not touched yet. (In a
// process that has derived keys before, it costs less than half as much
// here: the page faults of fresh memory are most of it on this VM.)
func keyDerivation(b *testing.B, path, pass string) func() time.Duration {
	b.Helper()
	return func() time.Duration {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKeyDerivationChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), kdfKeyEnv+"="+path, kdfPassEnv+"="+pass)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("key derivation child: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`key derivation took (\d+)ns`).FindSubmatch(out)
		if m == nil {
			b.Fatalf("key derivation child printed:\n%s", out)
		}
		ns, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return time.Duration(ns)
	}
}

const (
	kdfKeyEnv  = "CUSTOS_BENCH_KDF_KEY"
	kdfPassEnv = "CUSTOS_BENCH_KDF_PASS"
)

// TestKeyDerivationChild is the child of BenchmarkCLICommands's key
// derivation: it derives the key of the file named in its environment
// once, as a command would, and prints how long that took.
func TestKeyDerivationChild(t *testing.T) {
	path := os.Getenv(kdfKeyEnv)
	if path == "" {
		t.Skip("only run as the child of BenchmarkCLICommands")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s: not PEM", path)
	}
	var enc struct {
		KDF struct {
			Name   string
			Params struct{ N, R, P int }
			Salt   []byte
		}
	}
	if err := json.Unmarshal(block.Bytes, &enc); err != nil || enc.KDF.Name != "scrypt" {
		t.Fatalf("%s: not a scrypt-encrypted key (%v, kdf %q)", path, err, enc.KDF.Name)
	}
	start := time.Now()
	if _, err := scrypt.Key([]byte(os.Getenv(kdfPassEnv)), enc.KDF.Salt, enc.KDF.Params.N, enc.KDF.Params.R, enc.KDF.Params.P, 32); err != nil {
		t.Fatal(err)
	}
	t.Logf("key derivation took %dns", time.Since(start).Nanoseconds())
}

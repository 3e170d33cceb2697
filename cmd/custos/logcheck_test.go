package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// custos runs the CLI in-process and returns its exit code, stdout and
// stderr.
func custos(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(ctx, append([]string{"custos"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// growLog appends n custody notes to the log of data directory dir
// directly, as many earlier commands would have: a full entry bundle.
func growLog(t *testing.T, dir string, n int) {
	t.Helper()
	ctx := context.Background()
	cp, err := os.ReadFile(filepath.Join(dir, "log", "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	origin, _, _ := strings.Cut(string(cp), "\n")
	sv, err := loadKeyFile(filepath.Join(dir, "keys", "custos.key"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l, err := chain.Open(ctx, chain.Config{Dir: filepath.Join(dir, "log"), Origin: origin, Signer: sv})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := l.Append(ctx, chain.Event{Type: chain.CustodyNote, Time: time.Now().UTC(), Actor: "alice",
				Agent: origin, Reason: fmt.Sprintf("note %d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// An entry bundle altered after the writers verified it stops the next
// write: exit 3, naming the entry and the way back, and nothing is
// written; custos log restore brings the log back from its mirror.
func TestWriterRefusesATamperedLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for k, v := range map[string]string{"CUSTOS_DATA_DIR": dir, "CUSTOS_KEY_PASSPHRASE": testPassphrase,
		"CUSTOS_ACTOR": "alice", "CUSTOS_LOG_CHECKPOINT_INTERVAL": "100ms"} {
		t.Setenv(k, v)
	}
	for _, args := range [][]string{{"keys", "generate"}, {"log", "note", "first"}} {
		if code, _, stderr := custos(ctx, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	growLog(t, dir, 300)
	if code, _, stderr := custos(ctx, "log", "note", "verified"); code != 0 {
		t.Fatalf("log note: exit %d: %s", code, stderr)
	}
	bundle := filepath.Join(dir, "log", "tile/entries/000")
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`"note `))
	b[i+6] = '1' + (b[i+6]-'0'+1)%9
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(dir, "log", ".state/treeState"))
	if err != nil {
		t.Fatal(err)
	}

	code, _, stderr := custos(ctx, "log", "note", "after the change")
	if code != exitTamper {
		t.Fatalf("log note on a tampered log: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"the custody log failed verification: tampering detected: tile/0/000: entry ", "custos log restore"} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "log", ".state/treeState")); !bytes.Equal(now, state) {
		t.Fatal("the refused command changed the log")
	}
	if code, _, stderr := custos(ctx, "log", "restore", "--force"); code != 0 {
		t.Fatalf("log restore: exit %d: %s", code, stderr)
	}
	if code, _, stderr := custos(ctx, "log", "note", "after the restore"); code != 0 {
		t.Fatalf("log note after the restore: exit %d: %s", code, stderr)
	}
}

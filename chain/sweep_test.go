package chain_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

// What a write cut short by a full disk or a crash leaves in the log
// directory is removed by the next Open; the log's own files stay.
func TestOpenRemovesLeftoverTemporaries(t *testing.T) {
	dir := grownLog(t, 301)
	leftovers := []string{
		"tile/entries/0001804289383", // bundle 000, the driver's temporary
		"tile/entries/001.p/44846930886",
		"tile/0/0011681692777",
		"tile/1/000.p/11714636915",
		"checkpoint1957747793",
		".state/treeState424238335",
		"checkpoints/.tmp-12345",
		".tmp-67890",
	}
	for _, p := range leftovers {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reopen(t, dir)
	for _, p := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	v, _ := mustKey(t, testSigner(t, 3)).NoteVerifier()
	if _, err := chain.VerifyLog(context.Background(), os.DirFS(dir), v); err != nil {
		t.Fatalf("the log after the sweep: %v", err)
	}
}

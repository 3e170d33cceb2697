package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestEstimate(t *testing.T) {
	root := t.TempDir()
	write := func(name string, n int) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.eml", 100)
	write("sub/b.eml", 20)
	write("sub/skip.tmp", 1000)
	write("cache/c.eml", 5000)
	if err := os.Symlink(filepath.Join(root, "cache", "c.eml"), filepath.Join(root, "link.eml")); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Name: "d", Type: "dir", Params: map[string]any{"root": root, "include": []any{"**/*.eml"}, "exclude": []any{"cache"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.(Estimator).Estimate(context.Background(), Request{})
	if err != nil || got != 120 {
		t.Errorf("dir estimate = %d, %v; want 120 (a.eml and sub/b.eml)", got, err)
	}
	f, err := New(Config{Name: "f", Type: "file", Params: map[string]any{"path": filepath.Join(root, "sub", "skip.tmp")}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.(Estimator).Estimate(context.Background(), Request{}); err != nil || got != 1000 {
		t.Errorf("file estimate = %d, %v; want 1000", got, err)
	}
}

package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDirWalkAndGlobs(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"a.eml", "b.txt", ".hidden.eml", "mail/c.eml", "mail/d.eml", "mail/cache/e.eml", "z/f.eml", "mail.eml"} {
		writeFile(t, filepath.Join(root, f), "content of "+f)
	}
	for _, tc := range []struct {
		name             string
		include, exclude []string
		want             []string
		excluded         int
	}{
		{"everything", nil, nil,
			[]string{".hidden.eml", "a.eml", "b.txt", "mail/c.eml", "mail/cache/e.eml", "mail/d.eml", "mail.eml", "z/f.eml"}, 0},
		{"include at any depth, exclude trees", []string{"**/*.eml"}, []string{"mail/cache/**", "z/**"},
			[]string{".hidden.eml", "a.eml", "mail/c.eml", "mail/d.eml", "mail.eml"}, 3},
		{"include at the top only", []string{"*.eml"}, []string{".*"},
			[]string{"a.eml", "mail.eml"}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]any{"root": root}
			if tc.include != nil {
				params["include"] = tc.include
			}
			if tc.exclude != nil {
				params["exclude"] = tc.exclude
			}
			src := mustNew(t, "dir", params)
			for range 2 { // the same tree yields the same items in the same order
				items, sum, err := capture(t, src, req())
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(names(items), tc.want) || sum["emitted"] != len(tc.want) || sum["excluded"] != tc.excluded {
					t.Fatalf("items %q, summary %v; want %q, %d excluded", names(items), sum, tc.want, tc.excluded)
				}
				for _, it := range items {
					if it.content != "content of "+it.item.Name || it.item.Record["path"] != filepath.Join(root, it.item.Name) || it.item.Record["root"] != root {
						t.Errorf("%s: %q %v", it.item.Name, it.content, it.item.Record)
					}
				}
			}
		})
	}
}

func TestDirSymlinksAndSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	writeFile(t, filepath.Join(root, "a.txt"), "inside")
	writeFile(t, filepath.Join(root, "sub", "b.txt"), "below")
	writeFile(t, filepath.Join(outside, "secret"), "SECRET")
	symlink(t, "a.txt", filepath.Join(root, "in"))
	symlink(t, "../a.txt", filepath.Join(root, "sub", "up"))
	symlink(t, "../outside/secret", filepath.Join(root, "out"))
	symlink(t, "../outside", filepath.Join(root, "outdir"))
	symlink(t, filepath.Join(root, "a.txt"), filepath.Join(root, "abs"))
	symlink(t, "nothing", filepath.Join(root, "dangling"))
	symlink(t, "sub", filepath.Join(root, "dirlink"))
	symlink(t, "loop", filepath.Join(root, "loop"))
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}

	items, sum, err := capture(t, mustNew(t, "dir", map[string]any{"root": root}), req())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.txt", "in", "sub/b.txt", "sub/up"}; !slices.Equal(names(items), want) {
		t.Fatalf("items %q, want %q", names(items), want)
	}
	for _, it := range items {
		if strings.Contains(it.content, "SECRET") {
			t.Fatalf("%s: read a file outside the root", it.item.Name)
		}
	}
	if items[1].content != "inside" || items[1].item.Record["symlink"] != "a.txt" || items[3].item.Record["symlink"] != "../a.txt" {
		t.Errorf("followed links: %+v %+v", items[1], items[3])
	}
	for k, v := range map[string]int{
		"symlinks_followed": 2, "skipped_symlink_outside": 3, "skipped_symlink_dangling": 1,
		"skipped_symlink_dir": 1, "skipped_symlink_unresolved": 1, "skipped_special": 1,
	} {
		if sum[k] != v {
			t.Errorf("summary %s = %v, want %d", k, sum[k], v)
		}
	}
	reasons := map[string]string{}
	for _, s := range sum["skipped"].([]map[string]string) {
		reasons[s["name"]] = s["reason"]
	}
	for name, want := range map[string]string{
		"out":      "symlink leaves the root (-> ../outside/secret)",
		"outdir":   "symlink leaves the root (-> ../outside)",
		"abs":      "symlink leaves the root (-> " + filepath.Join(root, "a.txt") + ")",
		"dangling": "dangling symlink (-> nothing)",
		"dirlink":  "symlink to a directory (not followed) (-> sub)",
		"loop":     "symlink cannot be resolved (-> loop: too many levels of symbolic links)",
		"fifo":     "not a regular file (a named pipe)",
	} {
		if reasons[name] != want {
			t.Errorf("skipped %s: %q, want %q", name, reasons[name], want)
		}
	}
}

// TestDirSymlinkSwappedDuringWalk swaps a directory and a file the walk
// has already listed for symlinks out of the root, while the first item
// is being read: both must be refused as leaving the root. (The walk
// lstats each name when it reaches it, so it sees the symlinks; one
// swapped between that lstat and the open is refused by os.Root, "found
// when entered" or "found when opened".)
func TestDirSymlinkSwappedDuringWalk(t *testing.T) {
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	writeFile(t, filepath.Join(root, "a.txt"), "first")
	writeFile(t, filepath.Join(root, "b", "x.txt"), "in b")
	writeFile(t, filepath.Join(root, "c.txt"), "last")
	writeFile(t, filepath.Join(outside, "x.txt"), "SECRET")
	writeFile(t, filepath.Join(outside, "c.txt"), "SECRET")
	swap := func() error {
		return errors.Join(
			os.Rename(filepath.Join(root, "b"), filepath.Join(dir, "b.moved")),
			os.Symlink("../outside", filepath.Join(root, "b")),
			os.Remove(filepath.Join(root, "c.txt")),
			os.Symlink("../outside/c.txt", filepath.Join(root, "c.txt")),
		)
	}
	var seen []string
	sum, err := mustNew(t, "dir", map[string]any{"root": root}).Capture(context.Background(), req(), func(it *Item, r io.Reader) error {
		b, err := io.ReadAll(r)
		seen = append(seen, it.Name+"="+string(b))
		if it.Name == "a.txt" {
			if err := swap(); err != nil {
				t.Fatal(err)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"a.txt=first"}) {
		t.Fatalf("emitted %q, want only a.txt", seen)
	}
	if sum["skipped_symlink_outside"] != 2 {
		t.Fatalf("summary %v", sum)
	}
	for i, name := range []string{"b", "c.txt"} {
		s := sum["skipped"].([]map[string]string)[i]
		if s["name"] != name || !strings.HasPrefix(s["reason"], "symlink leaves the root (") {
			t.Errorf("skipped %d: %v, want %s", i, s, name)
		}
	}
}

func TestDirCutOff(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "old.txt"), "before")
	writeFile(t, filepath.Join(root, "sub", "new.txt"), "after")
	r := req()
	later := r.CutOff.Add(time.Minute)
	if err := os.Chtimes(filepath.Join(root, "sub", "new.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	items, sum, err := capture(t, mustNew(t, "dir", map[string]any{"root": root}), r)
	if err != nil || !slices.Equal(names(items), []string{"old.txt"}) || sum["skipped_newer"] != 1 {
		t.Fatalf("%v %q %v", err, names(items), sum)
	}
	if s := sum["skipped"].([]map[string]string)[0]; s["name"] != "sub/new.txt" || s["reason"] != "newer than the cut-off (modified "+stamp(later)+")" {
		t.Errorf("skipped %v", s)
	}
	items, sum, err = capture(t, mustNew(t, "dir", map[string]any{"root": root, "include_newer": true}), r)
	if err != nil || !slices.Equal(names(items), []string{"old.txt", "sub/new.txt"}) || sum["skipped_newer"] != 0 {
		t.Fatalf("include_newer: %v %q %v", err, names(items), sum)
	}
}

func TestDirStopsAtAFailedItem(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a"), "a")
	writeFile(t, filepath.Join(root, "b"), "b")
	failed := errors.New("store full")
	calls := 0
	sum, err := mustNew(t, "dir", map[string]any{"root": root}).Capture(context.Background(), req(), func(*Item, io.Reader) error {
		calls++
		return failed
	})
	if !errors.Is(err, failed) || calls != 1 || sum["emitted"] != 0 {
		t.Fatalf("%v, %d calls, %v", err, calls, sum)
	}
}

func TestDirRefusesBadParameters(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"root": "srv/export"}, `root "srv/export" is not an absolute path`},
		{map[string]any{}, `root "" is not an absolute path`},
		{map[string]any{"root": "/srv", "include": []string{"[a"}}, `glob "[a": syntax error in pattern`},
		{map[string]any{"root": "/srv", "exclude": "*.tmp"}, "exclude"},
		{map[string]any{"root": "/srv", "roots": []string{"/"}}, `unknown field "roots"`},
	} {
		if _, err := New(Config{Name: "tree", Type: "dir", Params: tc.params}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.params, err, tc.want)
		}
	}
	_, _, err := capture(t, mustNew(t, "dir", map[string]any{"root": filepath.Join(t.TempDir(), "missing")}), req())
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing root: %v", err)
	}
}

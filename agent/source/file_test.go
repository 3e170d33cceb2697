package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// got is one item a source emitted, read to the end as the capture
// pipeline reads it.
type got struct {
	item    *Item
	content string
	err     error // the content's Read error: the item was not preserved
}

// capture runs src and collects what it emits; each item is read to the
// end, and a read error is returned by emit, as the pipeline does.
func capture(t *testing.T, src Source, req Request) ([]got, Summary, error) {
	t.Helper()
	var items []got
	sum, err := src.Capture(context.Background(), req, func(it *Item, r io.Reader) error {
		b, rerr := io.ReadAll(r)
		items = append(items, got{item: it, content: string(b), err: rerr})
		return rerr
	})
	return items, sum, err
}

func mustNew(t *testing.T, typ string, params map[string]any) Source {
	t.Helper()
	s, err := New(Config{Name: "test", Type: typ, Params: params})
	if err != nil {
		t.Fatalf("new %s: %v", typ, err)
	}
	return s
}

// writeFile writes a file and dates it an hour before now, so that it
// predates the cut-off of req().
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func req() Request { return Request{Order: "01JTESTORDER", CutOff: time.Now()} }

func names(items []got) []string {
	var ns []string
	for _, g := range items {
		ns = append(ns, g.item.Name)
	}
	return ns
}

func TestFileCapture(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "mail", "a.mbox")
	writeFile(t, path, "From alice\n")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	src := mustNew(t, "file", map[string]any{"path": path, "roots": []string{root}})
	items, sum, err := capture(t, src, req())
	if err != nil || len(items) != 1 || items[0].err != nil {
		t.Fatalf("capture: %v %+v", err, items)
	}
	it := items[0]
	if it.item.Name != "mail/a.mbox" || it.content != "From alice\n" || !it.item.Modified.Equal(fi.ModTime()) {
		t.Errorf("item %q %q %v", it.item.Name, it.content, it.item.Modified)
	}
	rec := it.item.Record
	want := map[string]any{
		"root": root, "path": path, "name": "mail/a.mbox", "size": int64(11), "mode": "-rw-r-----",
		"mode_octal": "0640", "mtime": stamp(fi.ModTime()), "uid": int64(os.Getuid()), "gid": int64(os.Getgid()),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("record %s = %v (%T), want %v", k, rec[k], rec[k], v)
		}
	}
	if _, ok := rec["inode"]; !ok {
		t.Errorf("record has no inode: %v", rec)
	}
	if sum["emitted"] != 1 || sum["bytes"] != int64(11) || sum["skipped_newer"] != 0 {
		t.Errorf("summary %v", sum)
	}
}

func TestFileRefusesPathsOutsideItsRoots(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"path": "/etc/passwd", "roots": []string{root}}, "path /etc/passwd is outside the allowed roots " + root},
		{map[string]any{"path": root + "/../escape", "roots": []string{root}}, "path " + filepath.Dir(root) + "/escape is outside the allowed roots"},
		{map[string]any{"path": root, "roots": []string{root}}, "path " + root + " is outside the allowed roots"},
		{map[string]any{"path": "relative/a.mbox"}, `path "relative/a.mbox" is not an absolute path`},
		{map[string]any{"path": root + "/a", "roots": []string{"rel"}}, `root "rel" is not an absolute path`},
		{map[string]any{"path": root + "/a", "root": root}, `unknown field "root"`},
	} {
		_, err := New(Config{Name: "evidence", Type: "file", Params: tc.params})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `source "evidence"`) {
			t.Errorf("%v: %v, want an error with %q", tc.params, err, tc.want)
		}
	}
}

func TestFileSymlinks(t *testing.T) {
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	writeFile(t, filepath.Join(root, "a.txt"), "inside")
	writeFile(t, filepath.Join(outside, "secret"), "SECRET")
	symlink(t, "a.txt", filepath.Join(root, "in"))
	symlink(t, "../outside/secret", filepath.Join(root, "out"))
	symlink(t, filepath.Join(root, "a.txt"), filepath.Join(root, "abs"))
	symlink(t, "nothing", filepath.Join(root, "dangling"))
	symlink(t, "../outside", filepath.Join(root, "via"))

	items, _, err := capture(t, mustNew(t, "file", map[string]any{"path": filepath.Join(root, "in")}), req())
	if err != nil || len(items) != 1 || items[0].content != "inside" || items[0].item.Name != "in" || items[0].item.Record["symlink"] != "a.txt" {
		t.Fatalf("a symlink inside the root: %v %+v", err, items)
	}
	for name, want := range map[string]string{
		"out":        "symlink leaves the root (-> ../outside/secret)",
		"abs":        "symlink leaves the root (-> " + filepath.Join(root, "a.txt") + ")",
		"dangling":   "dangling symlink (-> nothing)",
		"via/secret": "symlink leaves the root (found when opened: path escapes from parent)",
		"../a.txt":   "outside the allowed roots",
	} {
		path := filepath.Join(root, name)
		s, err := New(Config{Type: "file", Params: map[string]any{"path": path, "roots": []string{root}}})
		if err == nil {
			var items []got
			items, _, err = capture(t, s, req())
			if len(items) != 0 {
				t.Errorf("%s: emitted %+v", name, items)
			}
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", name, err, want)
		}
	}
}

func TestFileCutOff(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "new.log")
	writeFile(t, path, "written after the order")
	r := req()
	if err := os.Chtimes(path, r.CutOff.Add(time.Second), r.CutOff.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	items, sum, err := capture(t, mustNew(t, "file", map[string]any{"path": path}), r)
	if err != nil || len(items) != 0 || sum["skipped_newer"] != 1 || sum["emitted"] != 0 {
		t.Fatalf("newer file: %v %+v %v", err, items, sum)
	}
	listed, _ := sum["skipped"].([]map[string]string)
	if len(listed) != 1 || listed[0]["name"] != "new.log" || !strings.HasPrefix(listed[0]["reason"], "newer than the cut-off (modified ") {
		t.Errorf("skipped list %v", sum["skipped"])
	}
	items, sum, err = capture(t, mustNew(t, "file", map[string]any{"path": path, "include_newer": true}), r)
	if err != nil || len(items) != 1 || sum["skipped_newer"] != 0 || sum["include_newer"] != true {
		t.Fatalf("include_newer: %v %+v %v", err, items, sum)
	}
	_, _, err = capture(t, mustNew(t, "file", map[string]any{"path": path}), Request{})
	if err == nil || !strings.Contains(err.Error(), "no cut-off time") {
		t.Errorf("no cut-off: %v", err)
	}
}

func TestFileChangedWhileRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(path string) error
		want   string
	}{
		{"appended", func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			_, err = f.WriteString("more")
			return errors.Join(err, f.Close())
		}, "it grew beyond the 10 bytes it had when opened"},
		{"rewritten, same size", func(path string) error {
			return os.WriteFile(path, []byte("0123456789"), 0o640)
		}, "size 10 when opened, 10 read, 10 at the end; modified "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "live.mbox")
			writeFile(t, path, "abcdefghij")
			src := mustNew(t, "file", map[string]any{"path": path})
			var readErr error
			_, err := src.Capture(context.Background(), req(), func(_ *Item, r io.Reader) error {
				if _, err := io.ReadFull(r, make([]byte, 3)); err != nil {
					return err
				}
				if err := tc.change(path); err != nil {
					t.Fatal(err)
				}
				_, readErr = io.ReadAll(r)
				return readErr
			})
			if readErr == nil || !strings.Contains(readErr.Error(), path+" changed while it was read: "+tc.want) || err != readErr {
				t.Fatalf("read: %v; capture: %v", readErr, err)
			}
		})
	}
}

func TestFileNotARegularFile(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := capture(t, mustNew(t, "file", map[string]any{"path": filepath.Join(root, "sub")}), req())
	if err == nil || !strings.Contains(err.Error(), "not a regular file (a directory)") {
		t.Fatalf("a directory: %v", err)
	}
}

func TestFileAndDirFromURI(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "x", "a.eml"), "a")
	isDir := func(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }
	for uri, want := range map[string]string{"file://" + root: "dir x/a.eml", "file://" + root + "/x/a.eml": "file a.eml"} {
		cfg, err := ConfigFromURI(uri, isDir)
		if err != nil {
			t.Fatal(err)
		}
		src, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		items, _, err := capture(t, src, req())
		if err != nil || len(items) != 1 || src.Kind()+" "+items[0].item.Name != want {
			t.Errorf("%s: %v %+v, want %s", uri, err, items, want)
		}
	}
}

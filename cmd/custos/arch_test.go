package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/custos-evidence/custos"

// TestArchitecture walks the source and holds the rules of SPEC section 4:
// which folder may import what, no util package, no init side effects.
func TestArchitecture(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// What each top-level folder may import of ours.
	mayImport := map[string][]string{
		"chain":   nil,
		"storage": nil,
		"agent":   {"chain", "storage", "agent"},
		"cmd":     {"chain", "storage", "agent", "cmd"},
	}
	// Inside agent/ too, a lower package never imports a higher one: by
	// package, the packages of ours it must not import.
	mustNotImport := map[string][]string{
		"agent/source":  {"agent", "agent/capture"},
		"agent/capture": {"agent"},
	}
	// Within chain/: the log package itself imports nothing of ours, not
	// even the package format built on it, and leaves age to
	// chain/disclosure, which may import chain.
	pkgMayImport := map[string][]string{
		"chain":            nil,
		"chain/disclosure": {"chain"},
		// The order domain is pure: event values from chain, nothing else
		// of ours, and no I/O of its own (below).
		"agent/order":   {"chain"},
		"agent/datadir": nil,
		// The transparency report is a pure reading of log entries.
		"agent/report": {"chain"},
	}
	pkgMayNotImport := map[string][]string{
		"chain":        {"filippo.io/age"},
		"agent/order":  {"os", "os/exec", "io/fs", "net/http", "database/sql", "path/filepath", "github.com/minio/minio-go"},
		"agent/report": {"os", "os/exec", "io/fs", "net/http", "database/sql", "path/filepath", "github.com/minio/minio-go"},
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			switch name {
			case "util", "utils", "common", "helpers":
				t.Errorf("%s: a %s package; put the code in the package whose noun it serves", rel, name)
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		files++
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		pkg := filepath.ToSlash(filepath.Dir(rel))
		isTest := strings.HasSuffix(path, "_test.go")
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if ours, ok := strings.CutPrefix(p, module+"/"); ok && ours != pkg && !testSupport(isTest, top, ours) {
				if allowed, known := pkgMayImport[pkg]; known && !slices.Contains(allowed, ours) {
					t.Errorf("%s (package %s) imports %s: it may import only %v of ours", rel, pkg, p, allowed)
				}
			}
			for _, no := range pkgMayNotImport[pkg] {
				if !isTest && (p == no || strings.HasPrefix(p, no+"/")) {
					t.Errorf("%s (package %s) imports %s, which it leaves to another package", rel, pkg, p)
				}
			}
			switch {
			case strings.HasPrefix(p, "github.com/spf13/viper") || strings.HasPrefix(p, "github.com/urfave/cli"):
				if top != "cmd" {
					t.Errorf("%s imports %s: configuration and CLI libraries belong in cmd/", rel, p)
				}
			case strings.HasPrefix(p, "github.com/minio/minio-go"):
				if top != "storage" && top != "cmd" && !isTest {
					t.Errorf("%s imports %s: the S3 client belongs in storage/", rel, p)
				}
			case strings.HasPrefix(p, module+"/"):
				ours := strings.Split(strings.TrimPrefix(p, module+"/"), "/")[0]
				allowed, known := mayImport[top]
				if known && ours != top && !slices.Contains(allowed, ours) {
					t.Errorf("%s (in %s/) imports %s: %s/ may import only %v of ours", rel, top, p, top, allowed)
				}
				if slices.Contains(mustNotImport[pkg], strings.TrimPrefix(p, module+"/")) {
					t.Errorf("%s imports %s, which is above %s: a lower package never imports a higher one", rel, p, pkg)
				}
			}
		}
		if !isTest {
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.Contains(string(src), "\nfunc init()") {
				t.Errorf("%s: an init function; wire things up explicitly", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("walked only %d Go files from %s", files, root)
	}
}

// testSupport reports whether a file's import of ours is a test of top/
// importing a test-support package of the same folder (chain/witnesstest,
// chain/tsatest, storage/storagetest: fakes and fixtures built for tests,
// which follow the folder's own rules). Production code never imports
// them (the folder rule below still applies to what they import).
func testSupport(isTest bool, top, ours string) bool {
	return isTest && strings.HasPrefix(ours, top+"/") && strings.HasSuffix(ours, "test")
}

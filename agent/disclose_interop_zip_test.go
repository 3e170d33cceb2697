package agent

import (
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// checkZipReaders reads a .zip package with two zip readers that are not
// Go's (issue 18 item 8): Info-ZIP's `unzip -t` tests every entry's CRC,
// and Python's zipfile lists the entries, tests them, and reads each local
// header as Java's ZipInputStream does, which refuses a stored entry that
// has a data descriptor ("only DEFLATED entries can have EXT
// descriptor"). Both must see exactly the files of the package, unpacked
// by archive/zip into root.
func checkZipReaders(t *testing.T, zipPath, root string) {
	want := packageFiles(t, root)
	t.Run("unzip -t", func(t *testing.T) {
		requireTool(t, "unzip")
		out, err := runIn(filepath.Dir(zipPath), "unzip", "-t", zipPath)
		if err != nil || !strings.Contains(out, "No errors detected") {
			t.Fatalf("unzip -t: %v\n%s", err, out)
		}
		var tested []string
		for _, l := range strings.Split(out, "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(l), "testing: "); ok {
				name = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(name), "OK"))
				tested = append(tested, name)
			}
		}
		sort.Strings(tested)
		if !slices.Equal(tested, want) {
			t.Errorf("unzip -t tested %v, the package holds %v", tested, want)
		}
	})
	t.Run("python zipfile", func(t *testing.T) {
		requireTool(t, "python3")
		out, err := exec.Command("python3", "-c", pythonZipCheck, zipPath).CombinedOutput()
		if err != nil {
			t.Fatalf("python3 zipfile: %v\n%s", err, out)
		}
		listed := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		sort.Strings(listed)
		if !slices.Equal(listed, want) {
			t.Errorf("python's zipfile lists %v, the package holds %v", listed, want)
		}
	})
}

// pythonZipCheck tests a zip with Python's zipfile, refuses what Java's
// ZipInputStream refuses in a local header, and prints the entries' names.
const pythonZipCheck = `
import struct, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
if bad is not None:
    sys.exit("bad CRC: " + bad)
for i in z.infolist():
    z.fp.seek(i.header_offset)
    sig, _, flags, method = struct.unpack("<IHHH", z.fp.read(10))
    if sig != 0x04034b50:
        sys.exit(i.filename + ": no local header")
    if method == zipfile.ZIP_STORED and flags & 0x8:
        sys.exit(i.filename + ": a stored entry with a data descriptor (Java's ZipInputStream refuses it)")
    if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        sys.exit(i.filename + ": method %d" % method)
    print(i.filename)
`

package disclosure

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// payloadNamer gives items safe, readable, distinct names under data/
// (docs/package.md, "Payload names").
type payloadNamer struct {
	taken map[string]bool
}

func newPayloadNamer() *payloadNamer { return &payloadNamer{taken: map[string]bool{}} }

func (n *payloadNamer) name(src, name string) string {
	if _, rest, ok := strings.Cut(src, "://"); ok {
		// A source named by its URI (file:///srv/export): the last
		// segment of its place, export.
		rest = strings.Trim(rest, "/")
		src = rest[strings.LastIndex(rest, "/")+1:]
	}
	segs := []string{safeSegment(src)}
	for _, s := range strings.Split(name, "/") {
		if s == "" || s == "." || s == ".." {
			continue
		}
		segs = append(segs, safeSegment(s))
	}
	if len(segs) == 1 {
		segs = append(segs, "item")
	}
	if len(segs) > 9 { // the source and at most 8 segments of the name
		segs = append(segs[:1], segs[len(segs)-8:]...)
	}
	p := "data/" + strings.Join(segs, "/")
	if n.take(p) {
		return p
	}
	ext := path.Ext(p)
	if strings.Contains(ext, "/") || ext == p {
		ext = ""
	}
	base := strings.TrimSuffix(p, ext)
	for i := 2; ; i++ {
		q := fmt.Sprintf("%s~%d%s", base, i, ext)
		if n.take(q) {
			return q
		}
	}
}

// take takes p unless it, or a name that differs from it only in case, is
// taken: a file system that ignores case (macOS's, Windows') would hold
// them as one file.
func (n *payloadNamer) take(p string) bool {
	k := strings.ToLower(p)
	if n.taken[k] {
		return false
	}
	n.taken[k] = true
	return true
}

// safeSegment makes one segment of an item's name a file name that every
// common file system holds (docs/package.md, "Payload names"): the
// segment as it is, in Unicode NFC, with "_" only for what some file
// system cannot hold or BagIt gives a meaning to. The original name is
// kept, unchanged, in the signed statement and the item's record.
func safeSegment(s string) string {
	s = norm.NFC.String(strings.ToValidUTF8(s, "_"))
	b := []byte(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || strings.ContainsRune(unsafeRunes, r) {
			return '_'
		}
		return r
	}, s))
	if len(b) > 0 && b[0] == '.' { // hidden on Unix, and never . or ..
		b[0] = '_'
	}
	if len(b) > maxSegmentBytes {
		n := maxSegmentBytes
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		b = b[:n]
	}
	if n := len(b); n > 0 && (b[n-1] == '.' || b[n-1] == ' ') { // Windows drops them
		b[n-1] = '_'
	}
	out := string(b)
	if reservedOnWindows(out) {
		out = "_" + out
	}
	if out == "" {
		return "_"
	}
	return out
}

// unsafeRunes are the characters besides controls that a segment never
// holds: the path separators, the rest of what Windows refuses in a name,
// and '%', which BagIt manifests percent-encode (RFC 8493 2.1.3).
const unsafeRunes = `/\:*?"<>|%`

// maxSegmentBytes is the longest segment, in bytes of UTF-8.
const maxSegmentBytes = 100

// reservedOnWindows reports whether name is a device name on Windows
// (CON, NUL, COM1, ..., with or without an extension).
func reservedOnWindows(name string) bool {
	base, _, _ := strings.Cut(strings.ToUpper(name), ".")
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	return len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '1' && base[3] <= '9'
}

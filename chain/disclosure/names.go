package disclosure

import (
	"fmt"
	"path"
	"strings"
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
	if !n.taken[p] {
		n.taken[p] = true
		return p
	}
	ext := path.Ext(p)
	if strings.Contains(ext, "/") || ext == p {
		ext = ""
	}
	base := strings.TrimSuffix(p, ext)
	for i := 2; ; i++ {
		q := fmt.Sprintf("%s~%d%s", base, i, ext)
		if !n.taken[q] {
			n.taken[q] = true
			return q
		}
	}
}

// safeSegment makes one path segment safe on every file system.
func safeSegment(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] == '.' {
		b[0] = '_'
	}
	if len(b) > 100 {
		b = b[:100]
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

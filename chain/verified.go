package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
)

// verifiedPath, in the log directory, records how far the writer has
// verified the log (see verifiedState). It is the writer's own, like the
// tree state: the mirror does not copy it, and a log without it (new,
// restored, copied) is verified from its first entry.
const verifiedPath = ".verified"

// maxTileLevels bounds the tile levels of a tree of up to 2^64 entries.
const maxTileLevels = 8

// verifiedHeader is the first line, and version, of the verified record.
const verifiedHeader = "custos log verified v1"

// verifiedState is what the writer knows it verified: the tree walk's
// state at a bundle boundary (every entry bundle and hash tile of the
// entries before it was read and recomputed), the stamps the file system
// gave those files before they were read, and when the whole log was last
// verified from its first entry. The next verification checks the stamps
// (a stat of each file, no read) and, if none changed, resumes the walk
// there; otherwise it verifies the whole log again.
//
// It makes start-up fast, not the log trustworthy: anyone who can write
// the log directory can rewrite a file and this record together. The
// verification from the first entry on a schedule, `custos log verify`
// and the mirror in the store are the defence against that.
type verifiedState struct {
	walk   *walkState
	stamps []byte    // see stamps
	full   time.Time // the last verification from the first entry; zero if unknown
}

// stamps hashes what the file system says of every full entry bundle and
// full hash tile of the first size entries (a multiple of the bundle
// width): path, length, mode, modification and change times and inode.
// The driver writes each such file once and never again, so any change to
// one (an edit in place, a file replaced, removed or restored from a copy)
// changes the stamps. It reads no file: a stat each.
func stamps(fsys fs.FS, size uint64) ([]byte, error) {
	h := sha256.New()
	add := func(p string) error {
		fi, err := fs.Stat(fsys, p)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(h, "%s missing\n", p)
			return nil
		}
		if err != nil {
			return err
		}
		ctime, ino := changeStamp(fi)
		fmt.Fprintf(h, "%s %d %o %d %d %d\n", p, fi.Size(), fi.Mode(), fi.ModTime().UnixNano(), ctime, ino)
		return nil
	}
	for b := range size / layout.EntryBundleWidth {
		if err := add(layout.EntriesPath(b, 0)); err != nil {
			return nil, err
		}
	}
	for level := range uint64(maxTileLevels) {
		full := size >> (layout.TileHeight * (level + 1)) // full tiles at this level
		for i := range full {
			if err := add(layout.TilePath(level, i, 0)); err != nil {
				return nil, err
			}
		}
	}
	return h.Sum(nil), nil
}

// formatVerified encodes st as the verified record: a versioned text of
// one field a line, ending with the SHA-256 of what precedes it, so a
// damaged record is told from one that no longer matches the files.
func formatVerified(st *verifiedState) []byte {
	var b bytes.Buffer
	b.WriteString(verifiedHeader + "\n")
	fmt.Fprintf(&b, "size %d\n", st.walk.size)
	full := "-"
	if !st.full.IsZero() {
		full = st.full.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(&b, "full %s\n", full)
	fmt.Fprintf(&b, "stamps %x\n", st.stamps)
	b.WriteString("range" + hashList(st.walk.rng) + "\n")
	for level := 1; level < len(st.walk.tiles); level++ {
		fmt.Fprintf(&b, "tile %d%s\n", level, hashList(st.walk.tiles[level]))
	}
	sum := sha256.Sum256(b.Bytes())
	fmt.Fprintf(&b, "sum %x\n", sum)
	return b.Bytes()
}

func hashList(hs [][]byte) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteByte(' ')
		b.WriteString(base64.StdEncoding.EncodeToString(h))
	}
	return b.String()
}

// parseVerified decodes a verified record. Any error means the record is
// unusable (damaged, or of another version), not that the log is.
func parseVerified(raw []byte) (*verifiedState, error) {
	body, sumLine, ok := cutLastLine(raw)
	if !ok {
		return nil, errors.New("verified record: no checksum")
	}
	sum := sha256.Sum256(body)
	if sumLine != "sum "+hex.EncodeToString(sum[:]) {
		return nil, errors.New("verified record: checksum mismatch")
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) < 5 || len(lines) > 5+maxTileLevels || lines[0] != verifiedHeader {
		return nil, errors.New("verified record: not a " + verifiedHeader + " record")
	}
	st := &verifiedState{walk: &walkState{}}
	if err := parseVerifiedHead(lines[1:4], st); err != nil {
		return nil, fmt.Errorf("verified record: %w", err)
	}
	var err error
	if st.walk.rng, err = parseHashList(lines[4], "range"); err != nil {
		return nil, fmt.Errorf("verified record: %w", err)
	}
	st.walk.tiles = [][][]byte{nil}
	for i, l := range lines[5:] {
		hs, err := parseHashList(l, "tile "+strconv.Itoa(i+1))
		if err != nil || len(hs) >= layout.TileWidth {
			return nil, fmt.Errorf("verified record: tile level %d: %v", i+1, err)
		}
		st.walk.tiles = append(st.walk.tiles, hs)
	}
	if err := st.walk.check(); err != nil {
		return nil, fmt.Errorf("verified record: %w", err)
	}
	return st, nil
}

func parseVerifiedHead(lines []string, st *verifiedState) error {
	size, ok := strings.CutPrefix(lines[0], "size ")
	n, err := strconv.ParseUint(size, 10, 64)
	if !ok || err != nil || strconv.FormatUint(n, 10) != size || n%layout.EntryBundleWidth != 0 {
		return fmt.Errorf("bad size line %q", lines[0])
	}
	st.walk.size = n
	full, ok := strings.CutPrefix(lines[1], "full ")
	if !ok {
		return fmt.Errorf("bad full line %q", lines[1])
	}
	if full != "-" {
		st.full, err = time.Parse(time.RFC3339Nano, full)
		if err != nil || st.full.UTC().Format(time.RFC3339Nano) != full {
			return fmt.Errorf("bad full line %q", lines[1])
		}
	}
	stamps, ok := strings.CutPrefix(lines[2], "stamps ")
	if st.stamps, err = hex.DecodeString(stamps); !ok || err != nil || len(st.stamps) != sha256.Size || hex.EncodeToString(st.stamps) != stamps {
		return fmt.Errorf("bad stamps line %q", lines[2])
	}
	return nil
}

func parseHashList(line, name string) ([][]byte, error) {
	rest, ok := strings.CutPrefix(line, name)
	if !ok || (rest != "" && rest[0] != ' ') {
		return nil, fmt.Errorf("expected %s, got %.40q", name, line)
	}
	if rest == "" {
		return nil, nil
	}
	var hs [][]byte
	for _, f := range strings.Split(rest[1:], " ") {
		h, err := base64.StdEncoding.Strict().DecodeString(f)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("%s: bad hash %.50q", name, f)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// cutLastLine splits raw, which must end in a newline, before its last line.
func cutLastLine(raw []byte) (body []byte, last string, ok bool) {
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		return nil, "", false
	}
	i := bytes.LastIndexByte(raw[:len(raw)-1], '\n')
	if i < 0 {
		return nil, "", false
	}
	return raw[:i+1], string(raw[i+1 : len(raw)-1]), true
}

// readVerified reads the verified record of the log in fsys; nil if
// there is none or it is unusable.
func readVerified(fsys fs.FS) (*verifiedState, error) {
	raw, err := fs.ReadFile(fsys, verifiedPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := parseVerified(raw)
	if err != nil {
		return nil, nil //nolint:nilerr // a damaged record costs a full verification, nothing more
	}
	return st, nil
}

package auth

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/custos-evidence/custos/agent/datadir"
)

// FileVersion is the version of the token file format, its "v" field.
const FileVersion = 1

// tokenFile is the token file:
//
//	{
//	  "v": 1,
//	  "tokens": [ {"id": ..., "name": ..., "role": ..., "sha256": ..., "created": ...}, ... ]
//	}
//
// Tokens are never removed, only revoked, so every change makes the file
// longer; the reload check leans on that (see stamp).
type tokenFile struct {
	Version int     `json:"v"`
	Tokens  []Token `json:"tokens"`
}

// parseTokens parses and checks a token file.
func parseTokens(data []byte) ([]Token, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f tokenFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the end of the JSON object")
	}
	if f.Version != FileVersion {
		return nil, fmt.Errorf("version %d, want %d", f.Version, FileVersion)
	}
	if f.Tokens == nil {
		return nil, errors.New(`no "tokens" list`)
	}
	ids := make(map[string]bool, len(f.Tokens))
	active := make(map[string]string, len(f.Tokens))
	for i := range f.Tokens {
		t := &f.Tokens[i]
		if err := checkToken(t); err != nil {
			return nil, fmt.Errorf("token %d: %w", i, err)
		}
		if ids[t.ID] {
			return nil, fmt.Errorf("token %d: id %s appears twice", i, t.ID)
		}
		ids[t.ID] = true
		if t.Revoked == nil {
			if other, ok := active[t.Name]; ok {
				return nil, fmt.Errorf("tokens %s and %s are both active and named %q", other, t.ID, t.Name)
			}
			active[t.Name] = t.ID
		}
	}
	return f.Tokens, nil
}

func checkToken(t *Token) error {
	if id, err := ulid.ParseStrict(t.ID); err != nil || id.String() != t.ID {
		return fmt.Errorf("id %q is not an upper-case ULID", t.ID)
	}
	if err := ValidateName(t.Name); err != nil {
		return fmt.Errorf("%s: %w", t.ID, err)
	}
	if !t.Role.Valid() {
		return fmt.Errorf("%s: %w", t.ID, roleError(string(t.Role)))
	}
	if _, err := hashBytes(t.Hash); err != nil {
		return fmt.Errorf("%s: %w", t.ID, err)
	}
	if t.Created.IsZero() {
		return fmt.Errorf("%s: no creation time", t.ID)
	}
	if t.Revoked != nil && t.Revoked.IsZero() {
		return fmt.Errorf("%s: zero revocation time", t.ID)
	}
	return nil
}

// hashBytes decodes a token's hash: 64 lower-case hex digits.
func hashBytes(h string) ([32]byte, error) {
	var b [32]byte
	if len(h) != hex.EncodedLen(len(b)) {
		return b, fmt.Errorf("sha256 %q is not 64 hex digits", h)
	}
	if _, err := hex.Decode(b[:], []byte(h)); err != nil || hex.EncodeToString(b[:]) != h {
		return b, fmt.Errorf("sha256 %q is not 64 lower-case hex digits", h)
	}
	return b, nil
}

// formatTokens encodes a token file.
func formatTokens(tokens []Token) ([]byte, error) {
	if tokens == nil {
		tokens = []Token{}
	}
	b, err := json.MarshalIndent(tokenFile{Version: FileVersion, Tokens: tokens}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// stamp tells one version of the token file from another without reading
// it. Writers replace the file by rename, so a new version has a new inode;
// an inode number can be reused, but only by a version two or more writes
// later, which is longer, since the file only grows. The modification time
// catches an edit in place.
type stamp struct {
	exists bool
	size   int64
	mtime  time.Time
	ino    uint64
}

func stampOf(fi os.FileInfo) stamp {
	s := stamp{exists: true, size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = uint64(st.Ino) // not uint64 on every platform
	}
	return s
}

func (s stamp) equal(o stamp) bool {
	return s.exists == o.exists && s.size == o.size && s.mtime.Equal(o.mtime) && s.ino == o.ino
}

// statStamp returns the stamp of the file at path now; a missing file has
// the zero stamp.
func statStamp(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return stamp{}, nil
	}
	if err != nil {
		return stamp{}, fmt.Errorf("token store %s: %w", path, err)
	}
	return stampOf(fi), nil
}

// readTokens reads and parses the token file at path, with the stamp of
// the version it read. A missing file holds no tokens.
func readTokens(path string) ([]Token, stamp, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, stamp{}, nil
	}
	if err != nil {
		return nil, stamp{}, fmt.Errorf("token store %s: %w", path, err)
	}
	defer f.Close()
	// The stamp comes from the open file, not the name, so that it belongs
	// to the bytes read even if a writer replaces the file meanwhile.
	fi, err := f.Stat()
	if err != nil {
		return nil, stamp{}, fmt.Errorf("token store %s: %w", path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, stamp{}, fmt.Errorf("token store %s: %w", path, err)
	}
	tokens, err := parseTokens(data)
	if err != nil {
		return nil, stamp{}, fmt.Errorf("token store %s is malformed: %w", path, err)
	}
	return tokens, stampOf(fi), nil
}

// writeFileAtomic replaces the file at path with data, mode 0600: a
// temporary file in the same directory, fsync, rename, fsync of the
// directory. It returns the stamp of the new file.
func writeFileAtomic(path string, data []byte) (stamp, error) {
	if err := datadir.WriteFile(path, data, 0o600); err != nil {
		return stamp{}, err
	}
	// The store's own lock is held: the file is the one just written.
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stampOf(fi), nil
}

// lockExclusive takes an exclusive flock(2) on the file at path, creating
// it, and waits for it. The returned function releases it.
func lockExclusive(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}

package chain

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// archivingSigner keeps every checkpoint it signs at checkpoints/<size>,
// durably and before the driver publishes it, so every published checkpoint
// is kept. A crash between the two leaves a kept checkpoint that was never
// published; it is signed and its entries are durable, so it is as good.
//
// It signs nothing once the log has failed, and holds a lock while it
// signs, so that a verification can read the checkpoints at one moment.
type archivingSigner struct {
	signer  note.Signer // the log's key; replaced by a rotation (use)
	dir     string
	failure *failState
	// beforeSign runs before each signature (it keeps the published
	// checkpoint's cosignatures); nil does nothing.
	beforeSign func() error
	mu         sync.Mutex
	held       bool // a rotation is under way: sign nothing (hold)
}

func (a *archivingSigner) Name() string { return a.current().Name() }

func (a *archivingSigner) KeyHash() uint32 { return a.current().KeyHash() }

// current returns the signer of the log's key.
func (a *archivingSigner) current() note.Signer {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.signer
}

// hold stops signing until release, and returns the log's key: a key
// rotation signs its checkpoint itself, with both keys.
func (a *archivingSigner) hold() note.Signer {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held = true
	return a.signer
}

func (a *archivingSigner) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held = false
}

// holding says a rotation holds the signer (hold), or stopped before it
// could release it.
func (a *archivingSigner) holding() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held
}

// use makes s the log's key.
func (a *archivingSigner) use(s note.Signer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signer = s
}

func (a *archivingSigner) Sign(msg []byte) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.failure.err(); err != nil {
		return nil, err
	}
	if a.held {
		return nil, errors.New("sign checkpoint: the log's key is being rotated")
	}
	if a.beforeSign != nil {
		if err := a.beforeSign(); err != nil {
			return nil, err
		}
	}
	sig, err := a.signer.Sign(msg)
	if err != nil {
		return nil, err
	}
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal(msg); err != nil {
		return nil, fmt.Errorf("archive checkpoint: %w", err)
	}
	// The note exactly as note.Sign assembles it for a single signer.
	var b bytes.Buffer
	b.Write(msg)
	b.WriteString("\n— ")
	b.WriteString(a.signer.Name())
	b.WriteString(" ")
	hs := binary.BigEndian.AppendUint32(nil, a.signer.KeyHash())
	b.WriteString(base64.StdEncoding.EncodeToString(append(hs, sig...)))
	b.WriteString("\n")
	if err := writeOnce(filepath.Join(a.dir, strconv.FormatUint(cp.Size, 10)), b.Bytes()); err != nil {
		return nil, fmt.Errorf("archive checkpoint %d: %w", cp.Size, err)
	}
	return sig, nil
}

// signed says a checkpoint of size entries was signed and kept.
func (a *archivingSigner) signed(size uint64) bool {
	_, err := os.Stat(filepath.Join(a.dir, strconv.FormatUint(size, 10)))
	return err == nil
}

// drop removes the kept checkpoint of size entries, which was signed but
// not published.
func (a *archivingSigner) drop(size uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return removeKept(a.dir, size)
}

// removeKept durably removes the kept checkpoint of size entries from
// dir.
func removeKept(dir string, size uint64) error {
	if err := os.Remove(filepath.Join(dir, strconv.FormatUint(size, 10))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(dir)
}

// replaceFile durably and atomically replaces path with data.
func replaceFile(path string, data []byte) error {
	return placeFile(path, data, os.Rename)
}

// writeOnce durably creates path with data unless it already exists: a
// checkpoint once kept is never replaced.
func writeOnce(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return placeFile(path, data, func(tmp, path string) error {
		if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return nil
	})
}

// placeFile writes data to a synced temporary file beside path, moves it
// into place with place (rename or link), and syncs the directory.
func placeFile(path string, data []byte, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := place(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes the names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const tempPrefix = ".tmp-"

func isTempName(n string) bool { return strings.HasPrefix(n, tempPrefix) }

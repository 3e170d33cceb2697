package agent

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Work in progress (issue 19). A disclosure is built, checked and, when
// encrypted, encrypted in a private directory of its own under
// Config.WorkDir (the data directory's work/, mode 0700), and only then
// moved to the path asked for. A process killed meanwhile leaves that
// directory behind, private; its markers name what it was putting
// outside it (a partial copy, the package being moved into place).

// workPrefix starts the name of a disclosure's work directory:
// disclose-<order id>-<12 hex digits>.
const workPrefix = "disclose-"

// partialMarker is the file of a work directory that names the partial
// copy it is making beside the output, on another file system.
const partialMarker = "partial"

// publishMarker is the file of a work directory that names the package
// it moves into place, written before the move and removed with the work
// directory once disclosure.created is logged.
const publishMarker = "publishing"

// publishing is what publishMarker holds.
type publishing struct {
	Path   string `json:"path"`   // absolute
	SHA256 string `json:"sha256"` // as disclosure.created records it
	Order  string `json:"order"`
	Dir    bool   `json:"dir,omitempty"` // a directory package
}

// work is the private directory of one disclosure being built.
type work struct {
	dir   string
	order string // the order disclosed
}

// newWork makes the work directory of a disclosure of order id under
// WorkDir (without one, under the system's temporary directory).
func (r *Registry) newWork(id string) (*work, error) {
	root := r.WorkDir
	if root == "" {
		root = os.TempDir()
	} else {
		if err := os.MkdirAll(root, 0o700); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		if err := os.Chmod(root, 0o700); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
	}
	dir := filepath.Join(root, workPrefix+id+"-"+randomHex(6))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	return &work{dir: dir, order: id}, nil
}

func (w *work) path(name string) string { return filepath.Join(w.dir, name) }

func (w *work) remove() { _ = os.RemoveAll(w.dir) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

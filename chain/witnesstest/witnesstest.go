// Package witnesstest runs C2SP tlog-witness witnesses for tests: call
// New for each witness, Policy for the policy file naming them, and
// Close when done. A witness verifies the log's signature and the
// consistency proof from the last checkpoint it cosigned, answers 409
// with its size when the request's old size is not its own, and
// cosigns with a C2SP cosignature/v1 key (Ed25519 or ML-DSA-44).
//
// It is built from transparency-dev/formats and merkle alone:
// transparency-dev/witness would move the versions this module pins.
package witnesstest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Alg is a witness's cosignature algorithm.
type Alg int

// The algorithms of C2SP tlog-cosignature.
const (
	Ed25519 Alg = iota
	MLDSA44
)

// Witness is one running witness of one log.
type Witness struct {
	// Name is its key's name; VKey its cosignature/v1 verifier key.
	Name, VKey string
	signer     note.Signer
	srv        *httptest.Server

	mu        sync.Mutex
	log       []note.Verifier // the log's keys, the first one's name its origin
	before    func(checkpoint []byte)
	size      uint64
	root      []byte
	down      bool
	cosigned  int
	conflicts int
	refused   int
}

// New starts a witness named name that cosigns checkpoints of the log
// whose key is logKey, with a new key of alg.
func New(name string, alg Alg, logKey note.Verifier) (*Witness, error) {
	var skey, vkey string
	var err error
	switch alg {
	case Ed25519:
		skey, vkey, err = note.GenerateKey(nil, name)
		if err == nil {
			vkey, err = fnote.VKeyToCosignatureV1(vkey)
		}
	case MLDSA44:
		skey, vkey, err = fnote.GenerateMLDSAKey(name)
	default:
		err = fmt.Errorf("unknown algorithm %d", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", name, err)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", name, err)
	}
	w := &Witness{Name: name, VKey: vkey, signer: s, log: []note.Verifier{logKey}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.addCheckpoint)
	w.srv = httptest.NewServer(mux)
	return w, nil
}

// URL is the witness's base URL, as its policy line names it.
func (w *Witness) URL() string { return w.srv.URL }

// Close stops the witness.
func (w *Witness) Close() { w.srv.Close() }

// SetDown makes the witness answer 503 to every request while down.
func (w *Witness) SetDown(down bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.down = down
}

// TrustLogKey makes the witness accept checkpoints signed by v too, as
// an operator does when the log announces its new key (a key rotation).
func (w *Witness) TrustLogKey(v note.Verifier) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log = append(w.log, v)
}

// BeforeAnswer makes f run with the checkpoint of each well-formed
// request before the witness answers it; a test blocks in f to hold the
// log's publisher exactly there. Nil removes it.
func (w *Witness) BeforeAnswer(f func(checkpoint []byte)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.before = f
}

// Stats says how many checkpoints the witness cosigned, how many
// requests it answered 409 with its size, and how many it refused
// otherwise.
func (w *Witness) Stats() (cosigned, conflicts, refused int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cosigned, w.conflicts, w.refused
}

// Size is the size of the newest checkpoint the witness cosigned.
func (w *Witness) Size() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// Policy returns a policy file naming ws, with a quorum of quorum of
// them (0: "quorum none").
func Policy(quorum int, ws ...*Witness) []byte {
	var b bytes.Buffer
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = "w" + strconv.Itoa(i)
		fmt.Fprintf(&b, "witness %s %s %s\n", names[i], w.VKey, w.URL())
	}
	if quorum == 0 {
		b.WriteString("quorum none\n")
		return b.Bytes()
	}
	fmt.Fprintf(&b, "group g %d %s\nquorum g\n", quorum, strings.Join(names, " "))
	return b.Bytes()
}

// request is a parsed add-checkpoint body.
type request struct {
	old        uint64
	proof      [][]byte
	checkpoint []byte
}

func parseRequest(body []byte) (*request, error) {
	r := bufio.NewReader(bytes.NewReader(body))
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	oldStr, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "old ")
	if !ok {
		return nil, errors.New("no old line")
	}
	req := &request{}
	if req.old, err = strconv.ParseUint(oldStr, 10, 64); err != nil {
		return nil, err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		h, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("bad proof line %q", line)
		}
		req.proof = append(req.proof, h)
	}
	req.checkpoint, err = io.ReadAll(r)
	return req, err
}

func (w *Witness) addCheckpoint(rw http.ResponseWriter, hr *http.Request) {
	body, err := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	req, perr := parseRequest(body)
	w.mu.Lock()
	before := w.before
	w.mu.Unlock()
	if before != nil && perr == nil {
		before(req.checkpoint)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down {
		http.Error(rw, "down", http.StatusServiceUnavailable)
		return
	}
	if perr != nil {
		w.refused++
		http.Error(rw, perr.Error(), http.StatusBadRequest)
		return
	}
	n, err := note.Open(req.checkpoint, note.VerifierList(w.log...))
	if err != nil {
		w.refused++
		http.Error(rw, "not signed by the log's key", http.StatusForbidden)
		return
	}
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil || cp.Origin != w.log[0].Name() {
		w.refused++
		http.Error(rw, "unknown origin", http.StatusNotFound)
		return
	}
	switch {
	case req.old != w.size:
		w.conflicts++
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", w.size)
		return
	case req.old > cp.Size:
		w.refused++
		http.Error(rw, "old size larger than the checkpoint's", http.StatusBadRequest)
		return
	case req.old == cp.Size && w.root != nil && !bytes.Equal(w.root, cp.Hash):
		w.refused++
		http.Error(rw, "another tree of the same size", http.StatusConflict)
		return
	case req.old > 0 && req.old < cp.Size:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, req.old, cp.Size, req.proof, w.root, cp.Hash); err != nil {
			w.refused++
			http.Error(rw, "consistency proof does not verify", http.StatusUnprocessableEntity)
			return
		}
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	w.size, w.root = cp.Size, cp.Hash
	w.cosigned++
	// The response is the cosignature line: the note after its text and
	// the blank line.
	_, _ = rw.Write(signed[len(n.Text)+1:])
}

// Both starts two witnesses of the log whose key is logKey, one of each
// algorithm: ed.witness.test (Ed25519) and mldsa.witness.test
// (ML-DSA-44). Close each when done.
func Both(logKey note.Verifier) ([]*Witness, error) {
	ed, err := New("ed.witness.test", Ed25519, logKey)
	if err != nil {
		return nil, err
	}
	ml, err := New("mldsa.witness.test", MLDSA44, logKey)
	if err != nil {
		ed.Close()
		return nil, err
	}
	return []*Witness{ed, ml}, nil
}

package agent

// A disclosure package is read here by tools that are not ours, as an
// investigator abroad would read it: coreutils' sha256sum, a BagIt
// validator (the command in CUSTOS_TEST_BAGIT, which
// scripts/with-verify-tools.sh finds or installs),
// transparency-dev/formats and merkle for the tlog-proofs,
// go-securesystemslib for the DSSE envelope and
// golang.org/x/mod/sumdb/note for the checkpoint. Nothing of chain/ is on
// the reading side: the proofs are parsed here from the C2SP text, the
// leaf hashes computed here from the bytes of events.jsonl. Each check is
// also shown to fail on a package that was tampered with.

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain/disclosure"
)

func TestInteropDisclosurePackage(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := disclosedOrder(t, f)
	pub, err := f.signer.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	// Every form a package is written in, whole and partial (the traffic
	// item only): each a disclosure of its own, so that the later ones
	// carry the earlier ones' events. Archives are unpacked here, by
	// archive/tar and archive/zip, not by chain/disclosure.
	type form struct{ name, out string }
	var forms []form
	for _, kind := range []string{"full", "partial"} {
		for _, ext := range []string{"", ".zip", ".tar"} {
			name := kind + "/" + cmp.Or(strings.TrimPrefix(ext, "."), "dir")
			forms = append(forms, form{name, filepath.Join(t.TempDir(), "pkg"+ext)})
		}
	}
	for _, fm := range forms {
		opts := DiscloseOptions{Out: fm.out, Organization: "Example Mail GmbH", Actor: "discloser"}
		if strings.HasPrefix(fm.name, "partial/") {
			opts.Categories = []string{"traffic"}
		}
		confirmRequester(t, f.reg, o.ID)
		rep, err := f.reg.Disclose(ctx, o.ID, opts)
		if err != nil {
			t.Fatalf("disclose %s: %v", fm.name, err)
		}
		if rep.Partial != (opts.Categories != nil) {
			t.Fatalf("disclose %s: partial %v", fm.name, rep.Partial)
		}
	}
	for _, fm := range forms {
		t.Run(fm.name, func(t *testing.T) {
			var root string
			switch filepath.Ext(fm.out) {
			case ".zip":
				root = unzipPackage(t, fm.out)
			case ".tar":
				root = untarPackage(t, fm.out)
			default:
				root = fm.out
			}
			t.Run("sha256sum", func(t *testing.T) { checkSHA256SUMS(t, root) })
			t.Run("bagit", func(t *testing.T) { checkBagIt(t, root, fm.name == "full/dir") })
			t.Run("checkpoint", func(t *testing.T) { checkCheckpointNote(t, root, pub.(ed25519.PublicKey)) })
			t.Run("tlog-proofs", func(t *testing.T) { checkTLogProofs(t, root) })
			t.Run("dsse", func(t *testing.T) { checkDSSE(t, root, pub.(ed25519.PublicKey)) })
			t.Run("case", func(t *testing.T) { checkCASEContents(t, root) })
			if fm.name == "full/dir" { // minutes on a busy machine: once
				t.Run("case-validate", func(t *testing.T) { checkCASE(t, root) })
			}
			if filepath.Ext(fm.out) == ".zip" {
				checkZipReaders(t, fm.out, root)
			}
		})
	}
}

// checkSHA256SUMS runs `sha256sum -c SHA256SUMS` in the package root: it
// passes, SHA256SUMS lists every file but itself, and a flipped byte in a
// data file fails it, naming the file.
func checkSHA256SUMS(t *testing.T, root string) {
	requireTool(t, "sha256sum")
	out, err := runIn(root, "sha256sum", "--check", "--strict", "SHA256SUMS")
	if err != nil {
		t.Fatalf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	files := packageFiles(t, root)
	var checked []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		name, ok := strings.CutSuffix(l, ": OK")
		if !ok {
			t.Fatalf("sha256sum said %q", l)
		}
		checked = append(checked, name)
	}
	sort.Strings(checked)
	want := slices.DeleteFunc(slices.Clone(files), func(s string) bool { return s == "SHA256SUMS" })
	if !slices.Equal(checked, want) {
		t.Errorf("sha256sum checked %v, the package holds %v besides SHA256SUMS", checked, want)
	}

	bad := copyPackage(t, root)
	victim := firstDataFile(t, bad)
	flipByte(t, filepath.Join(bad, victim))
	out, err = runIn(bad, "sha256sum", "--check", "--strict", "--quiet", "SHA256SUMS")
	if !isExit(err) || !strings.Contains(out, victim+": FAILED") {
		t.Errorf("sha256sum -c after flipping a byte of %s: %v\n%s", victim, err, out)
	}
}

// checkBagIt runs the BagIt validator on the package: it passes; with
// tamper, the validator is also shown to fail when a byte of a data file
// is flipped or a data file is added (once is enough: each run takes
// seconds).
func checkBagIt(t *testing.T, root string, tamper bool) {
	validator := bagitValidator(t)
	validate := func(dir string) (string, error) {
		args := append(slices.Clone(validator[1:]), "--validate", dir)
		return runIn(dir, validator[0], args...)
	}
	if out, err := validate(root); err != nil {
		t.Fatalf("%s --validate: %v\n%s", strings.Join(validator, " "), err, out)
	}
	if !tamper {
		return
	}

	flipped := copyPackage(t, root)
	victim := firstDataFile(t, flipped)
	flipByte(t, filepath.Join(flipped, victim))
	if out, err := validate(flipped); !isExit(err) || !strings.Contains(out, victim) {
		t.Errorf("BagIt validator after flipping a byte of %s: %v\n%s", victim, err, out)
	}

	added := copyPackage(t, root)
	if err := os.WriteFile(filepath.Join(added, "data", "planted.txt"), []byte("not disclosed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := validate(added); !isExit(err) {
		t.Errorf("BagIt validator with an added data/planted.txt: %v\n%s", err, out)
	}
}

// checkCheckpointNote opens custody/checkpoint with golang.org/x/mod's
// note package and the verifier line of custody/keys/custos.vkey, after
// checking that line names the signer's Ed25519 key: the test trusts the
// fixture's key, not the package's copy of it.
func checkCheckpointNote(t *testing.T, root string, pub ed25519.PublicKey) {
	vkey := strings.TrimSuffix(string(readPackageFile(t, root, "custody/keys/custos.vkey")), "\n")
	parts := strings.Split(vkey, "+")
	if len(parts) != 3 {
		t.Fatalf("custos.vkey %q is not name+hash+key", vkey)
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 1 || !bytes.Equal(key[1:], pub) {
		t.Fatalf("custos.vkey %q is not the signer's Ed25519 key (%v)", vkey, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	raw := readPackageFile(t, root, "custody/checkpoint")
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open(custody/checkpoint): %v", err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != v.Name() || n.Sigs[0].Hash != v.KeyHash() {
		t.Errorf("checkpoint signatures %+v", n.Sigs)
	}
	body := strings.Split(n.Text, "\n")
	if len(body) < 4 || body[0] != v.Name() {
		t.Fatalf("checkpoint body %q: want origin %q, size, root hash", n.Text, v.Name())
	}
	size, err := strconv.ParseUint(body[1], 10, 64)
	if err != nil || size == 0 {
		t.Errorf("checkpoint size %q: %v", body[1], err)
	}
	if h, err := base64.StdEncoding.DecodeString(body[2]); err != nil || len(h) != sha256.Size {
		t.Errorf("checkpoint root hash %q: %v", body[2], err)
	}

	altered := bytes.Replace(raw, []byte("\n"+body[1]+"\n"), []byte("\n"+strconv.FormatUint(size+1, 10)+"\n"), 1)
	if _, err := note.Open(altered, note.VerifierList(v)); err == nil {
		t.Error("note.Open accepted a checkpoint whose size was changed")
	}
	_, otherKey, err := note.GenerateKey(rand.Reader, v.Name())
	if err != nil {
		t.Fatal(err)
	}
	other, err := note.NewVerifier(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(raw, note.VerifierList(other)); !errors.As(err, &unverified) {
		t.Errorf("note.Open with another key of the same name: %v, want UnverifiedNoteError", err)
	}
}

// tlogProof is a C2SP tlog-proof (c2sp.org/tlog-proof), parsed here from
// its text and not by the code that wrote it.
type tlogProof struct {
	extra      []byte
	index      uint64
	hashes     [][]byte
	checkpoint []byte
}

func parseTLogProof(b []byte) (*tlogProof, error) {
	line := func() (string, error) {
		l, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			return "", errors.New("unexpected end")
		}
		b = rest
		return string(l), nil
	}
	if l, err := line(); err != nil || l != "c2sp.org/tlog-proof@v1" {
		return nil, fmt.Errorf("first line %q, want c2sp.org/tlog-proof@v1 (%v)", l, err)
	}
	p := &tlogProof{}
	l, err := line()
	if err != nil {
		return nil, err
	}
	if e, ok := strings.CutPrefix(l, "extra "); ok {
		if p.extra, err = base64.StdEncoding.DecodeString(e); err != nil {
			return nil, fmt.Errorf("extra: %v", err)
		}
		if l, err = line(); err != nil {
			return nil, err
		}
	}
	idx, ok := strings.CutPrefix(l, "index ")
	if !ok || idx == "" || (idx[0] == '0' && idx != "0") {
		return nil, fmt.Errorf("index line %q", l)
	}
	if p.index, err = strconv.ParseUint(idx, 10, 64); err != nil {
		return nil, fmt.Errorf("index line %q: %v", l, err)
	}
	for {
		if l, err = line(); err != nil {
			return nil, err
		}
		if l == "" {
			break
		}
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("proof hash %q is not a base64 SHA-256 (%v)", l, err)
		}
		p.hashes = append(p.hashes, h)
	}
	p.checkpoint = b
	return p, nil
}

// checkTLogProofs verifies every custody/proofs/N.tlog-proof with
// transparency-dev: the checkpoint inside with formats' ParseCheckpoint
// and the log's key, the inclusion of line N of events.jsonl with
// merkle's VerifyInclusion, its leaf hash SHA-256(0x00 || event bytes).
func checkTLogProofs(t *testing.T, root string) {
	v, err := note.NewVerifier(strings.TrimSuffix(string(readPackageFile(t, root, "custody/keys/custos.vkey")), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cpRaw := readPackageFile(t, root, "custody/checkpoint")
	type line struct {
		index uint64
		event []byte
	}
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(readPackageFile(t, root, "custody/events.jsonl")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Index *uint64         `json:"index"`
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Index == nil || len(l.Event) == 0 {
			t.Fatalf("events.jsonl line %q: %v", sc.Text(), err)
		}
		lines = append(lines, line{*l.Index, slices.Clone(l.Event)})
	}
	if len(lines) < 2 {
		t.Fatalf("events.jsonl holds %d events", len(lines))
	}
	proofs, err := fs.Glob(os.DirFS(root), "custody/proofs/*")
	if err != nil || len(proofs) != len(lines) {
		t.Fatalf("%d proofs for %d events (%v)", len(proofs), len(lines), err)
	}
	leafHash := func(event []byte) []byte {
		h := sha256.Sum256(append([]byte{0}, event...))
		return h[:]
	}
	for i, l := range lines {
		text := readPackageFile(t, root, fmt.Sprintf("custody/proofs/%d.tlog-proof", l.index))
		p, err := parseTLogProof(text)
		if err != nil {
			t.Fatalf("proof %d: %v", l.index, err)
		}
		if p.index != l.index || !bytes.Equal(p.checkpoint, cpRaw) {
			t.Fatalf("proof %d: index %d, same checkpoint as custody/checkpoint: %v", l.index, p.index, bytes.Equal(p.checkpoint, cpRaw))
		}
		cp, _, _, err := flog.ParseCheckpoint(p.checkpoint, v.Name(), v)
		if err != nil {
			t.Fatalf("proof %d: checkpoint: %v", l.index, err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.index, cp.Size, leafHash(l.event), p.hashes, cp.Hash); err != nil {
			t.Errorf("proof %d does not include line %d of events.jsonl: %v", l.index, i+1, err)
		}
		other := lines[(i+1)%len(lines)].event
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.index, cp.Size, leafHash(other), p.hashes, cp.Hash); err == nil {
			t.Errorf("proof %d also verified another event", l.index)
		}
	}
}

// checkDSSE verifies custody/attestation.dsse.json with
// go-securesystemslib and the key of custody/keys/custos.pub (the
// signer's), and compares its statement's subjects with the data files.
func checkDSSE(t *testing.T, root string, pub ed25519.PublicKey) {
	key, err := signerverifier.LoadKey(readPackageFile(t, root, "custody/keys/custos.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if key.KeyType != "ed25519" || key.KeyVal.Public != hex.EncodeToString(pub) {
		t.Fatalf("custos.pub is %s %s, not the signer's Ed25519 key", key.KeyType, key.KeyVal.Public)
	}
	sv, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := dsse.NewEnvelopeVerifier(sv)
	if err != nil {
		t.Fatal(err)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(readPackageFile(t, root, "custody/attestation.dsse.json"), &env); err != nil {
		t.Fatal(err)
	}
	accepted, payload, err := ev.VerifyAndDecode(context.Background(), &env)
	if err != nil || len(accepted) != 1 {
		t.Fatalf("DSSE envelope: %d keys accepted: %v", len(accepted), err)
	}
	if env.PayloadType != "application/vnd.in-toto+json" {
		t.Errorf("payload type %q", env.PayloadType)
	}
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != disclosure.PredicateType {
		t.Errorf("statement _type %q, predicateType %q", st.Type, st.PredicateType)
	}
	var names []string
	for _, s := range st.Subject {
		names = append(names, s.Name)
		b := readPackageFile(t, root, s.Name)
		s256, s512 := sha256.Sum256(b), sha512.Sum512(b)
		if len(s.Digest) != 2 || s.Digest["sha256"] != hex.EncodeToString(s256[:]) || s.Digest["sha512"] != hex.EncodeToString(s512[:]) {
			t.Errorf("subject %s: digests %v are not the file's", s.Name, s.Digest)
		}
	}
	sort.Strings(names)
	var data []string
	for _, p := range packageFiles(t, root) {
		if strings.HasPrefix(p, "data/") {
			data = append(data, p)
		}
	}
	if !slices.Equal(names, data) {
		t.Errorf("statement subjects %v, data files %v", names, data)
	}

	// One subject's digest changed: the signature no longer holds.
	first := st.Subject[0].Digest["sha256"]
	forged := bytes.Replace(payload, []byte(first), []byte(strings.Repeat("0", len(first))), 1)
	bad := env
	bad.Payload = base64.StdEncoding.EncodeToString(forged)
	if _, _, err := ev.VerifyAndDecode(context.Background(), &bad); err == nil {
		t.Error("go-securesystemslib accepted a statement with a subject's digest changed")
	}
}

// bagitValidator returns the BagIt validator's command line from
// CUSTOS_TEST_BAGIT (scripts/with-verify-tools.sh sets it to the Library of
// Congress validator kept in the project's shared tools). Without one the
// check fails under CI=true and is skipped elsewhere, saying why
// (CUSTOS_TEST_BAGIT_UNAVAILABLE, from the script).
func bagitValidator(t *testing.T) []string {
	t.Helper()
	if cmd := strings.Fields(os.Getenv("CUSTOS_TEST_BAGIT")); len(cmd) > 0 {
		return cmd
	}
	why := cmp.Or(os.Getenv("CUSTOS_TEST_BAGIT_UNAVAILABLE"), "CUSTOS_TEST_BAGIT is not set: run the tests through scripts/with-verify-tools.sh")
	if os.Getenv("CI") == "true" {
		t.Fatalf("no BagIt validator under CI=true: %s", why)
	}
	t.Skipf("NOT CHECKED: no BagIt validator: %s", why)
	return nil
}

// requireTool skips when a program is missing, or fails under CI=true.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true)", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

// runIn runs a program in dir and returns what it printed on stdout and
// stderr together.
func runIn(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// isExit reports whether err is a program's non-zero exit, not a failure
// to start it.
func isExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// untarPackage unpacks a .tar package with archive/tar into a new
// directory: regular files and directories only, every name local.
func untarPackage(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dst := filepath.Join(t.TempDir(), "untarred")
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsLocal(h.Name) {
			t.Fatalf("tar entry %q is not a local name", h.Name)
		}
		p := filepath.Join(dst, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = writeFrom(p, tr)
		default:
			t.Fatalf("tar entry %q is of type %q, not a file or directory", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// unzipPackage unpacks a .zip package with archive/zip into a new
// directory: regular files only (directories are made for them), every
// name local.
func unzipPackage(t *testing.T, path string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dst := filepath.Join(t.TempDir(), "unzipped")
	for _, zf := range zr.File {
		if !filepath.IsLocal(zf.Name) || !zf.Mode().IsRegular() {
			t.Fatalf("zip entry %q (%v) is not a local file", zf.Name, zf.Mode())
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		err = writeFrom(filepath.Join(dst, filepath.FromSlash(zf.Name)), rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", zf.Name, err)
		}
	}
	return dst
}

func writeFrom(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// copyPackage copies a package, to tamper with the copy.
func copyPackage(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// packageFiles lists the package's files, slash-separated and sorted.
func packageFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

func firstDataFile(t *testing.T, root string) string {
	t.Helper()
	for _, p := range packageFiles(t, root) {
		if strings.HasPrefix(p, "data/") {
			return p
		}
	}
	t.Fatal("the package has no data file")
	return ""
}

// flipByte flips a bit of the byte in the middle of the file at path,
// read-only (as stored objects are) or not.
func flipByte(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		t.Fatalf("%s: %d bytes, %v", path, len(b), err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readPackageFile(t *testing.T, root, name string) []byte {
	t.Helper()
	return mustRead(t, os.DirFS(root), name)
}

package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"
)

// The ways the tamper matrix alters a package, as an attacker who knows
// the format but not the key would, and reads what custos verify said.

// editPkgFile rewrites the file name of the directory package pkg.
func editPkgFile(t *testing.T, pkg, name string, f func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(pkg, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceOnce replaces old by new in b, which must hold old.
func replaceOnce(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q not found in %.200q", old, b)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func flipLowBitOfFirstByte(b []byte) []byte { b[0] ^= 1; return b }

// resealTags writes tagmanifest-sha256.txt and SHA256SUMS of the directory
// package pkg again, as anyone can: they are not signed. A tampering that
// also reseals leaves only the signed evidence to catch it.
func resealTags(t *testing.T, pkg string) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(pkg, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(pkg, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	listing := func(name string, skip func(string) bool) {
		var b strings.Builder
		for _, f := range files {
			if f == name || f == "SHA256SUMS" || skip(f) {
				continue
			}
			body, err := os.ReadFile(filepath.Join(pkg, filepath.FromSlash(f)))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(body), f)
		}
		if err := os.WriteFile(filepath.Join(pkg, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	listing("tagmanifest-sha256.txt", func(f string) bool { return strings.HasPrefix(f, "data/") })
	listing("SHA256SUMS", func(string) bool { return false })
}

// editEvents changes the lines of custody/events.jsonl and reseals.
func editEvents(t *testing.T, pkg string, f func([]string) []string) {
	t.Helper()
	editPkgFile(t, pkg, "custody/events.jsonl", func(b []byte) []byte {
		lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
		lines[len(lines)-1] += "\n"
		return []byte(strings.Join(f(lines), ""))
	})
	resealTags(t, pkg)
}

// rewriteZip copies the zip src to dst entry by entry, each body through
// change (nil: as is), then lets add write more entries.
func rewriteZip(t *testing.T, src, dst string, change func(name string, body []byte) []byte, add func(*zip.Writer) error) {
	t.Helper()
	in, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		if change == nil || f.Mode().IsDir() {
			err = zw.Copy(f)
		} else {
			err = func() error {
				r, err := f.Open()
				if err != nil {
					return err
				}
				defer r.Close()
				body, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: f.Method, Modified: f.Modified})
				if err != nil {
					return err
				}
				_, err = w.Write(change(f.Name, body))
				return err
			}()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if add != nil {
		if err := add(zw); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteTar copies the tar from r to w entry by entry, each body through
// change (nil: as is), then lets add write more entries.
func rewriteTar(t *testing.T, r io.Reader, w io.Writer, change func(name string, body []byte) []byte, add func(*tar.Writer) error) {
	t.Helper()
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if change != nil {
			body = change(h.Name, body)
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if add != nil {
		if err := add(tw); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// changeEntry changes the body of the entry name alone.
func changeEntry(name string, f func([]byte) []byte) func(string, []byte) []byte {
	return func(n string, b []byte) []byte {
		if n == name {
			return f(b)
		}
		return b
	}
}

func truncateHalf(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// resignCheckpoint signs the checkpoint's text with a new Ed25519 key of
// the same name, in place of the provider's signature.
func resignCheckpoint(t *testing.T, raw []byte) []byte {
	t.Helper()
	text, sigs, ok := bytes.Cut(raw, []byte("\n\n"))
	name, _, _ := strings.Cut(strings.TrimPrefix(string(sigs), "— "), " ")
	if !ok || name == "" {
		t.Fatalf("not a signed note: %q", raw)
	}
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	out, err := note.Sign(&note.Note{Text: string(text) + "\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// changeSubject re-encodes the DSSE envelope with the SHA-256 of subject
// name changed in its statement, keeping the old signature.
func changeSubject(t *testing.T, envelope []byte, name string) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(envelope, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	type subject struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}
	var st struct {
		Subject []subject                  `json:"subject"`
		Rest    map[string]json.RawMessage `json:"-"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(payload, &st.Rest); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(st.Subject, func(s subject) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("no subject %s in the statement", name)
	}
	sum, _ := hex.DecodeString(st.Subject[i].Digest["sha256"])
	sum[0] ^= 1
	st.Subject[i].Digest["sha256"] = hex.EncodeToString(sum)
	subj, err := json.Marshal(st.Subject)
	if err != nil {
		t.Fatal(err)
	}
	st.Rest["subject"] = subj
	if payload, err = json.Marshal(st.Rest); err != nil {
		t.Fatal(err)
	}
	env["payload"] = base64.StdEncoding.EncodeToString(payload)
	out, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reencryptAge decrypts the age-encrypted tar src with id, changes it
// through change and encrypts it to id's recipient again: what anyone who
// knows the recipient (a public key) can do.
func reencryptAge(t *testing.T, src string, id *age.X25519Identity, change func(string, []byte) []byte) {
	t.Helper()
	enc, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(enc), id)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	rewriteTar(t, r, w, change, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantProblem is what a verification must report: a failed check and one of
// its problems, matched against "FILE: event N: WHAT" as the text report
// prints it (the parts present).
type wantProblem struct {
	check string
	match string // regular expression
}

// reportProblems reads the text report: the failed checks, each with its
// problem lines.
func reportProblems(text string) map[string][]string {
	out := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "FAILED  "):
			cur = strings.Fields(l)[1]
			out[cur] = []string{}
		case strings.HasPrefix(l, "ok  "):
			cur = ""
		case strings.HasPrefix(l, "        ") && cur != "":
			out[cur] = append(out[cur], strings.TrimSpace(l))
		}
	}
	return out
}

// jsonProblems reads the --json report the same way, each problem
// written as the text report writes it.
func jsonProblems(t *testing.T, stdout string) (result string, failed map[string][]string) {
	t.Helper()
	var rep struct {
		Result string `json:"result"`
		Checks []struct {
			Name     string `json:"name"`
			Result   string `json:"result"`
			Problems []struct {
				File  string  `json:"file"`
				Index *uint64 `json:"index"`
				What  string  `json:"what"`
			} `json:"problems"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	failed = map[string][]string{}
	for _, c := range rep.Checks {
		if c.Result != "failed" {
			continue
		}
		failed[c.Name] = []string{}
		for _, p := range c.Problems {
			var s strings.Builder
			if p.File != "" {
				s.WriteString(p.File + ": ")
			}
			if p.Index != nil {
				fmt.Fprintf(&s, "event %d: ", *p.Index)
			}
			s.WriteString(p.What)
			failed[c.Name] = append(failed[c.Name], s.String())
		}
	}
	return rep.Result, failed
}

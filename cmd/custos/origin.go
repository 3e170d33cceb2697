package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The log's origin (agent_id) names the log in every signed checkpoint,
// and witnesses cosign a checkpoint by its origin: two deployments that
// sign as the same origin cannot both be witnessed. C2SP recommends a
// schema-less URL (custos.example.net/agent-1). Set agent_id to one; when
// it is not set, defaultOrigin chooses, once, a name that is unique per
// deployment and stays the same for it:
//
//   - a log that exists keeps its origin: the origin line of
//     <data_dir>/log/checkpoint (logs begun before this default, as
//     custos-agent, go on opening and verifying as they are);
//   - else a key already generated keeps the name it was generated for:
//     the name of <key.file>.vkey;
//   - else HOST/custos-XXXXXXXX: this host's name and the first 8 hex
//     digits of the SHA-256 of the absolute data directory, so that two
//     deployments on one host differ.

// defaultOrigin returns the origin of a deployment whose agent_id is not
// set (see above). keyFile is key.file, "" for a KMS key.
func defaultOrigin(dataDir, keyFile string, hostname func() (string, error)) (string, error) {
	if o, err := firstLine(filepath.Join(dataDir, "log", "checkpoint")); err != nil || o != "" {
		return o, err
	}
	if keyFile != "" {
		v, err := firstLine(keyFile + ".vkey")
		if err != nil {
			return "", err
		}
		if name, _, ok := strings.Cut(v, "+"); ok && name != "" {
			return name, nil
		}
	}
	host, err := hostname()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(dataDir))
	return hostLabel(host) + "/custos-" + hex.EncodeToString(sum[:4]), nil
}

// hostLabel is a host name as an origin holds it: lower-case letters,
// digits, '.' and '-'; anything else becomes '-'.
func hostLabel(host string) string {
	b := []byte(strings.ToLower(strings.Trim(host, ".")))
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-'
		if !ok {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "localhost"
	}
	return string(b)
}

// firstLine returns the first line of the file at path, "" when there is
// no such file or this user may not read it: a command that needs no log
// (custos verify PACKAGE) runs beside a data directory it cannot read,
// and one that needs the log fails when it opens it.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		return strings.TrimSpace(sc.Text()), nil
	}
	return "", sc.Err()
}

package chain

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"github.com/sigstore/timestamp-authority/v2/pkg/verification"
)

// TimestampsDir, inside a log directory, holds the RFC 3161 tokens over
// kept checkpoints: timestamps/<size>.<tsa>.tsr, each the DER
// TimeStampResp the authority answered (what `openssl ts -verify -in`
// reads), over the exact bytes of checkpoints/<size>.
const TimestampsDir = "timestamps"

// MaxTimestampSize bounds a token read or received.
const MaxTimestampSize = 64 << 10

// ErrUntrustedTimestamp matches, through errors.Is, a token that is
// intact and covers its checkpoint but whose authority does not chain to
// the roots the verifier trusts (at the token's own time). It is not
// tampering: the verifier reports it and trusts nothing it says.
var ErrUntrustedTimestamp = errors.New("timestamp authority not trusted")

// CheckTSAName refuses a timestamp authority name that cannot name a
// token file: lower-case letters, digits, '-' and '_', up to 63.
func CheckTSAName(name string) error {
	ok := len(name) > 0 && len(name) <= 63 && name[0] != '-' && name[0] != '_'
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}
	if !ok {
		return fmt.Errorf("timestamp authority name %q: use lower-case letters, digits, '-' and '_' (at most 63)", name)
	}
	return nil
}

// TimestampFile is where the token of authority tsa over the checkpoint
// of size is kept, relative to the log directory (and to log/ in the store).
func TimestampFile(size uint64, tsa string) string {
	return TimestampsDir + "/" + strconv.FormatUint(size, 10) + "." + tsa + ".tsr"
}

// KeptTimestamp is one token file of a log directory.
type KeptTimestamp struct {
	Size uint64 // the checkpoint it covers
	TSA  string // the authority's configured name
	File string // its path inside the log directory
}

// KeptTimestamps lists the tokens in fsys (a log directory), by size then
// authority. A file whose name is not a token's is a *TamperError.
func KeptTimestamps(fsys fs.FS) ([]KeptTimestamp, error) {
	entries, err := fs.ReadDir(fsys, TimestampsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []KeptTimestamp
	for _, e := range entries {
		if isTempName(e.Name()) {
			continue
		}
		k, ok := parseTimestampName(e.Name())
		if !ok || !e.Type().IsRegular() {
			return nil, tamper(TimestampsDir+"/"+e.Name(), NoIndex, "unexpected file among the timestamps")
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b KeptTimestamp) int {
		if a.Size != b.Size {
			return compareUint(a.Size, b.Size)
		}
		return strings.Compare(a.TSA, b.TSA)
	})
	return out, nil
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseTimestampFile reads a token's path inside a log directory,
// timestamps/<size>.<tsa>.tsr; ok is false for any other path.
func ParseTimestampFile(path string) (KeptTimestamp, bool) {
	name, ok := strings.CutPrefix(path, TimestampsDir+"/")
	if !ok || strings.Contains(name, "/") {
		return KeptTimestamp{}, false
	}
	return parseTimestampName(name)
}

// parseTimestampName reads <size>.<tsa>.tsr.
func parseTimestampName(name string) (KeptTimestamp, bool) {
	base, ok := strings.CutSuffix(name, ".tsr")
	if !ok {
		return KeptTimestamp{}, false
	}
	sz, tsa, ok := strings.Cut(base, ".")
	if !ok || CheckTSAName(tsa) != nil {
		return KeptTimestamp{}, false
	}
	n, err := strconv.ParseUint(sz, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != sz {
		return KeptTimestamp{}, false
	}
	return KeptTimestamp{Size: n, TSA: tsa, File: TimestampsDir + "/" + name}, true
}

// TimestampRequest is a DER TimeStampReq over a checkpoint note: SHA-256 of
// the note's exact bytes, a random nonce, and the authority's certificate
// asked for, so the token carries it.
type TimestampRequest struct {
	DER   []byte
	Nonce *big.Int
}

// NewTimestampRequest returns the request for a token over note.
func NewTimestampRequest(note []byte) (*TimestampRequest, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	der, err := timestamp.CreateRequest(bytes.NewReader(note), &timestamp.RequestOptions{
		Hash: crypto.SHA256, Certificates: true, Nonce: nonce,
	})
	if err != nil {
		return nil, fmt.Errorf("timestamp request: %w", err)
	}
	return &TimestampRequest{DER: der, Nonce: nonce}, nil
}

// Timestamp is what a token says, once its signature and digest check.
type Timestamp struct {
	GenTime time.Time             // when the authority says it signed
	Hash    crypto.Hash           // the digest's algorithm
	Digest  string                // hex digest the token covers
	Serial  *big.Int              // the authority's serial number of the token
	Nonce   *big.Int              // the request's nonce, echoed
	Signer  *x509.Certificate     // the certificate that signed it, if the token carries it
	Chains  [][]*x509.Certificate // set by VerifyTimestamp
}

// ParseTimestamp parses a token (a DER TimeStampResp) and checks what it
// can without trusted roots: the response grants a token, its signature
// verifies with the certificate it carries, and it covers the exact
// bytes of note (a checkpoint, or a package's signed statement). Anything else is a *TamperError (file names the token):
// a token that does not parse, whose signature fails, or that is for
// another digest.
func ParseTimestamp(file string, resp, note []byte) (*Timestamp, error) {
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		return nil, tamper(file, NoIndex, "not a valid RFC 3161 time-stamp response: %v", err)
	}
	if len(ts.Certificates) == 0 {
		return nil, tamper(file, NoIndex, "the token carries no certificate of its authority")
	}
	switch ts.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, tamper(file, NoIndex, "the token uses %v, not SHA-256, SHA-384 or SHA-512", ts.HashAlgorithm)
	}
	h := ts.HashAlgorithm.New()
	h.Write(note)
	if !bytes.Equal(h.Sum(nil), ts.HashedMessage) {
		return nil, tamper(file, NoIndex, "the token is for another digest (%x) than that of the bytes it covers", ts.HashedMessage)
	}
	return &Timestamp{
		GenTime: ts.Time, Hash: ts.HashAlgorithm, Digest: hex.EncodeToString(ts.HashedMessage),
		Serial: ts.SerialNumber, Nonce: ts.Nonce, Signer: signerCert(ts),
	}, nil
}

// signerCert is the certificate that signed the token (the signature
// already verified with it in timestamp.ParseResponse).
func signerCert(ts *timestamp.Timestamp) *x509.Certificate {
	p7, err := pkcs7.Parse(ts.RawToken)
	if err != nil {
		return nil
	}
	return p7.GetOnlySigner()
}

// SplitChain sorts certificates into roots, the self-signed ones, and
// intermediates, the others: a TSA's expected chain, or the roots an
// investigator trusts, given as one PEM file.
func SplitChain(certs []*x509.Certificate) (roots, intermediates []*x509.Certificate) {
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
			roots = append(roots, c)
		} else {
			intermediates = append(intermediates, c)
		}
	}
	return roots, intermediates
}

// VerifyTimestamp checks a token as ParseTimestamp does, then that its
// authority chains to roots (through intermediates, or those the token
// carries) with the time-stamping key usage, at the token's own time: a
// certificate that expired since does not void a token issued while it
// was valid. A token that does not chain is ErrUntrustedTimestamp, not
// tampering.
func VerifyTimestamp(file string, resp, note []byte, roots, intermediates []*x509.Certificate) (*Timestamp, error) {
	ts, err := ParseTimestamp(file, resp, note)
	if err != nil {
		return nil, err
	}
	parsed, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(note), verification.VerifyOpts{
		Roots: roots, Intermediates: intermediates, CurrentTime: ts.GenTime,
	})
	if err != nil {
		return ts, fmt.Errorf("%s: %w: %v", file, ErrUntrustedTimestamp, err)
	}
	ts.GenTime = parsed.Time
	return ts, nil
}

// KeepTimestamp keeps, write-once, the token of authority tsa over the
// checkpoint of size in the log directory dir, after checking that it
// covers that checkpoint's kept bytes (ParseTimestamp). It returns what
// the token says.
func KeepTimestamp(dir string, size uint64, tsa string, resp []byte) (*Timestamp, error) {
	if err := CheckTSAName(tsa); err != nil {
		return nil, err
	}
	note, err := os.ReadFile(filepath.Join(dir, CheckpointsDir, strconv.FormatUint(size, 10)))
	if err != nil {
		return nil, fmt.Errorf("keep timestamp: %w", err)
	}
	file := TimestampFile(size, tsa)
	ts, err := ParseTimestamp(file, resp, note)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, TimestampsDir), checkpointsPerm); err != nil {
		return nil, fmt.Errorf("keep timestamp: %w", err)
	}
	if err := writeOnce(filepath.Join(dir, filepath.FromSlash(file)), resp); err != nil {
		return nil, fmt.Errorf("keep timestamp %s: %w", file, err)
	}
	return ts, nil
}

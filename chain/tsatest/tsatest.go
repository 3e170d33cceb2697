// Package tsatest runs RFC 3161 timestamp authorities for tests: an
// httptest server that answers time-stamp requests with tokens signed by
// a certificate of a CA made for it, as a real authority would.
//
//	tsa := tsatest.New(t, tsatest.Options{})
//	url := tsa.URL()                // POST application/timestamp-query here
//	roots := tsa.RootPEM()          // what an investigator trusts
//	chain := tsa.ChainPEM()         // what the agent expects (leaf, then root)
//
// Options make it misbehave: Down (the server is closed before use),
// OtherDigest (each token covers another digest than the one asked for),
// and Now/NotAfter (its clock and its certificate's expiry, for tokens
// checked after the certificate has expired).
package tsatest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/custos-evidence/custos/chain"
)

// Options shape a test authority. The zero value is a working authority
// whose certificate is valid from an hour ago for a year.
type Options struct {
	// Name is the CA's and the authority's common name prefix.
	Name string
	// Down closes the server before New returns: every request fails to connect.
	Down bool
	// OtherDigest makes every token cover the SHA-256 of other bytes.
	OtherDigest bool
	// Now is the authority's clock (the tokens' genTime); nil means time.Now.
	Now func() time.Time
	// NotBefore and NotAfter bound its certificates; zero means an hour
	// before Now and a year after it.
	NotBefore, NotAfter time.Time
}

// TB is what New needs of a test: testing.TB has it, and a testscript
// setup can adapt its Env to it.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// TSA is a running test authority.
type TSA struct {
	srv      *httptest.Server
	root     *x509.Certificate
	leaf     *x509.Certificate
	requests atomic.Int64
}

// New starts an authority; it stops when the test ends.
func New(t TB, opts Options) *TSA {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "Test TSA"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = opts.Now().Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = opts.Now().Add(365 * 24 * time.Hour)
	}
	rootKey, root := makeCert(t, opts.Name+" Root", nil, nil, opts)
	leafKey, leaf := makeCert(t, opts.Name, root, rootKey, opts)
	a := &TSA{root: root, leaf: leaf}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hashed := req.HashedMessage
		if opts.OtherDigest {
			sum := sha256.Sum256(append([]byte("another checkpoint "), hashed...))
			hashed = sum[:]
		}
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		ts := timestamp.Timestamp{
			HashAlgorithm: req.HashAlgorithm, HashedMessage: hashed, Time: opts.Now().UTC().Truncate(time.Second),
			Nonce: req.Nonce, Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, SerialNumber: serial,
			AddTSACertificate: req.Certificates, Ordering: false, Accuracy: time.Second,
		}
		resp, err := ts.CreateResponseWithOpts(leaf, leafKey, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
	}))
	if opts.Down {
		a.srv.Close()
	} else {
		t.Cleanup(a.srv.Close)
	}
	return a
}

// Token asks the authority, over HTTP, for a token over note and returns
// its answer (a DER TimeStampResp).
func (a *TSA) Token(t TB, note []byte) []byte {
	t.Helper()
	req, err := chain.NewTimestampRequest(note)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(a.URL(), "application/timestamp-query", bytes.NewReader(req.DER))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatal(fmt.Sprintf("test tsa: HTTP %d, %v", resp.StatusCode, err))
	}
	return b
}

// URL is where the authority answers.
func (a *TSA) URL() string { return a.srv.URL }

// Requests counts the requests it received.
func (a *TSA) Requests() int64 { return a.requests.Load() }

// Root is its CA's certificate.
func (a *TSA) Root() *x509.Certificate { return a.root }

// Leaf is its signing certificate.
func (a *TSA) Leaf() *x509.Certificate { return a.leaf }

// RootPEM is its CA's certificate in PEM.
func (a *TSA) RootPEM() []byte { return pemCert(a.root) }

// ChainPEM is its signing certificate, then its CA's, in PEM.
func (a *TSA) ChainPEM() []byte { return append(pemCert(a.leaf), pemCert(a.root)...) }

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func makeCert(t TB, cn string, parent *x509.Certificate, parentKey crypto.Signer, opts Options) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"Custos tests"}},
		NotBefore: opts.NotBefore, NotAfter: opts.NotAfter,
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		// RFC 3161 2.3: the one extended key usage, critical.
		eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		if err != nil {
			t.Fatal(err)
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, c
}

// WaitExpiry returns once the wall clock has passed the expiry of a's
// signing certificate (a second or so for an authority made with
// NotAfter a second ahead). The tokens' signing-time attribute is the
// real time of signing (digitorus/pkcs7 sets it), so an expired
// certificate can be shown only by letting the clock pass it.
func WaitExpiry(a *TSA) {
	for d := time.Until(a.leaf.NotAfter); d >= 0; d = time.Until(a.leaf.NotAfter) {
		time.Sleep(d + 10*time.Millisecond)
	}
}

// Flip returns b with one byte of the token's signed content changed, so
// that its signature no longer verifies: the byte is inside the genTime.
func Flip(b []byte) []byte {
	out := bytes.Clone(b)
	// The genTime is a GeneralizedTime "YYYYMMDDhhmmssZ": change a digit
	// of its seconds. Its tag and length are 0x18 0x0f.
	if i := bytes.Index(out, []byte{0x18, 0x0f}); i >= 0 && i+2+13 < len(out) {
		d := &out[i+2+13]
		if *d == '0' {
			*d = '1'
		} else {
			*d = '0'
		}
		return out
	}
	out[len(out)/2] ^= 0x01
	return out
}

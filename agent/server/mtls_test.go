package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/auth"
)

// testCA issues certificates for the mTLS test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "custos test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a certificate for cn: a server's (for 127.0.0.1) or a client's.
func (ca *testCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientCertificatesAuthenticate: over HTTPS with client certificates,
// a certificate whose common name is mapped to a role acts with that role
// (and is named in custody events); an unmapped one, or one from another
// CA, is refused; a bearer token still works beside them.
func TestClientCertificatesAuthenticate(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	serverCert := ca.issue(t, "custos", true)
	f := newFixtureWith(t, fixtureOptions{serverCert: &serverCert, clientCA: ca.pool,
		clientRoles: map[string]auth.Role{"intake-robot": auth.Intake, "siem": auth.Auditor}})
	client := func(cert *tls.Certificate) *http.Client {
		tc := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	get := func(c *http.Client, token, path string) int {
		t.Helper()
		req, err := http.NewRequest("GET", f.http.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+f.tokens[token])
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	robot := ca.issue(t, "intake-robot", false)
	siem := ca.issue(t, "siem", false)
	stranger := ca.issue(t, "stranger", false)
	if code := get(client(&siem), "", "/v1/checkpoint"); code != http.StatusOK {
		t.Errorf("auditor certificate: %d", code)
	}
	if code := get(client(&robot), "", "/v1/checkpoint"); code != http.StatusForbidden {
		t.Errorf("intake certificate reading the checkpoint: %d, want 403", code)
	}
	if code := get(client(&robot), "", "/metrics"); code != http.StatusForbidden {
		t.Errorf("intake certificate reading metrics: %d, want 403", code)
	}
	if code := get(client(&stranger), "", "/v1/checkpoint"); code != http.StatusUnauthorized {
		t.Errorf("unmapped certificate: %d, want 401", code)
	}
	if code := get(client(nil), "", "/v1/checkpoint"); code != http.StatusUnauthorized {
		t.Errorf("no certificate, no token: %d, want 401", code)
	}
	if code := get(client(nil), "auditor", "/v1/checkpoint"); code != http.StatusOK {
		t.Errorf("a token without a certificate: %d", code)
	}
	// A certificate of another CA does not get through the handshake.
	foreign := other.issue(t, "siem", false)
	req, _ := http.NewRequest("GET", f.http.URL+"/v1/checkpoint", nil)
	if res, err := client(&foreign).Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Error("a certificate of another CA was accepted")
		}
	}
	// The certificate's identity is the actor of what it does.
	c := client(&robot)
	f.http.Client().Transport = c.Transport
	r := f.do(t, "", "POST", "/v1/orders", anOrder("LE-MTLS", false))
	if r.status != http.StatusCreated {
		t.Fatalf("order through the intake certificate: %d %s", r.status, r.body)
	}
	f.http.Client().Transport = client(&siem).Transport // the auditor's certificate reads the log
	events := f.events(t, "", "")
	found := false
	for _, e := range events {
		found = found || (e.Type == "order.received" && e.Actor == "intake-robot (intake, mtls)")
	}
	if !found {
		t.Error("order.received does not name the certificate's identity")
	}
}

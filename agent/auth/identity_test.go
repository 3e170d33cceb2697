package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestIdentityString(t *testing.T) {
	tests := []struct {
		id   Identity
		want string
	}{
		{Identity{Name: "alice", Role: Custodian, TokenID: "01JB8Q6W2Y3V5X7Z9A1C3E5G7K", Method: MethodToken},
			"alice (custodian, token 01JB8Q6W2Y3V5X7Z9A1C3E5G7K)"},
		{Identity{Name: "ops-box", Role: Auditor, Method: MethodMTLS}, "ops-box (auditor, mtls)"},
		{Identity{Name: "Zoë Ångström", Role: Admin}, "Zoë Ångström (admin)"},
		// Built by hand, not by this package: still one clean line.
		{Identity{Name: "eve\n2026-01-01 forged line", Role: Admin, Method: MethodToken, TokenID: "x"},
			`"eve\n2026-01-01 forged line" (admin, token x)`},
		{Identity{}, `"" ("")`},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// selfSigned returns a self-signed client certificate for cn.
func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Custos test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestIdentityFromCert(t *testing.T) {
	roles := map[string]Role{"ops-box": Auditor, "intake.example.org": Intake}
	id, err := IdentityFromCert(selfSigned(t, "ops-box"), roles)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Name: "ops-box", Role: Auditor, Method: MethodMTLS}
	if *id != want {
		t.Fatalf("IdentityFromCert = %+v, want %+v", *id, want)
	}
	if got := id.String(); got != "ops-box (auditor, mtls)" {
		t.Errorf("String() = %q", got)
	}

	for _, cert := range []*x509.Certificate{nil, selfSigned(t, "stranger"), selfSigned(t, ""), selfSigned(t, "OPS-BOX")} {
		if id, err := IdentityFromCert(cert, roles); err != ErrUnauthenticated { // the very error, unwrapped
			t.Errorf("IdentityFromCert(%v) = %v, %v; want ErrUnauthenticated", cert != nil, id, err)
		}
	}
	if _, err := IdentityFromCert(selfSigned(t, "ops-box"), nil); err != ErrUnauthenticated { // the very error, unwrapped
		t.Errorf("nil map: %v, want ErrUnauthenticated", err)
	}

	// A configuration error is not a refusal: it says what is wrong.
	_, err = IdentityFromCert(selfSigned(t, "ops-box"), map[string]Role{"ops-box": "root"})
	if err == nil || errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), `"root"`) {
		t.Errorf("role not a role: %v", err)
	}
}

func TestCheckCertRoles(t *testing.T) {
	if err := CheckCertRoles(map[string]Role{"ops-box": Auditor, "intake": Intake}); err != nil {
		t.Fatal(err)
	}
	err := CheckCertRoles(map[string]Role{"ok": Admin, "b\nad": Admin, "c": "superuser"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"b\nad"`, `"superuser"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

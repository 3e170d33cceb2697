package chain_test

import (
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

func TestParseTrustRefusals(t *testing.T) {
	ed := mustKey(t, testSigner(t, 1)).Verifier
	rsaPEM := []byte("-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMdjXb6TnP8l8cSkNRkITxgBpxTQ+Ld0\n6h8K2Ux0OBEwqXSi7qGNBPkDJkTN6J+ie6Ry3hJ7n0IZx6dNTBNFm5ECAwEAAQ==\n-----END PUBLIC KEY-----\n")
	for _, tc := range []struct {
		name string
		key  []byte
		want string
	}{
		{"empty", nil, "not name+hash+key"},
		{"two lines", []byte(ed + "\n" + ed + "\n"), "more than one line"},
		{"wrong key hash", []byte(strings.Replace(ed, "+9ac983f7+", "+00000000+", 1)), "verifier key"},
		{"not base64", []byte("custos.test+9ac983f7+%%%"), "not base64"},
		{"RSA key", rsaPEM, "Ed25519 or ECDSA P-256"},
		{"broken PEM", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), "public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := chain.ParseTrust(tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

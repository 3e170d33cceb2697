package chain_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/custos-evidence/custos/chain"
)

// ed25519DSSEVerifier is a go-securesystemslib DSSE verifier over
// crypto/ed25519 alone: no sigstore and no code of ours on the path.
type ed25519DSSEVerifier struct{ pub ed25519.PublicKey }

func (v ed25519DSSEVerifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.pub, data, sig) {
		return errors.New("ed25519: invalid signature")
	}
	return nil
}
func (v ed25519DSSEVerifier) Public() crypto.PublicKey { return v.pub }
func (v ed25519DSSEVerifier) KeyID() (string, error)   { return "", nil }

type testPredicate struct {
	Order string    `json:"order"`
	At    time.Time `json:"at"`
	Size  int64     `json:"size"`
	Hash  []byte    `json:"hash"`
	Note  string    `json:"note,omitempty"`
}

var testSubjects = []chain.Subject{
	{Name: "data/mail/inbox.mbox", Digest: map[string]string{"sha256": strings.Repeat("ab", 32), "sha512": strings.Repeat("cd", 64)}},
	{Name: "a <b> & c", Digest: map[string]string{"sha256": strings.Repeat("01", 32)}, MediaType: "text/plain"},
}

// A signed statement opens with the signer's key and gives back what was
// signed: subjects, predicate type, predicate with its field names and
// time format. Signing is deterministic with an Ed25519 key, and the
// payload has no insignificant white space.
func TestSignStatement(t *testing.T) {
	s := testSigner(t, 1)
	pred := testPredicate{Order: orderA, At: testTime.Add(1500 * time.Millisecond), Size: 1 << 40, Hash: []byte{1, 2, 3}}
	env, err := chain.SignStatement(s, testSubjects, "https://example.net/predicate/v1", pred)
	if err != nil {
		t.Fatal(err)
	}
	again, err := chain.SignStatement(s, testSubjects, "https://example.net/predicate/v1", pred)
	if err != nil || !bytes.Equal(env, again) {
		t.Fatalf("signing twice gives other bytes (%v):\n%s\n%s", err, env, again)
	}
	e, err := chain.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if e.PayloadType != chain.InTotoPayloadType {
		t.Errorf("payload type %q", e.PayloadType)
	}
	if err := e.Verify(mustKey(t, s).Public); err != nil {
		t.Fatalf("verify: %v", err)
	}
	payload, err := e.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, payload); err != nil || !bytes.Equal(compact.Bytes(), payload) {
		t.Errorf("the payload is not compact JSON (%v): %s", err, payload)
	}
	st, err := chain.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != chain.InTotoStatementType || st.PredicateType != "https://example.net/predicate/v1" || !reflect.DeepEqual(st.Subject, testSubjects) {
		t.Fatalf("statement %+v", st)
	}
	var back testPredicate
	if err := json.Unmarshal(st.Predicate, &back); err != nil {
		t.Fatal(err)
	}
	if !back.At.Equal(pred.At) || back.Order != pred.Order || back.Size != pred.Size || !bytes.Equal(back.Hash, pred.Hash) {
		t.Fatalf("predicate %+v, signed %+v", back, pred)
	}
	if !strings.Contains(string(st.Predicate), `"at":"2026-11-26T12:00:01.5Z"`) {
		t.Errorf("the predicate's time is not as encoding/json writes it: %s", st.Predicate)
	}

	// sigstore's own DSSE verifier and go-securesystemslib's agree.
	if err := dsse.WrapVerifier(s).VerifySignature(bytes.NewReader(env), nil); err != nil {
		t.Errorf("sigstore's DSSE verifier: %v", err)
	}
	var sslEnv ssldsse.Envelope
	if err := json.Unmarshal(env, &sslEnv); err != nil {
		t.Fatal(err)
	}
	ev, err := ssldsse.NewEnvelopeVerifier(ed25519DSSEVerifier{mustKey(t, s).Public.(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Verify(context.Background(), &sslEnv); err != nil {
		t.Errorf("go-securesystemslib: %v", err)
	}
}

// An envelope verifies only with the key that signed it and only as
// signed: another key, a changed payload or type, a signature dropped or
// damaged is refused.
func TestEnvelopeVerifyRefusals(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []signature.SignerVerifier{testSigner(t, 1), ec} {
		pub := mustKey(t, s).Public
		env, err := chain.SignStatement(s, testSubjects, "https://example.net/p", map[string]any{"n": 1})
		if err != nil {
			t.Fatal(err)
		}
		good, err := chain.ParseEnvelope(env)
		if err != nil {
			t.Fatal(err)
		}
		if err := good.Verify(pub); err != nil {
			t.Fatalf("%T: %v", pub, err)
		}
		edit := func(f func(e *chain.Envelope)) *chain.Envelope {
			e, _ := chain.ParseEnvelope(env)
			f(e)
			return e
		}
		for _, tc := range []struct {
			name string
			env  *chain.Envelope
			pub  crypto.PublicKey
			want string
		}{
			{"another key", good, mustKey(t, testSigner(t, 9)).Public, "verifies with the trusted key"},
			{"payload changed", edit(func(e *chain.Envelope) {
				p, _ := e.DecodePayload()
				e.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(p, []byte("inbox"), []byte("inbo_"), 1))
			}), pub, "verifies with the trusted key"},
			{"payload type changed", edit(func(e *chain.Envelope) { e.PayloadType = "application/json" }), pub, "verifies with the trusted key"},
			{"no signature", edit(func(e *chain.Envelope) { e.Signatures = nil }), pub, "no signature"},
			{"signature not base64", edit(func(e *chain.Envelope) { e.Signatures[0].Sig = "%%" }), pub, "none of the envelope's 1 signature"},
			{"payload not base64", edit(func(e *chain.Envelope) { e.Payload = "%%" }), pub, "not base64"},
		} {
			if err := tc.env.Verify(tc.pub); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%T, %s: %v, want an error saying %q", pub, tc.name, err, tc.want)
			}
		}
	}
	if _, err := chain.ParseEnvelope([]byte("{")); err == nil || !strings.Contains(err.Error(), "not a DSSE envelope") {
		t.Errorf("a broken envelope: %v", err)
	}
	if _, err := chain.ParseStatement([]byte(`{"_type":1}`)); err == nil || !strings.Contains(err.Error(), "not an in-toto statement") {
		t.Errorf("a broken statement: %v", err)
	}
	if _, err := chain.SignStatement(testSigner(t, 1), nil, "https://example.net/p", map[string]any{}); err == nil {
		t.Error("a statement about nothing was signed")
	}
	if _, err := chain.SignStatement(testSigner(t, 1), testSubjects, "https://example.net/p", []int{1}); err == nil {
		t.Error("a predicate that is not an object was signed")
	}
}

// FuzzEnvelope reads arbitrary bytes as an envelope and its statement: no
// panic, and whatever verifies with the key carries the payload that key
// signed.
func FuzzEnvelope(f *testing.F) {
	s := testSigner(f, 1)
	env, err := chain.SignStatement(s, testSubjects, "https://example.net/p", map[string]any{"order": orderA})
	if err != nil {
		f.Fatal(err)
	}
	genuine, _ := chain.ParseEnvelope(env)
	want, _ := genuine.DecodePayload()
	pub := mustKey(f, s).Public
	f.Add(env)
	f.Add([]byte(`{"payloadType":"","payload":"","signatures":[{"sig":""}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := chain.ParseEnvelope(b)
		if err != nil {
			return
		}
		payload, perr := e.DecodePayload()
		if perr == nil {
			_, _ = chain.ParseStatement(payload)
		}
		err = e.Verify(pub)
		if err == nil && (!bytes.Equal(payload, want) || e.PayloadType != chain.InTotoPayloadType) {
			t.Fatalf("an envelope of another payload verifies: %q", payload)
		}
		if err != nil && errors.Is(err, chain.ErrTamper) {
			t.Fatalf("a malformed envelope is called tampering: %v", err)
		}
	})
}

package chain_test

import (
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

// TestCheckJSONKeys: duplicate keys, keys equal but for case, and keys
// that match a field only when case is folded are refused at any depth;
// unknown keys are tolerated (issue 18 item 3).
func TestCheckJSONKeys(t *testing.T) {
	for _, tc := range []struct {
		name, doc, err string
	}{
		{"envelope", `{"payloadType":"t","payload":"cA==","signatures":[{"keyid":"","sig":"cw=="}]}`, ""},
		{"unknown keys tolerated", `{"payloadType":"t","payload":"cA==","signatures":[],"x-note":{"a":1}}`, ""},
		{"duplicate payload", `{"payloadType":"t","payload":"Zm9yZ2Vk","payload":"cA==","signatures":[]}`, `duplicate key "payload"`},
		{"duplicate in a signature", `{"payloadType":"t","payload":"cA==","signatures":[{"sig":"a","sig":"b"}]}`, `duplicate key "sig"`},
		{"duplicate in an unknown object", `{"payloadType":"t","x":{"a":1,"a":2}}`, `duplicate key "a"`},
		{"keys equal but for case", `{"payloadType":"t","payload":"cA==","Payload":"Zm9yZ2Vk"}`, `differ only in case`},
		{"a field's key in another case", `{"PayloadType":"t","payload":"cA==","signatures":[]}`, `not the field "payloadType"`},
		{"a nested field's key in another case", `{"payloadType":"t","signatures":[{"SIG":"a"}]}`, `not the field "sig"`},
		{"two values", `{"payloadType":"t"} {}`, "more than one JSON value"},
		{"not JSON", `{"payloadType":`, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := chain.CheckJSONKeys([]byte(tc.doc), &chain.Envelope{})
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("CheckJSONKeys(%s) = %v, want %q", tc.doc, err, tc.err)
			}
			_, perr := chain.ParseEnvelope([]byte(tc.doc))
			if (perr == nil) != (err == nil) {
				t.Fatalf("ParseEnvelope = %v, CheckJSONKeys = %v", perr, err)
			}
		})
	}
	st := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"x","sha256":"y"}}],"predicateType":"p","predicate":{}}`
	if _, err := chain.ParseStatement([]byte(st)); err == nil || !strings.Contains(err.Error(), `duplicate key "sha256"`) {
		t.Fatalf("ParseStatement with a duplicate digest: %v", err)
	}
}

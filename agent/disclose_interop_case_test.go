package agent

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// checkCASE runs the CASE 1.4.0 validator (CUSTOS_TEST_CASE_VALIDATE,
// shared/tools/case-validate/run, found by scripts/with-verify-tools.sh)
// on the package's case.jsonld: it must conform, with no undefined term.
// Without the validator the check fails under CI=true and is skipped
// elsewhere, saying why.
func checkCASE(t *testing.T, root string) {
	validator := os.Getenv("CUSTOS_TEST_CASE_VALIDATE")
	if validator == "" {
		why := cmp.Or(os.Getenv("CUSTOS_TEST_CASE_VALIDATE_UNAVAILABLE"), "CUSTOS_TEST_CASE_VALIDATE is not set: run the tests through scripts/with-verify-tools.sh")
		if os.Getenv("CI") == "true" {
			t.Fatalf("no CASE validator under CI=true: %s", why)
		}
		t.Skipf("NOT CHECKED: no CASE validator: %s", why)
	}
	out, err := runIn(root, validator, "case.jsonld")
	if err != nil || !strings.Contains(out, "CONFORMS") || strings.Contains(out, "DOES NOT CONFORM") || strings.Contains(out, "Warning") {
		t.Fatalf("%s case.jsonld: %v\n%s", validator, err, out)
	}
}

// checkCASEContents checks that case.jsonld says what an examiner expects
// of a CASE export (issue 18 item 10): the performer of every action, the
// disclosure's the actor who disclosed; every disclosed file with its
// original name and source and its categories, as the signed statement
// has them; the order's selectors and categories; and the order record
// with its SHA-256.
func checkCASEContents(t *testing.T, root string) {
	var doc struct {
		Graph []map[string]any `json:"@graph"`
	}
	if err := json.Unmarshal(readPackageFile(t, root, "case.jsonld"), &doc); err != nil {
		t.Fatal(err)
	}
	str := func(v any) string { s, _ := v.(string); return s }
	all := func(n map[string]any, key string) []any {
		if l, ok := n[key].([]any); ok {
			return l
		}
		return []any{n[key]}
	}
	byName := map[string]map[string]any{}
	actions := 0
	for _, n := range doc.Graph {
		byName[str(n["uco-core:name"])] = n
		if n["@type"] != "case-investigation:InvestigativeAction" {
			continue
		}
		actions++
		p, _ := n["uco-action:performer"].(map[string]any)
		if p == nil || str(p["uco-core:name"]) == "" {
			t.Errorf("action %v names no performer", n["@id"])
		}
		if strings.HasPrefix(str(n["uco-core:name"]), "disclosure ") && str(p["uco-core:name"]) != "discloser" {
			t.Errorf("the disclosure's performer is %v, not the actor who disclosed", p)
		}
	}
	if actions < 2 {
		t.Errorf("%d investigative actions, want a capture and the disclosure", actions)
	}

	var env struct{ Payload string }
	if err := json.Unmarshal(readPackageFile(t, root, "custody/attestation.dsse.json"), &env); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	var st struct {
		Predicate struct {
			Items []struct {
				Path, Name, Source string
				Categories         []string
			}
		}
	}
	if err := json.Unmarshal(payload, &st); err != nil || len(st.Predicate.Items) == 0 {
		t.Fatalf("statement: %v", err)
	}
	for _, it := range st.Predicate.Items {
		n := byName[it.Path]
		if n == nil {
			t.Errorf("case.jsonld has no File named %s", it.Path)
			continue
		}
		var tags []string
		for _, v := range all(n, "uco-core:tag") {
			tags = append(tags, str(v))
		}
		if !slices.Contains(tags, "source:"+it.Source) || len(it.Categories) == 0 || !slices.Contains(tags, "category:"+it.Categories[0]) {
			t.Errorf("%s: tags %v lack its source %q or categories %v", it.Path, tags, it.Source, it.Categories)
		}
		found := false
		for _, f := range all(n, "uco-core:hasFacet") {
			if fm, _ := f.(map[string]any); fm != nil && str(fm["uco-observable:filePath"]) == it.Name {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no FileFacet with its original name %q", it.Path, it.Name)
		}
	}

	sum := sha256.Sum256(readPackageFile(t, root, "custody/order.json"))
	rec, _ := json.Marshal(byName["custody/order.json"])
	if !strings.Contains(string(rec), hex.EncodeToString(sum[:])) {
		t.Errorf("case.jsonld's order record %s lacks the SHA-256 of custody/order.json", rec)
	}
	scope := str(byName["order scope"]["uco-core:statement"])
	if !strings.Contains(scope, "email:alice@example.net") || !strings.Contains(scope, "content") {
		t.Errorf("the order scope %q lacks the order's selector or category", scope)
	}
}

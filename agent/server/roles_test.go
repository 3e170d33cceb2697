package server

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/chain"
)

// secondsLeft is the one field of an order's answer that moves with the
// clock.
var secondsLeft = regexp.MustCompile(`"seconds_left":-?[0-9]+`)

// readmeRoleTableHeader starts the README's table "Who may do what, route
// by route".
const readmeRoleTableHeader = "| route | intake | custodian | discloser | auditor | admin |"

// readmeRoles reads that table: the roles allowed, by "METHOD /path".
func readmeRoles(t *testing.T) map[string][]auth.Role {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.Index(lines, readmeRoleTableHeader)
	if start < 0 || start+2 >= len(lines) {
		t.Fatalf("README.md has no table starting %q", readmeRoleTableHeader)
	}
	var cols []auth.Role
	for _, c := range cells(lines[start])[1:] {
		cols = append(cols, auth.Role(c))
	}
	out := map[string][]auth.Role{}
	for _, line := range lines[start+2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		row := cells(line)
		if len(row) != len(cols)+1 {
			t.Fatalf("README.md role table: row %q has %d cells, want %d", line, len(row), len(cols)+1)
		}
		route := strings.Trim(row[0], "`")
		roles := []auth.Role{}
		for i, c := range row[1:] {
			switch c {
			case "✓":
				roles = append(roles, cols[i])
			case "":
			default:
				t.Fatalf("README.md role table: %s: cell %q is neither ✓ nor empty", route, c)
			}
		}
		out[route] = roles
	}
	return out
}

// cells splits a Markdown table row into its trimmed cells.
func cells(line string) []string {
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// TestRolesAreTheReadmes walks every authenticated route and every role:
// the README's table says who may, the server registers exactly those
// roles (and TestOpenAPIMatchesRoutes holds openapi.json to the server),
// and a request of each role gets through or is refused (403) as the
// table says. The requests are malformed where they get through, so none
// changes anything.
func TestRolesAreTheReadmes(t *testing.T) {
	table := readmeRoles(t)
	f := newFixture(t)
	id := f.createOrder(t, "intake", "LE-ROLES", false)
	before := f.logSize(t)
	sample := map[string]string{"{id}": id, "{sha256}": strings.Repeat("a", 64), "{index}": "0"}
	served := map[string]bool{}
	for _, rt := range f.srv.routes {
		if rt.roles == nil {
			continue
		}
		name := rt.method + " " + rt.pattern
		served[name] = true
		want, ok := table[name]
		if !ok {
			t.Errorf("%s: served, and not in the README's role table", name)
			continue
		}
		if got := slices.Sorted(slices.Values(rt.roles)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("%s: the server allows %v, the README %v", name, got, want)
		}
		path := rt.pattern
		for k, v := range sample {
			path = strings.ReplaceAll(path, k, v)
		}
		for _, role := range auth.Roles() {
			r := f.do(t, string(role), rt.method, path, `{"no_such_field":true}`)
			switch allowed := slices.Contains(want, role); {
			case allowed && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
				t.Errorf("%s as %s: %d, but the README allows it: %s", name, role, r.status, r.body)
			case allowed && r.status >= 500:
				t.Errorf("%s as %s: %d: %s", name, role, r.status, r.body)
			case !allowed && r.status != http.StatusForbidden:
				t.Errorf("%s as %s: %d, want 403: %s", name, role, r.status, r.body)
			}
		}
	}
	for name := range table {
		if !served[name] {
			t.Errorf("%s: in the README's role table, not served", name)
		}
	}
	if after := f.logSize(t); after != before {
		t.Fatalf("the walk changed the log: %d entries, then %d", before, after)
	}
}

// TestConfidentialEventsCannotBeCounted: a role that does not read the
// log learns nothing of a confidential order's events from any answer it
// gets (the same answers before and after they were logged); the auditor,
// who reads the log, sees that entries were left out and how many (as the
// checkpoint says), and nothing else of them.
func TestConfidentialEventsCannotBeCounted(t *testing.T) {
	f := newFixture(t)
	open := f.createOrder(t, "bob", "LE-OPEN", false)
	f.capture(t, open)
	secret := f.createOrder(t, "intake", "LE-SECRET", true) // seen by intake only
	reads := []string{"/v1/orders", "/v1/orders/" + open, "/v1/jobs", "/v1/events?limit=1000", "/v1/checkpoint",
		"/v1/proofs/inclusion/0", "/v1/tokens"}
	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, who := range []string{"intake", "custodian", "discloser", "admin"} {
			for _, p := range reads {
				r := f.do(t, who, "GET", p, nil)
				// The deadline's seconds left move with the clock, not the log.
				body := secondsLeft.ReplaceAll(r.body, nil)
				out[who+" "+p] = fmt.Sprintf("%d %s", r.status, body)
			}
		}
		return out
	}
	before := snapshot()
	sizeBefore := f.logSize(t)
	for _, note := range []string{"paper original filed", "authority called", "copy to the registry"} {
		f.must(t, http.StatusCreated, "intake", "POST", "/v1/notes", map[string]string{"order": secret, "note": note})
	}
	if f.logSize(t) != sizeBefore+3 {
		t.Fatalf("the notes were not logged: %d entries, then %d", sizeBefore, f.logSize(t))
	}
	for k, v := range snapshot() {
		if before[k] != v {
			t.Errorf("%s: the answer changed when the confidential order's events were logged:\nbefore %s\nafter  %s", k, before[k], v)
		}
	}

	var page api.EventPage
	r := f.must(t, http.StatusOK, "auditor", "GET", "/v1/events?limit=1000", nil)
	r.json(t, &page)
	for _, bad := range []string{secret, "LE-SECRET", "paper original"} {
		if strings.Contains(string(r.body), bad) {
			t.Errorf("the auditor's page shows %q", bad)
		}
	}
	skipped := page.Size - uint64(len(page.Events))
	for _, ev := range page.Events {
		if e, err := chain.ParseEvent(ev.Event); err != nil || e.Order == secret {
			t.Fatalf("event %d: %v %+v", ev.Index, err, e)
		}
	}
	if skipped != 4 { // order.received and three notes
		t.Errorf("the auditor's page leaves out %d entries, want the confidential order's 4", skipped)
	}
}

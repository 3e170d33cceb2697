package source

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgURL is the PostgreSQL server of scripts/with-postgres.sh (make test
// runs the tests through it). Without one the tests skip, except under
// CI=true, where they fail.
func pgURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("CUSTOS_TEST_PG_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_PG_URL is not set: run the tests through scripts/with-postgres.sh (make test does)")
		}
		t.Skip("no PostgreSQL server: run through scripts/with-postgres.sh (make test does)")
	}
	return u
}

// pgExec runs SQL on the test server as the test role, outside any
// capture.
func pgExec(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pgTable creates a table of every kind of value the row encoding treats
// apart, with NULLs, and returns its name.
func pgTable(t *testing.T, dsn string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	table := "evidence_" + hex.EncodeToString(b)
	pgExec(t, dsn, `CREATE TABLE `+table+` (
		id int4 PRIMARY KEY, email text, big int8, amount numeric(30,10), ratio float8, small int2, flag bool,
		blob bytea, at timestamptz, naive timestamp, day date, doc jsonb, raw json, note text, tags text[], span interval);
	INSERT INTO `+table+` VALUES
	(1, 'alice@example.net', 9223372036854775807, 12345678901234567890.0123456789, 0.1, -3, true,
	 '\x00ff0a', '2026-03-04 05:06:07.123456+02', '2026-03-04 05:06:07.5', '2026-03-04',
	 '{"b": [1, 2.50], "a": "x\ny"}', E'{"keep":  "spacing",\n "dup": 1, "dup": 2}', E'quote " back \\ tab \t nl \n é 😀',
	 '{"a b",c}', '1 day 2 hours'),
	(2, 'bob@example.net', NULL, 'NaN', 'Infinity', NULL, false,
	 '', 'infinity', NULL, NULL, 'null', NULL, NULL, NULL, NULL),
	(3, 'carol@example.net', 1, 1, 1, 1, true, '\x01', '2026-01-01 00:00:00+00', NULL, NULL, '1', '1', 'not asked for', NULL, NULL);`)
	return table
}

func TestPostgresCapture(t *testing.T) {
	dsn := pgURL(t)
	table := pgTable(t, dsn)
	t.Setenv("CUSTOS_TEST_PG_DSN", dsn)
	src := mustNew(t, "postgres", map[string]any{
		"dsn_env": "CUSTOS_TEST_PG_DSN",
		"query": "SELECT id, big, amount, ratio, small, flag, blob, at, naive, day, doc, raw, note, tags, span, NULL::text AS nothing\n" +
			"FROM " + table + " WHERE email = ANY($1) AND id >= $2::int AND at >= $3 -- $9 in a comment\nORDER BY id",
		"params":            []string{"{{selector.email}}", "{{selector.account}}", "{{from}}"},
		"statement_timeout": "30s",
	})
	r := req()
	r.Selectors = []Selector{{"email", "alice@example.net"}, {"email", "bob@example.net"}, {"account", "1"}}
	r.From = time.Date(2026, 3, 4, 3, 6, 7, 123456000, time.UTC)
	items, sum, err := capture(t, src, r)
	if err != nil || len(items) != 1 || items[0].err != nil {
		t.Fatalf("capture: %v %+v", err, items)
	}
	want := `{"id":1,"big":"9223372036854775807","amount":"12345678901234567890.0123456789","ratio":"0.1","small":-3,"flag":true,` +
		`"blob":"AP8K","at":"2026-03-04T03:06:07.123456Z","naive":"2026-03-04T05:06:07.5","day":"2026-03-04",` +
		`"doc":{"a": "x\ny", "b": [1, 2.50]},"raw":"{\"keep\":  \"spacing\",\n \"dup\": 1, \"dup\": 2}",` +
		`"note":"quote \" back \\ tab \t nl \n é 😀","tags":"{\"a b\",c}","span":"P1DT2H","nothing":null}` + "\n" +
		`{"id":2,"big":null,"amount":"NaN","ratio":"Infinity","small":null,"flag":false,"blob":"","at":"infinity","naive":null,` +
		`"day":null,"doc":null,"raw":null,"note":null,"tags":null,"span":null,"nothing":null}` + "\n"
	if items[0].content != want {
		t.Errorf("rows:\n%s\nwant:\n%s", items[0].content, want)
	}
	for _, line := range strings.Split(strings.TrimSuffix(items[0].content, "\n"), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not JSON: %s", line)
		}
	}
	it := items[0].item
	if it.Name != "query.jsonl" || it.MediaType != "application/x-ndjson" {
		t.Errorf("item %q %q", it.Name, it.MediaType)
	}
	rec := it.Record
	if rec["rows"] != int64(2) || sum["rows"] != int64(2) || sum["emitted"] != 1 || sum["bytes"] != int64(len(want)) {
		t.Errorf("rows: record %v, summary %v", rec["rows"], sum)
	}
	if got := rec["param_values"].([]any); len(got) != 3 || !slices.Equal(got[0].([]string), []string{"alice@example.net", "bob@example.net"}) ||
		got[1] != "1" || got[2] != "2026-03-04T03:06:07.123456Z" {
		t.Errorf("param_values %v", got)
	}
	if got := rec["param_types"].([]string); !slices.Equal(got, []string{"text[]", "integer", "timestamp with time zone"}) {
		t.Errorf("param_types %v", got)
	}
	cols := rec["columns"].([]map[string]any)
	if len(cols) != 16 || cols[2]["name"] != "amount" || cols[2]["type"] != "numeric(30,10)" || cols[7]["type"] != "timestamp with time zone" || cols[2]["oid"] != uint32(1700) {
		t.Errorf("columns %v", cols)
	}
	if !regexp.MustCompile(`^\d+:\d+:`).MatchString(rec["snapshot"].(string)) {
		t.Errorf("snapshot %v", rec["snapshot"])
	}
	if _, err := time.Parse(time.RFC3339Nano, rec["transaction_started"].(string)); err != nil {
		t.Errorf("transaction_started %v: %v", rec["transaction_started"], err)
	}
	if !strings.HasPrefix(rec["server_version"].(string), "PostgreSQL ") || rec["user"] != "custos_test" || rec["isolation"] != "REPEATABLE READ, READ ONLY" {
		t.Errorf("server: %v %v %v", rec["server_version"], rec["user"], rec["isolation"])
	}
	u, _ := url.Parse(dsn)
	pw, _ := u.User.Password()
	server := rec["server"].(map[string]any)
	if server["dsn_env"] != "CUSTOS_TEST_PG_DSN" || server["host"] != u.Hostname() || server["database"] != "custos_test" ||
		server["remote_addr"] != u.Host || server["tls"] != false {
		t.Errorf("server %v", server)
	}
	if js := recordJSON(t, rec); pw == "" || strings.Contains(js, pw) {
		t.Errorf("the record holds the password (or the URL has none): %s", js)
	}
}

func TestPostgresIsReadOnly(t *testing.T) {
	dsn := pgURL(t)
	table := pgTable(t, dsn)
	for _, q := range []string{
		"INSERT INTO " + table + " (id) VALUES ($1::int) RETURNING id",
		"WITH gone AS (DELETE FROM " + table + " WHERE id = $1::int RETURNING id) SELECT * FROM gone",
		"SELECT id FROM " + table + " WHERE id = $1::int FOR UPDATE",
	} {
		src := mustNew(t, "postgres", map[string]any{"dsn": dsn, "query": q, "params": []string{"{{selector.account}}"}})
		r := req()
		r.Selectors = []Selector{{"account", "1"}}
		items, _, err := capture(t, src, r)
		if err == nil || !strings.Contains(err.Error(), "read-only transaction") || len(items) != 0 {
			t.Errorf("%s: %v %+v, want a read-only refusal and no item", q, err, items)
		}
	}
	src := mustNew(t, "postgres", map[string]any{"dsn": dsn, "query": "SELECT count(*) AS n FROM " + table})
	items, _, err := capture(t, src, req())
	if err != nil || len(items) != 1 || items[0].content != `{"n":"3"}`+"\n" {
		t.Fatalf("the table changed: %v %+v", err, items)
	}
}

func TestPostgresFailsTheItem(t *testing.T) {
	dsn := pgURL(t)
	table := pgTable(t, dsn)
	r := req()
	r.Selectors = []Selector{{"email", "alice@example.net"}, {"email", "bob@example.net"}}
	for _, tc := range []struct {
		params map[string]any
		want   string
		item   bool // the failure comes while the rows stream
	}{
		{map[string]any{"query": "SELECT id FROM " + table, "max_rows": 2}, "more than max_rows (2) rows", true},
		{map[string]any{"query": "SELECT id, email AS id FROM " + table}, `columns 1 and 2 are both named "id"`, false},
		{map[string]any{"query": "SELECT id FROM " + table + " WHERE email = $1", "params": []string{"{{selector.email}}"}},
			`the order has 2 such selectors, but $1 is a single text: compare with = ANY($1)`, false},
		{map[string]any{"query": "SELECT 1/(3-g) AS x FROM generate_series(1, 5) AS g"}, "division by zero", true},
		{map[string]any{"query": "SELECT pg_sleep(5)", "statement_timeout": "100ms"}, "statement timeout", false},
		{map[string]any{"query": "SELECT $1::text", "params": []string{"{{selector.phone}}"}}, "{{selector.phone}}: the order has no selector of type phone", false},
	} {
		tc.params["dsn"] = dsn
		items, _, err := capture(t, mustNew(t, "postgres", tc.params), r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.params["query"], err, tc.want)
		}
		if tc.item != (len(items) == 1 && items[0].err != nil) || (!tc.item && len(items) != 0) {
			t.Errorf("%v: items %+v", tc.params["query"], items)
		}
	}
}

func TestPostgresKeepsThePasswordOut(t *testing.T) {
	dsn := pgURL(t)
	u, _ := url.Parse(dsn)
	u.User = url.UserPassword("custos_test", "not-the-password-42")
	src := mustNew(t, "postgres", map[string]any{"dsn": u.String(), "query": "SELECT 1 AS one"})
	_, _, err := capture(t, src, req())
	if err == nil || strings.Contains(err.Error(), "not-the-password-42") || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("wrong password: %v", err)
	}
}

func TestPostgresRefusesBadParameters(t *testing.T) {
	t.Setenv("CUSTOS_TEST_PG_NOWHERE", "")
	const dsn = "postgres://u:sekrit@127.0.0.1:1/db"
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"dsn": dsn, "query": "SELECT 1", "sql": "x"}, `unknown field "sql"`},
		{map[string]any{"query": "SELECT 1"}, "no dsn (give dsn, or dsn_env"},
		{map[string]any{"dsn": dsn, "dsn_env": "X", "query": "SELECT 1"}, "give dsn or dsn_env, not both"},
		{map[string]any{"dsn_env": "not a name", "query": "SELECT 1"}, `dsn_env "not a name" is not an environment variable name`},
		{map[string]any{"dsn": dsn}, "no query"},
		{map[string]any{"dsn": "postgres://u:sekrit@[::1", "query": "SELECT 1"}, "dsn is not a valid PostgreSQL connection string"},
		{map[string]any{"dsn": dsn, "query": "SELECT 1", "params": []string{"{{order}}"}}, "query has no placeholders ($1, $2...) for its 1 params"},
		{map[string]any{"dsn": dsn, "query": "SELECT '$1', $$ $1 $$"}, ""},
		{map[string]any{"dsn": dsn, "query": "SELECT $1"}, "query uses $1 but no params are given"},
		{map[string]any{"dsn": dsn, "query": "SELECT $1, $3", "params": []string{"{{from}}", "{{to}}"}}, "query uses placeholders $1, $3 with 2 params"},
		{map[string]any{"dsn": dsn, "query": "SELECT $1", "params": []string{"{{from}}", "{{to}}"}}, "query uses placeholders $1 with 2 params"},
		{map[string]any{"dsn": dsn, "query": "SELECT $1", "params": []string{"{{email}}"}}, "params[0] ($1): template \"{{email}}\": unknown placeholder"},
		{map[string]any{"dsn": dsn, "query": "SELECT 1", "statement_timeout": "soon"}, `statement_timeout "soon" is not a duration`},
		{map[string]any{"dsn": dsn, "query": "SELECT 1", "max_rows": -1}, "max_rows -1 is negative"},
	} {
		_, err := New(Config{Name: "db", Type: "postgres", Params: tc.params})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.params, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want %q", tc.params, err, tc.want)
		case err != nil && (strings.Contains(err.Error(), "sekrit") || !strings.HasPrefix(err.Error(), `source "db": postgres: `)):
			t.Errorf("%v: %v: want it named, without the password", tc.params, err)
		}
	}
	src := mustNew(t, "postgres", map[string]any{"dsn_env": "CUSTOS_TEST_PG_NOWHERE", "query": "SELECT 1"})
	if _, _, err := capture(t, src, req()); err == nil || !strings.Contains(err.Error(), "environment variable CUSTOS_TEST_PG_NOWHERE (dsn_env) is not set") {
		t.Errorf("unset dsn_env: %v", err)
	}
}

func TestSQLPlaceholders(t *testing.T) {
	for q, want := range map[string][]int{
		"SELECT 1":                                  {},
		"SELECT $1, $2, $1":                         {1, 2},
		"SELECT $10 + $2":                           {2, 10},
		"SELECT '$1', 'it''s $2', $3":               {3},
		`SELECT E'\'$1', $2`:                        {2},
		`SELECT "$1" FROM "a""$2" WHERE x = $3`:     {3},
		"SELECT $$ $1 $$, $tag$ $2 $tag$, $4":       {4},
		"SELECT 1 -- $1\n, $2 /* $3 /* $4 */ $5 */": {2},
		"SELECT a$1 FROM t WHERE b = $2":            {2},
		"SELECT $1::int[], ANY($2)":                 {1, 2},
		"SELECT 'unterminated $1":                   {},
	} {
		if got := sqlPlaceholders(q); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
}

// FuzzSQLPlaceholders: the scanner never panics, and every placeholder it
// reports is written in the query.
func FuzzSQLPlaceholders(f *testing.F) {
	for _, s := range []string{"SELECT $1", "SELECT '$1' $2", "$$ $1 $$ $2", "/* /* */ $1 */ $2", `E'\'' $1`, "$a$ $1 $a$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, n := range sqlPlaceholders(q) {
			if !regexp.MustCompile(`\$0*` + strconv.Itoa(n) + `(\D|$)`).MatchString(q) {
				t.Fatalf("%q: reported $%d", q, n)
			}
		}
	})
}

func TestPgValueEncoding(t *testing.T) {
	for _, tc := range []struct {
		kind pgKind
		in   string
		want string
	}{
		{pgTimestamptz, "2026-03-04 03:06:07+00", `"2026-03-04T03:06:07Z"`},
		{pgTimestamptz, "0044-03-15 12:00:00+00 BC", `"0044-03-15 12:00:00+00 BC"`},
		{pgTimestamptz, "12026-03-04 03:06:07+00", `"12026-03-04 03:06:07+00"`},
		{pgTimestamp, "2026-03-04 03:06:07.", `"2026-03-04 03:06:07."`},
		{pgJSONB, `{"a": "b"}`, `{"a": "b"}`},
		{pgString, "\x01<&>\u2028", `"\u0001<&>` + "\u2028" + `"`},
	} {
		got, err := appendPgValue(nil, tc.kind, []byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: %s %v, want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := appendPgValue(nil, pgString, []byte("\xff")); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
}

// TestPostgresStopsWhenTheCaptureStops: a pipeline that stops reading
// mid-item (its store failed) ends the query, whether the rows stream or
// the server is still computing the next one, instead of waiting for it.
func TestPostgresStopsWhenTheCaptureStops(t *testing.T) {
	dsn := pgURL(t)
	stopped := errors.New("the store went away")
	for _, tc := range []struct {
		query string
		read  int // bytes read before the pipeline fails
	}{
		{"SELECT generate_series(1, 100000000) AS n", 100}, // streams for minutes
		// About 96 KiB of rows, then a row that takes 30 s: the pipeline
		// reads the first 64 KiB chunk, and fails while the rest waits on
		// the server.
		{"SELECT n, repeat('x', 20) AS pad, CASE WHEN n = 2000 THEN pg_sleep(30)::text END AS slept FROM generate_series(1, 2001) AS n", 64 << 10},
	} {
		src := mustNew(t, "postgres", map[string]any{"dsn": dsn, "query": tc.query})
		begun := time.Now()
		_, err := src.Capture(context.Background(), req(), func(it *Item, r io.Reader) error {
			if _, err := io.ReadFull(r, make([]byte, tc.read)); err != nil {
				return err
			}
			return stopped
		})
		if !errors.Is(err, stopped) || time.Since(begun) > 10*time.Second {
			t.Errorf("%s: %v after %s", tc.query, err, time.Since(begun))
		}
	}
}

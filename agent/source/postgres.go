package source

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// postgresParams are the parameters of a "postgres" source: one SQL query
// whose rows are the item.
//
//   - dsn: the connection string, a postgres:// URL or "key=value ..."
//     (libpq syntax; PG* environment variables and ~/.pgpass fill what
//     it leaves out). It may hold a password, so prefer dsn_env; neither
//     the password nor the string is ever recorded or put in an error.
//   - dsn_env: the name of an environment variable of the agent that
//     holds the connection string, read when the capture runs. Exactly
//     one of dsn and dsn_env.
//   - query (required): one SQL statement that returns rows, with
//     placeholders $1, $2, ... for params; never built from the order's
//     values, which travel only as parameters.
//   - params: one template per placeholder, in order (see template):
//     "{{selector.email}}", "{{from}}", "{{to}}", "{{cutoff}}",
//     "{{order}}", or literal text around them. Every placeholder $1..$n
//     must be used and there must be exactly n params. A parameter whose
//     type (as the server infers it) is an array, as in
//     "WHERE email = ANY($1)", takes every selector of the type as one
//     array; any other takes exactly one value, and an order with several
//     selectors of that type is refused, named. A template naming a
//     selector type the order lacks, or an open end of the window, is an
//     error: an empty value could select everyone.
//   - statement_timeout: a Go duration bounding the query, rows sent
//     included (PostgreSQL's statement_timeout); default 10m.
//   - max_rows: the most rows preserved; default 1,000,000. More fails the
//     item, named: a partial export is never preserved as if whole.
//
// The query runs in a READ ONLY, REPEATABLE READ transaction, so it sees
// one snapshot and cannot write (an INSERT, nextval() or SELECT FOR
// UPDATE fails, and nothing is preserved); connect as a role that may only
// read all the same. PostgreSQL 13 or later.
//
// The item, "query.jsonl" (application/x-ndjson), has one JSON object per
// row, keys the column names in the query's order (two columns of one
// name are refused: alias them), in the row encoding
// "custos.pg-jsonl.v1", lossless for every type: NULL is null; boolean
// true/false; smallint, integer and oid JSON numbers; bytea standard
// base64; timestamptz RFC 3339 in UTC ("2026-01-02T03:04:05.5Z"),
// timestamp the same without a zone; jsonb the JSON value itself (as
// PostgreSQL normalises it); everything else, bigint, numeric, real and
// double precision included (many JSON readers hold numbers as doubles,
// so 64-bit integers are strings, as in protobuf's JSON mapping), a JSON
// string of PostgreSQL's own text output (with DateStyle ISO,
// IntervalStyle iso_8601, extra_float_digits 3, so "NaN", "Infinity",
// "{1,2}" and json's exact text stay as they were). A value that is not
// valid UTF-8 fails the item rather than be altered. The column names,
// PostgreSQL types (format_type) and type OIDs are in the record, not in
// the file, so the file is plain JSON Lines for any tool.
//
// The record holds the query, the params and their values and types, the
// server (host, port, database and user asked for, the address that
// answered, whether TLS was used; version), the snapshot
// (pg_current_snapshot()), the transaction's start time (now()), the
// session settings, the columns and, once the rows have ended, the row
// count. The capture's cut-off is recorded but cannot filter rows by
// itself: compare a creation time with {{cutoff}} in the query.
type postgresParams struct {
	DSN              string   `json:"dsn"`
	DSNEnv           string   `json:"dsn_env"`
	Query            string   `json:"query"`
	Params           []string `json:"params"`
	StatementTimeout string   `json:"statement_timeout"`
	MaxRows          int64    `json:"max_rows"`
}

const (
	defaultStatementTimeout = 10 * time.Minute
	defaultMaxRows          = 1_000_000
	pgRowEncoding           = "custos.pg-jsonl.v1"
	pgConnectTimeout        = 30 * time.Second
)

type postgresSource struct {
	p       postgresParams
	params  []*template
	timeout time.Duration
	maxRows int64
	getenv  func(string) (string, bool)
}

func newPostgres(params map[string]any) (Source, error) {
	var p postgresParams
	if err := decodeParams(params, &p); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	switch {
	case p.DSN == "" && p.DSNEnv == "":
		return nil, errors.New("postgres: no dsn (give dsn, or dsn_env naming the environment variable that holds it)")
	case p.DSN != "" && p.DSNEnv != "":
		return nil, errors.New("postgres: give dsn or dsn_env, not both")
	case p.DSNEnv != "" && !validEnvName(p.DSNEnv):
		return nil, fmt.Errorf("postgres: dsn_env %q is not an environment variable name", p.DSNEnv)
	case strings.TrimSpace(p.Query) == "":
		return nil, errors.New("postgres: no query")
	}
	if p.DSN != "" {
		if _, err := parseDSN(p.DSN, "dsn"); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	if err := checkPlaceholders(p.Query, len(p.Params)); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &postgresSource{p: p, timeout: defaultStatementTimeout, maxRows: defaultMaxRows, getenv: os.LookupEnv}
	for i, raw := range p.Params {
		t, err := parseTemplate(raw)
		if err != nil {
			return nil, fmt.Errorf("postgres: params[%d] ($%d): %w", i, i+1, err)
		}
		s.params = append(s.params, t)
	}
	if p.StatementTimeout != "" {
		d, err := time.ParseDuration(p.StatementTimeout)
		if err != nil || d < time.Millisecond {
			return nil, fmt.Errorf("postgres: statement_timeout %q is not a duration of a millisecond or more (like 30s or 10m)", p.StatementTimeout)
		}
		s.timeout = d
	}
	switch {
	case p.MaxRows < 0:
		return nil, fmt.Errorf("postgres: max_rows %d is negative", p.MaxRows)
	case p.MaxRows > 0:
		s.maxRows = p.MaxRows
	}
	return s, nil
}

func (s *postgresSource) Kind() string { return "postgres" }

// connConfig is the parsed connection string, from dsn or dsn_env, and
// what of it is recorded (never the password).
func (s *postgresSource) connConfig() (*pgconn.Config, map[string]any, error) {
	dsn, from := s.p.DSN, "dsn"
	if s.p.DSNEnv != "" {
		v, ok := s.getenv(s.p.DSNEnv)
		if !ok || v == "" {
			return nil, nil, fmt.Errorf("environment variable %s (dsn_env) is not set", s.p.DSNEnv)
		}
		dsn, from = v, "the value of "+s.p.DSNEnv+" (dsn_env)"
	}
	cfg, err := parseDSN(dsn, from)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "custos"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	rec := map[string]any{"host": cfg.Host, "port": int(cfg.Port), "database": cfg.Database, "user": cfg.User}
	if s.p.DSNEnv != "" {
		rec["dsn_env"] = s.p.DSNEnv
	}
	return cfg, rec, nil
}

// redactor removes a password from error messages, whatever produced
// them; errors.Is still sees the original through Unwrap.
type redactor []string

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, secret := range r {
		if secret != "" && strings.Contains(msg, secret) {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
		}
	}
	return &redactedError{msg: msg, err: err}
}

// Capture runs the query and streams its rows to emit as one item.
func (s *postgresSource) Capture(ctx context.Context, req Request, emit Emit) (Summary, error) {
	sum := Summary{"emitted": 0}
	values, err := s.expand(req)
	if err != nil {
		return sum, fmt.Errorf("postgres: %w", err)
	}
	cfg, server, err := s.connConfig()
	if err != nil {
		return sum, fmt.Errorf("postgres: %w", err)
	}
	red := redactor{cfg.Password}
	what := fmt.Sprintf("postgres %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", what, red.err(err))
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		_ = conn.Close(cctx)
	}()
	server["remote_addr"] = conn.Conn().RemoteAddr().String()
	_, server["tls"] = conn.Conn().(*tls.Conn)
	rec := map[string]any{
		"server": server, "query": s.p.Query, "params": s.p.Params, "row_encoding": pgRowEncoding,
		"statement_timeout": s.timeout.String(), "max_rows": s.maxRows, "isolation": "REPEATABLE READ, READ ONLY",
	}
	if !req.CutOff.IsZero() {
		rec["cutoff"] = stamp(req.CutOff)
	}
	x, err := s.start(ctx, conn, values, rec)
	if err != nil {
		return sum, fmt.Errorf("%s: %w", what, red.err(err))
	}
	it := &Item{Name: "query.jsonl", MediaType: "application/x-ndjson", Record: rec}
	err = emitWritten(it, emit, cancel, func(w io.Writer) error {
		if err := x.stream(ctx, w, rec); err != nil {
			return red.err(fmt.Errorf("%s: %w", what, err))
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	if !x.done {
		return sum, fmt.Errorf("%s: its rows were not read to the end", what)
	}
	sum["emitted"], sum["rows"], sum["bytes"] = 1, x.rows, x.bytes
	return sum, nil
}

// emitWritten passes it to emit with the content write writes, streamed
// through a pipe from a goroutine, so that no more than the pipe's chunk
// is held. An error of write fails the content's last Read, and so the
// item; if emit returns before the end, write's next Write fails and stop
// is called (to cancel what write waits for). It returns emit's error
// once write has returned.
func emitWritten(it *Item, emit Emit, stop func(), write func(w io.Writer) error) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(write(pw))
	}()
	err := emit(it, pr)
	if err != nil {
		pr.CloseWithError(errors.New("the capture stopped reading the item"))
		stop()
	}
	<-done
	return err
}

// expand fills the params' templates for req: one list of values per
// param.
func (s *postgresSource) expand(req Request) ([][]string, error) {
	out := make([][]string, len(s.params))
	for i, t := range s.params {
		vals, err := t.expand(req)
		if err != nil {
			return nil, fmt.Errorf("params[%d] ($%d): %w", i, i+1, err)
		}
		out[i] = vals
	}
	return out, nil
}

// pgColumn is one column of the result and how its values are written.
type pgColumn struct {
	key  []byte // `"name":`
	kind pgKind
}

type pgKind int

const (
	pgString pgKind = iota // a JSON string of PostgreSQL's text output
	pgBool
	pgNumber // the text output as a JSON number
	pgBytea
	pgTimestamptz
	pgTimestamp
	pgJSONB
)

// Type OIDs fixed by PostgreSQL (pg_type.dat).
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt2        = 21
	oidInt4        = 23
	oidOID         = 26
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidJSONB       = 3802
)

// start opens the read-only snapshot transaction, records the server and
// the snapshot, describes the query, binds the params and runs it up to
// its first row, so that a query that fails at once yields no item.
func (s *postgresSource) start(ctx context.Context, conn *pgconn.PgConn, values [][]string, rec map[string]any) (*pgExport, error) {
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").ReadAll(); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	settings := map[string]string{
		"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "iso_8601", "extra_float_digits": "3",
		"bytea_output": "hex", "statement_timeout": strconv.FormatInt(s.timeout.Milliseconds(), 10),
	}
	for _, k := range sortedKeys(settings) {
		if _, err := pgRow(ctx, conn, "SELECT set_config($1, $2, true)", k, settings[k]); err != nil {
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}
	rec["settings"] = settings
	meta, err := pgRow(ctx, conn, "SELECT version(), current_setting('server_version_num'), current_database(), current_user, now()::text, pg_current_snapshot()::text")
	if err != nil {
		return nil, fmt.Errorf("read the server's version and snapshot: %w", err)
	}
	rec["server_version"], rec["server_version_num"] = meta[0], meta[1]
	rec["database"], rec["user"] = meta[2], meta[3]
	rec["transaction_started"], rec["snapshot"] = pgTimestamptzText(meta[4]), meta[5]

	desc, err := conn.Prepare(ctx, "", s.p.Query, nil)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	if len(desc.ParamOIDs) != len(values) {
		return nil, fmt.Errorf("query: the server counts %d parameters, the source has %d params", len(desc.ParamOIDs), len(values))
	}
	if len(desc.Fields) == 0 {
		return nil, errors.New("query returns no columns: want a statement that returns rows (SELECT, or ... RETURNING)")
	}
	x := &pgExport{conn: conn, maxRows: s.maxRows}
	colTypes, paramTypes, err := describeTypes(ctx, conn, desc)
	if err != nil {
		return nil, err
	}
	if x.cols, rec["columns"], err = columns(desc.Fields, colTypes); err != nil {
		return nil, err
	}
	args, recValues, err := bindParams(values, paramTypes, s.p.Params)
	if err != nil {
		return nil, err
	}
	rec["param_values"], rec["param_types"] = recValues, paramTypes
	x.rr = conn.ExecParams(ctx, s.p.Query, args, desc.ParamOIDs, nil, nil)
	x.first = x.rr.NextRow()
	if !x.first {
		if _, err := x.rr.Close(); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
	}
	return x, nil
}

// pgRow runs a query of one row and returns its values as text.
func pgRow(ctx context.Context, conn *pgconn.PgConn, sql string, args ...string) ([]string, error) {
	vals := make([][]byte, len(args))
	for i, a := range args {
		vals[i] = []byte(a)
	}
	res := conn.ExecParams(ctx, sql, vals, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, res.Err
	}
	if len(res.Rows) != 1 {
		return nil, fmt.Errorf("%d rows, want 1", len(res.Rows))
	}
	out := make([]string, len(res.Rows[0]))
	for i, v := range res.Rows[0] {
		out[i] = string(v)
	}
	return out, nil
}

// describeTypes names the types of the result's columns (with their
// modifiers: "numeric(10,2)") and of the params, as PostgreSQL writes them.
func describeTypes(ctx context.Context, conn *pgconn.PgConn, desc *pgconn.StatementDescription) (cols, params []string, err error) {
	var oids, mods []string
	for _, f := range desc.Fields {
		oids, mods = append(oids, strconv.FormatUint(uint64(f.DataTypeOID), 10)), append(mods, strconv.FormatInt(int64(f.TypeModifier), 10))
	}
	for _, o := range desc.ParamOIDs {
		oids, mods = append(oids, strconv.FormatUint(uint64(o), 10)), append(mods, "-1")
	}
	res := conn.ExecParams(ctx,
		"SELECT format_type(t.o, NULLIF(t.m, -1)) FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS t(o, m, n) ORDER BY t.n",
		[][]byte{[]byte("{" + strings.Join(oids, ",") + "}"), []byte("{" + strings.Join(mods, ",") + "}")}, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, nil, fmt.Errorf("name the result's types: %w", res.Err)
	}
	if len(res.Rows) != len(oids) {
		return nil, nil, fmt.Errorf("name the result's types: %d names for %d types", len(res.Rows), len(oids))
	}
	for i, r := range res.Rows {
		if i < len(desc.Fields) {
			cols = append(cols, string(r[0]))
		} else {
			params = append(params, string(r[0]))
		}
	}
	return cols, params, nil
}

// columns prepares the writing of each column and describes them for the
// record; two columns of one name are refused (a JSON object cannot hold
// both).
func columns(fields []pgconn.FieldDescription, types []string) ([]pgColumn, []map[string]any, error) {
	cols := make([]pgColumn, len(fields))
	rec := make([]map[string]any, len(fields))
	seen := map[string]int{}
	for i, f := range fields {
		if j, ok := seen[f.Name]; ok {
			return nil, nil, fmt.Errorf("query: columns %d and %d are both named %q: give them distinct names (AS ...)", j+1, i+1, f.Name)
		}
		seen[f.Name] = i
		if !utf8.ValidString(f.Name) {
			return nil, nil, fmt.Errorf("query: column %d: its name is not valid UTF-8", i+1)
		}
		key := appendJSONString(nil, f.Name)
		cols[i] = pgColumn{key: append(key, ':'), kind: kindOf(f.DataTypeOID)}
		rec[i] = map[string]any{"name": f.Name, "type": types[i], "oid": f.DataTypeOID}
	}
	return cols, rec, nil
}

// bindParams turns each param's values into the text the server parses:
// an array literal for an array parameter, else the one value.
func bindParams(values [][]string, types, raw []string) ([][]byte, []any, error) {
	args := make([][]byte, len(values))
	rec := make([]any, len(values))
	for i, vals := range values {
		if strings.HasSuffix(types[i], "[]") {
			args[i], rec[i] = []byte(pgArrayLiteral(vals)), vals
			continue
		}
		if len(vals) != 1 {
			return nil, nil, fmt.Errorf("params[%d] %q: the order has %d such selectors, but $%d is a single %s: compare with = ANY($%d) to take them all",
				i, raw[i], len(vals), i+1, types[i], i+1)
		}
		args[i], rec[i] = []byte(vals[0]), vals[0]
	}
	return args, rec, nil
}

// pgArrayLiteral writes values as a PostgreSQL array of quoted elements.
func pgArrayLiteral(vals []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// stream writes every row to w as JSON Lines, then ends the transaction
// and completes the record. It never holds more than one row.
func (x *pgExport) stream(ctx context.Context, w io.Writer, rec map[string]any) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for ok := x.first; ok; ok = x.rr.NextRow() {
		if x.rows++; x.rows > x.maxRows {
			return fmt.Errorf("the query returns more than max_rows (%d) rows: narrow it or raise max_rows", x.maxRows)
		}
		var err error
		if line, err = x.appendRow(line[:0], x.rr.Values()); err != nil {
			return fmt.Errorf("row %d: %w", x.rows, err)
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
		x.bytes += int64(len(line))
	}
	if x.first {
		if _, err := x.rr.Close(); err != nil {
			return fmt.Errorf("query, after %d rows: %w", x.rows-1, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if _, err := x.conn.Exec(ctx, "COMMIT").ReadAll(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	rec["rows"] = x.rows
	x.done = true
	return nil
}

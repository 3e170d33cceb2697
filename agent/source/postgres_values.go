package source

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

func kindOf(oid uint32) pgKind {
	switch oid {
	case oidBool:
		return pgBool
	case oidInt2, oidInt4, oidOID:
		return pgNumber
	case oidBytea:
		return pgBytea
	case oidTimestamptz:
		return pgTimestamptz
	case oidTimestamp:
		return pgTimestamp
	case oidJSONB:
		return pgJSONB
	}
	return pgString
}

// pgExport is a query started in its transaction, its first row read.
type pgExport struct {
	conn        *pgconn.PgConn
	rr          *pgconn.ResultReader
	first       bool // rr holds a row not yet written
	cols        []pgColumn
	maxRows     int64
	rows, bytes int64
	done        bool // every row written and the transaction ended
}

// appendRow appends one row as a JSON object and a newline.
func (x *pgExport) appendRow(b []byte, vals [][]byte) ([]byte, error) {
	b = append(b, '{')
	for i, c := range x.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.key...)
		var err error
		if b, err = appendPgValue(b, c.kind, vals[i]); err != nil {
			return nil, fmt.Errorf("column %s %w", c.key[:len(c.key)-1], err)
		}
	}
	return append(b, '}', '\n'), nil
}

// appendPgValue appends one value, in PostgreSQL's text output, as JSON
// (see postgresParams for the encoding).
func appendPgValue(b []byte, kind pgKind, v []byte) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	s := string(v)
	switch kind {
	case pgBool:
		if s == "t" {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case pgNumber:
		return append(b, s...), nil
	case pgBytea:
		raw, err := hex.DecodeString(strings.TrimPrefix(s, `\x`))
		if err != nil || !strings.HasPrefix(s, `\x`) {
			return nil, errors.New("bytea value is not in hex output")
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, raw)
		return append(b, '"'), nil
	case pgTimestamptz:
		s = pgTimestamptzText(s)
	case pgTimestamp:
		if isPgTimestamp(s) {
			s = s[:10] + "T" + s[11:]
		}
	case pgJSONB:
		if !strings.ContainsAny(s, "\n\r") && utf8.ValidString(s) {
			return append(b, s...), nil
		}
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("holds a value that is not valid UTF-8")
	}
	return appendJSONString(b, s), nil
}

// isPgTimestamp reports a timestamp as written with DateStyle ISO:
// "2006-01-02 15:04:05" and an optional fraction, year 1 to 9999 AD.
func isPgTimestamp(s string) bool {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 4, 7, 10, 13, 16:
			continue
		case 19:
			if c != '.' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(s) != 20 // a fraction has digits
}

// pgTimestamptzText turns a timestamptz written in UTC with DateStyle ISO
// ("2006-01-02 15:04:05.5+00") into RFC 3339 ("2006-01-02T15:04:05.5Z");
// what it does not recognise (infinity, BC, years past 9999) is kept.
func pgTimestamptzText(s string) string {
	t, ok := strings.CutSuffix(s, "+00")
	if !ok || !isPgTimestamp(t) {
		return s
	}
	return t[:10] + "T" + t[11:] + "Z"
}

// appendJSONString appends s (valid UTF-8) as a JSON string, escaping only
// what JSON requires.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

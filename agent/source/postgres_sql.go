package source

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// parseDSN parses a connection string. Its error never repeats the string,
// which may hold a password.
func parseDSN(dsn, from string) (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid PostgreSQL connection string (not repeated here: it may hold a password)", from)
	}
	return cfg, nil
}

// checkPlaceholders holds the query to the params: $1..$n each used, and
// n params.
func checkPlaceholders(query string, n int) error {
	used := sqlPlaceholders(query)
	switch {
	case len(used) == 0 && n > 0:
		return fmt.Errorf("query has no placeholders ($1, $2...) for its %d params", n)
	case len(used) > 0 && n == 0:
		return fmt.Errorf("query uses $%d but no params are given", used[len(used)-1])
	}
	ok := len(used) == n
	for i, u := range used {
		ok = ok && u == i+1
	}
	if !ok {
		return fmt.Errorf("query uses placeholders %s with %d params: want each of $1..$%d used, and no other", dollarList(used), n, n)
	}
	return nil
}

func dollarList(ns []int) string {
	var b strings.Builder
	for i, n := range ns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", n)
	}
	return b.String()
}

// sqlPlaceholders lists, sorted and once each, the numbers of the $n
// placeholders of a PostgreSQL statement, passing over string constants
// ('...', E'...' with backslash escapes, $tag$...$tag$), quoted
// identifiers, comments (-- and nested /* */) and identifiers that
// contain "$".
func sqlPlaceholders(q string) []int {
	seen := map[int]bool{}
	isIdent := func(c byte) bool {
		return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'':
			escapes := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i == 1 || !isIdent(q[i-2]))
			i = skipQuoted(q, i+1, '\'', escapes)
		case c == '"':
			i = skipQuoted(q, i+1, '"', false)
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			if nl := strings.IndexByte(q[i:], '\n'); nl >= 0 {
				i += nl + 1
			} else {
				i = len(q)
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			i = skipComment(q, i)
		case c == '$' && (i == 0 || !isIdent(q[i-1])):
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				if n, err := strconv.Atoi(q[i+1 : j]); err == nil {
					seen[n] = true
				}
				i = j
				continue
			}
			i = skipDollarQuoted(q, i)
		case isIdent(c):
			for i < len(q) && isIdent(q[i]) {
				i++
			}
		default:
			i++
		}
	}
	ns := make([]int, 0, len(seen))
	for n := range seen {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// skipQuoted returns the index after the quote that closes a constant
// opened before i; a doubled quote stands for itself.
func skipQuoted(q string, i int, quote byte, escapes bool) int {
	for i < len(q) {
		switch c := q[i]; {
		case escapes && c == '\\':
			i += 2
		case c == quote && i+1 < len(q) && q[i+1] == quote:
			i += 2
		case c == quote:
			return i + 1
		default:
			i++
		}
	}
	return len(q)
}

// skipComment returns the index after the (nested) /* */ comment at i.
func skipComment(q string, i int) int {
	depth := 0
	for i < len(q) {
		switch {
		case strings.HasPrefix(q[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(q[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(q)
}

// skipDollarQuoted returns the index after the $tag$...$tag$ constant at
// i, or i+1 if no dollar quote starts there.
func skipDollarQuoted(q string, i int) int {
	j := i + 1
	for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || q[j] >= 0x80 || j > i+1 && q[j] >= '0' && q[j] <= '9') {
		j++
	}
	if j >= len(q) || q[j] != '$' {
		return i + 1
	}
	tag := q[i : j+1]
	if end := strings.Index(q[j+1:], tag); end >= 0 {
		return j + 1 + end + len(tag)
	}
	return len(q)
}

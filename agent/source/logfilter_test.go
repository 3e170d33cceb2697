package source

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testdata/logfilter holds access.log (plain, with a CRLF line, a too
// long line and no newline at its end) and access.log.2 (gzip, though its
// name does not say so), both in the combined log format.
const accessFormat = `^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\]`

func accessLogs(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata/logfilter")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func accessRequest() Request {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	return Request{
		Order: "01JTESTORDER",
		Selectors: []Selector{
			{"ip", "203.0.113.7:443@2026-03-01T10:00:00Z"}, {"ip", "[2001:db8::7]:443@2026-03-01T10:00:00+01:00"},
			{"email", "alice@example.net"}, {"phone", "+4930123456"},
		},
		From: at("2026-03-01T10:00:00Z"), To: at("2026-03-01T13:00:00Z"), CutOff: at("2026-03-01T11:00:00Z"),
	}
}

func TestLogfilterCapture(t *testing.T) {
	dir := accessLogs(t)
	src := mustNew(t, "logfilter", map[string]any{
		"paths":          []string{dir + "/access.log*", dir + "/**/access.log"}, // access.log twice: read once
		"format":         accessFormat,
		"time_layout":    "02/Jan/2006:15:04:05 -0700",
		"match":          map[string]string{"ip": "client", "email": "line"},
		"max_line_bytes": 200,
	})
	items, sum, err := capture(t, src, accessRequest())
	if err != nil || len(items) != 1 || items[0].err != nil {
		t.Fatalf("capture: %v %+v", err, items)
	}
	want := `203.0.113.7 - alice [01/Mar/2026:10:00:00 +0000] "GET /inbox HTTP/1.1" 200 512` + "\n" +
		`198.51.100.9 - - [01/Mar/2026:10:03:00 +0000] "GET /login?user=Alice@Example.NET HTTP/1.1" 302 0` + "\n" +
		`203.0.113.7 - alice [01/Mar/2026:10:06:00 +0000] "GET /crlf HTTP/1.1" 200 1` + "\r\n" +
		`203.0.113.7 - alice [01/Mar/2026:10:59:00 +0000] "GET /last-unterminated HTTP/1.1" 200 1` + "\n" +
		`203.0.113.7 - alice [01/Mar/2026:10:30:00 +0000] "GET /rotated HTTP/1.1" 200 1` + "\n" +
		`2001:0db8:0:0::7 - - [01/Mar/2026:10:31:00 +0000] "GET /v6 HTTP/1.1" 200 1` + "\n"
	if items[0].content != want {
		t.Errorf("kept:\n%q\nwant:\n%q", items[0].content, want)
	}
	it := items[0].item
	if it.Name != "matched-lines.log" || it.MediaType != "text/plain" {
		t.Errorf("item %q %q", it.Name, it.MediaType)
	}
	rec := it.Record
	if !slices.Equal(rec["selectors"].([]string), []string{"email:alice@example.net", "ip:203.0.113.7:443@2026-03-01T10:00:00Z", "ip:[2001:db8::7]:443@2026-03-01T10:00:00+01:00"}) {
		t.Errorf("selectors %v", rec["selectors"])
	}
	if rec["from"] != "2026-03-01T10:00:00Z" || rec["to"] != "2026-03-01T13:00:00Z" || rec["cutoff"] != "2026-03-01T11:00:00Z" || rec["timezone"] != "UTC" || rec["format"] != accessFormat {
		t.Errorf("filter %v", rec)
	}
	files := rec["files"].([]map[string]any)
	if len(files) != 2 || files[0]["path"] != dir+"/access.log" || files[1]["path"] != dir+"/access.log.2" {
		t.Fatalf("files %v", files)
	}
	plain, gz := files[0], files[1]
	for k, v := range map[string]any{
		"gzip": false, "lines_read": int64(14), "lines_kept": int64(4), "no_time": int64(2), "outside_window": int64(3),
		"not_matching": int64(3), "skipped_newer": int64(1), "too_long": int64(1), "unterminated_last_line": true,
		"item_lines": [2]int64{1, 4}, "sha256": fileSHA(t, dir+"/access.log"), "size": int64(1355),
	} {
		if plain[k] != v {
			t.Errorf("access.log %s = %v (%T), want %v", k, plain[k], plain[k], v)
		}
	}
	if got := plain["kept_line_ranges"].([][2]int64); !slices.Equal(got, [][2]int64{{2, 2}, {6, 6}, {9, 9}, {14, 14}}) {
		t.Errorf("access.log ranges %v", got)
	}
	for k, v := range map[string]any{
		"gzip": true, "lines_read": int64(3), "lines_kept": int64(2), "not_matching": int64(1), "item_lines": [2]int64{5, 6},
		"sha256": fileSHA(t, dir+"/access.log.2"), "size": int64(144), "uncompressed_size": int64(232),
	} {
		if gz[k] != v {
			t.Errorf("access.log.2 %s = %v (%T), want %v", k, gz[k], gz[k], v)
		}
	}
	for k, v := range map[string]any{"files": 2, "lines_read": int64(17), "lines_kept": int64(6), "skipped_newer": int64(1), "bytes": int64(len(want))} {
		if sum[k] != v || (k != "files" && k != "bytes" && rec[k] != v) {
			t.Errorf("%s: summary %v, record %v, want %v", k, sum[k], rec[k], v)
		}
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestLogfilterIncludeNewer: the line after the cut-off is kept only when
// asked, and the window still applies.
func TestLogfilterIncludeNewer(t *testing.T) {
	dir := accessLogs(t)
	src := mustNew(t, "logfilter", map[string]any{
		"paths": []string{dir + "/access.log"}, "format": accessFormat, "time_layout": "02/Jan/2006:15:04:05 -0700",
		"match": map[string]string{"username": "user"}, "include_newer": true,
	})
	r := accessRequest()
	r.Selectors = []Selector{{"username", "alice"}}
	items, sum, err := capture(t, src, r)
	if err != nil || len(items) != 1 {
		t.Fatalf("capture: %v %+v", err, items)
	}
	if !strings.Contains(items[0].content, "/after-cutoff") || strings.Contains(items[0].content, "/after-window") || sum["skipped_newer"] != int64(0) {
		t.Errorf("kept %q, summary %v", items[0].content, sum)
	}
	r.CutOff = time.Time{}
	if _, _, err := capture(t, mustNew(t, "logfilter", map[string]any{
		"paths": []string{dir + "/access.log"}, "format": accessFormat, "time_layout": "rfc3339", "match": map[string]string{"username": "user"},
	}), r); err == nil || !strings.Contains(err.Error(), "no cut-off time") {
		t.Errorf("no cut-off: %v", err)
	}
}

// TestLogfilterEndpoints: an ip selector found by its address and port, in
// the line or in two groups, never by a longer address or port.
func TestLogfilterEndpoints(t *testing.T) {
	dir := t.TempDir()
	log := "2026-03-01T10:00:01.5Z nat src=10.0.0.5:1234 pub=203.0.113.7:443 sport=443 cust=42\n" +
		"2026-03-01T10:00:02Z nat src=10.0.0.6:1234 pub=203.0.113.7:4430 sport=4430 cust=43\n" +
		"2026-03-01T10:00:03Z nat src=10.0.0.7:1234 pub=203.0.113.70:443 sport=443 cust=44\n" +
		"2026-03-01T10:00:04+01:00 nat src=10.0.0.5:1234 pub=203.0.113.7:443 sport=443 cust=42\n"
	writeFile(t, dir+"/nat.log", log)
	lines := strings.SplitAfter(log, "\n")
	for _, tc := range []struct {
		match map[string]string
		want  string
	}{
		{map[string]string{"ip": "line"}, lines[0]},
		{map[string]string{"ip": "pub"}, lines[0]},
		{map[string]string{"ip": "addr:port"}, lines[0]},
	} {
		src := mustNew(t, "logfilter", map[string]any{
			"paths": []string{dir + "/*.log"}, "time_layout": "rfc3339", "match": tc.match,
			"format": `^(?P<time>\S+) nat src=\S+ pub=(?P<pub>(?P<addr>[^ ]+):(?P<port>\d+)) `,
		})
		r := accessRequest()
		r.Selectors = []Selector{{"ip", "203.0.113.7:443@2026-03-01T10:00:00Z"}}
		items, sum, err := capture(t, src, r)
		if err != nil || len(items) != 1 || items[0].content != tc.want || sum["outside_window"] != int64(1) {
			t.Errorf("%v: %v %+v %v", tc.match, err, items, sum)
		}
	}
}

func TestLogfilterGzipDamage(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(bytes.Repeat([]byte("2026-03-01T10:00:00Z alice@example.net logged in\n"), 100)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/a.log.gz", string(buf.Bytes()[:buf.Len()-6])) // the checksum trailer cut short
	src := mustNew(t, "logfilter", map[string]any{
		"paths": []string{dir + "/*"}, "format": `^(?P<time>\S+) `, "time_layout": "rfc3339", "match": map[string]string{"email": "line"},
	})
	items, _, err := capture(t, src, accessRequest())
	if err == nil || len(items) != 1 || items[0].err == nil || !strings.Contains(err.Error(), dir+"/a.log.gz: unexpected EOF") {
		t.Errorf("damaged gzip: %v %+v", err, items)
	}
}

func TestLogfilterRefusesBadParameters(t *testing.T) {
	dir := accessLogs(t)
	ok := func() map[string]any {
		return map[string]any{"paths": []string{dir + "/access.log"}, "format": accessFormat, "time_layout": "rfc3339", "match": map[string]string{"email": "line"}}
	}
	for _, tc := range []struct {
		key  string
		val  any
		want string
	}{
		{"glob", "x", `unknown field "glob"`},
		{"paths", nil, "no paths"},
		{"paths", []string{"logs/*.log"}, `path "logs/*.log" is not an absolute path or glob`},
		{"paths", []string{"/var/log/[a"}, `path "/var/log/[a" is not an absolute path or glob`},
		{"format", "(", `format "(" is not a regular expression`},
		{"format", `^(?P<when>\S+)`, "has no group named time"},
		{"time_layout", "", `time_layout "" is not a Go time layout`},
		{"time_layout", "2006-01-02", `time_layout "2006-01-02" is not a Go time layout that gives the year, month, day, hour and minute`},
		{"time_layout", "Jan _2 15:04:05", `time_layout "Jan _2 15:04:05" is not`},
		{"time_layout", "yesterday", `time_layout "yesterday" is not`},
		{"timezone", "Mars/Olympus", `timezone "Mars/Olympus"`},
		{"match", map[string]string{}, "no match (which selector types"},
		{"match", map[string]string{"email": "mailbox"}, `match email: "mailbox" is neither "line" nor a group of format`},
		{"match", map[string]string{"email": "user:client"}, `match email: "user:client": only ip takes GROUP:PORTGROUP`},
		{"match", map[string]string{"ip": "client:sport"}, `match ip: "sport" is not a group of format`},
		{"match", map[string]string{"E-Mail": "line"}, `match: "E-Mail" is not a selector type`},
		{"max_line_bytes", -1, "max_line_bytes -1 is negative"},
	} {
		p := ok()
		p[tc.key] = tc.val
		if tc.val == nil {
			delete(p, tc.key)
		}
		_, err := New(Config{Name: "logs", Type: "logfilter", Params: p})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `source "logs": logfilter: `) {
			t.Errorf("%s=%v: %v, want %q", tc.key, tc.val, err, tc.want)
		}
	}
	src := mustNew(t, "logfilter", ok())
	r := accessRequest()
	r.Selectors = []Selector{{"phone", "+4930123456"}}
	if _, _, err := capture(t, src, r); err == nil || !strings.Contains(err.Error(), "the order has no selector of the types this source looks for (email)") {
		t.Errorf("no selector of the types: %v", err)
	}
	p := ok()
	p["paths"] = []string{dir + "/nothing-*.log"}
	if _, _, err := capture(t, mustNew(t, "logfilter", p), accessRequest()); err == nil || !strings.Contains(err.Error(), "no file matches paths "+dir+"/nothing-*.log") {
		t.Errorf("no files: %v", err)
	}
}

func TestContainsToken(t *testing.T) {
	for _, tc := range []struct {
		s, tok string
		want   bool
	}{
		{"from 10.0.0.1 to", "10.0.0.1", true},
		{"from 10.0.0.12 to", "10.0.0.1", false},
		{"from 110.0.0.1 to", "10.0.0.1", false},
		{"user=bob.", "bob", true},
		{"user=bob.smith", "bob", false},
		{"<bob@example.net>", "bob@example.net", true},
		{"bob@example.net.evil", "bob@example.net", false},
		{"xbob bob", "bob", true},
		{"[2001:db8::7]:443", "[2001:db8::7]:443", true},
	} {
		if got := containsToken([]byte(tc.s), []byte(tc.tok)); got != tc.want {
			t.Errorf("%q in %q: %v", tc.tok, tc.s, got)
		}
	}
}

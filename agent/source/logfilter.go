package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
)

// logfilterParams are the parameters of a "logfilter" source: the lines of
// log files that concern an order's selectors inside its time window
// (partial traffic data), not the whole files.
//
//   - paths (required): absolute globs of the log files, plain or gzip
//     (told by the magic bytes, not the name); "**" spans directories
//     (github.com/bmatcuk/doublestar). Files are read in lexical order of
//     their paths, each once, whatever number of globs name it.
//   - format (required): a regular expression (Go RE2 syntax) that a line
//     must match, with a named group "time" and the groups match names:
//     `^(?P<time>\S+) (?P<client>[0-9a-f.:]+) (?P<user>\S+) `.
//   - time_layout (required): how the time group is written: "rfc3339"
//     (with or without a fraction), or a Go layout ("02/Jan/2006:15:04:05
//     -0700") that gives at least the year, month, day, hour and minute.
//   - timezone: the IANA zone of times whose layout has no offset;
//     default UTC.
//   - match (required): for each selector type the source looks for, where
//     its values are: the name of a group of format, whose text must
//     equal the selector's value; or "line", for the value anywhere in the
//     line as a whole token (not preceded or followed by a letter, digit,
//     "_", "@", "-" or a "." that continues the token: "10.0.0.1" is not
//     found in "10.0.0.12", "bob" not in "bob.smith"). Emails compare
//     without regard to ASCII case; other values exactly. Selectors of
//     types not in match are not looked for; an order with none of the
//     types is refused, since the filter would keep nothing.
//     An ip selector, ADDRESS:PORT@TIME (package agent's form), is looked
//     for by its address and port; its moment is not a filter (the order's
//     window is). "line" finds the endpoint as written in normal form
//     ("203.0.113.7:443", "[2001:db8::7]:443"); a group compares addresses
//     as addresses (any IPv6 spelling): "GROUP" holding ADDRESS:PORT, or
//     only an address when the log has no port; "GROUP:PORTGROUP" for an
//     address and a port in two groups. A value not in that form is
//     looked for literally.
//   - include_newer: keep lines newer than the capture's cut-off too.
//   - max_line_bytes: the longest line read, newline included; default
//     1 MiB. Longer lines are not kept, and counted ("too_long").
//
// A line is kept when its time is inside the order's window [from, to]
// (an open end is open), it is not after the cut-off (unless
// include_newer), and it names one of the selectors; every line read is
// counted in exactly one of: kept, "no_time" (format does not match or
// its time does not parse: continuation lines of multi-line entries
// too), "outside_window", "not_matching", "skipped_newer", "too_long".
//
// The item, "matched-lines.log" (text/plain), is the kept lines exactly
// as they are in the files, file after file (a last line without a
// newline gets one). Its record holds the filter (paths, format, layout,
// zone, match, the selectors looked for, window, cut-off), the totals,
// and for every file its path, size and modification time when opened,
// the SHA-256 of the whole file as stored (compressed, for gzip), the
// counts, the ranges of its line numbers kept (the first 10,000 ranges)
// and which lines of the item came from it. A file is read up to the size
// it had when opened (a log still being written grows past the cut-off);
// one that shrinks while it is read fails the capture.
type logfilterParams struct {
	Paths        []string          `json:"paths"`
	Format       string            `json:"format"`
	TimeLayout   string            `json:"time_layout"`
	Timezone     string            `json:"timezone"`
	Match        map[string]string `json:"match"`
	IncludeNewer bool              `json:"include_newer"`
	MaxLineBytes int               `json:"max_line_bytes"`
}

const (
	defaultMaxLineBytes = 1 << 20
	maxKeptRanges       = 10_000
)

type logfilterSource struct {
	p       logfilterParams
	re      *regexp.Regexp
	timeIdx int
	layout  string // "" for RFC 3339
	loc     *time.Location
	match   []lineMatch // by selector type
	maxLine int
}

// lineMatch says where the values of one selector type are looked for.
type lineMatch struct {
	typ       string
	group     int // index of the group in format; -1: anywhere in the line
	portGroup int // ip: the group of the port; -1: none
}

func newLogfilter(params map[string]any) (Source, error) {
	var p logfilterParams
	if err := decodeParams(params, &p); err != nil {
		return nil, fmt.Errorf("logfilter: %w", err)
	}
	s := &logfilterSource{p: p, maxLine: defaultMaxLineBytes, loc: time.UTC}
	if len(p.Paths) == 0 {
		return nil, errors.New("logfilter: no paths")
	}
	for _, g := range p.Paths {
		if !filepath.IsAbs(g) || !doublestar.ValidatePathPattern(g) {
			return nil, fmt.Errorf("logfilter: path %q is not an absolute path or glob", g)
		}
	}
	var err error
	if p.Format == "" {
		return nil, errors.New("logfilter: no format (a regular expression with a group named time)")
	}
	if s.re, err = regexp.Compile(p.Format); err != nil {
		return nil, fmt.Errorf("logfilter: format %q is not a regular expression: %w", p.Format, err)
	}
	if s.timeIdx = s.re.SubexpIndex("time"); s.timeIdx < 0 {
		return nil, fmt.Errorf("logfilter: format %q has no group named time ((?P<time>...))", p.Format)
	}
	if p.Timezone != "" {
		if s.loc, err = time.LoadLocation(p.Timezone); err != nil {
			return nil, fmt.Errorf("logfilter: timezone %q: %w", p.Timezone, err)
		}
	}
	if s.layout, err = checkLayout(p.TimeLayout); err != nil {
		return nil, fmt.Errorf("logfilter: %w", err)
	}
	if s.match, err = parseMatch(p.Match, s.re); err != nil {
		return nil, fmt.Errorf("logfilter: %w", err)
	}
	switch {
	case p.MaxLineBytes < 0:
		return nil, fmt.Errorf("logfilter: max_line_bytes %d is negative", p.MaxLineBytes)
	case p.MaxLineBytes > 0:
		s.maxLine = max(p.MaxLineBytes, 16) // bufio's smallest buffer
	}
	return s, nil
}

// parseMatch checks the match parameter against the groups of format.
func parseMatch(match map[string]string, re *regexp.Regexp) ([]lineMatch, error) {
	if len(match) == 0 {
		return nil, errors.New(`no match (which selector types to look for, and where: {"email": "line", "ip": "<group>"})`)
	}
	var ms []lineMatch
	for _, typ := range sortedKeys(match) {
		where := match[typ]
		if !validPlaceholder("selector." + typ) {
			return nil, fmt.Errorf("match: %q is not a selector type", typ)
		}
		m := lineMatch{typ: typ, group: -1, portGroup: -1}
		if where != "line" {
			g, pg, two := strings.Cut(where, ":")
			if two && typ != "ip" {
				return nil, fmt.Errorf("match %s: %q: only ip takes GROUP:PORTGROUP", typ, where)
			}
			if m.group = re.SubexpIndex(g); m.group < 0 || g == "" {
				return nil, fmt.Errorf("match %s: %q is neither \"line\" nor a group of format", typ, g)
			}
			if m.portGroup = re.SubexpIndex(pg); two && (m.portGroup < 0 || pg == "") {
				return nil, fmt.Errorf("match %s: %q is not a group of format", typ, pg)
			}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// checkLayout accepts "rfc3339" (returned as "") or a Go layout that
// writes and reads back at least the year, month, day, hour and minute of
// a time.
func checkLayout(layout string) (string, error) {
	if strings.EqualFold(layout, "rfc3339") {
		return "", nil
	}
	ref := time.Date(2017, 11, 23, 19, 48, 37, 123456789, time.UTC)
	got, err := time.Parse(layout, ref.Format(layout))
	if layout == "" || err != nil || got.Year() != ref.Year() || got.Month() != ref.Month() || got.Day() != ref.Day() ||
		got.Hour() != ref.Hour() || got.Minute() != ref.Minute() {
		return "", fmt.Errorf("time_layout %q is not a Go time layout that gives the year, month, day, hour and minute (like \"2006-01-02 15:04:05\" or \"02/Jan/2006:15:04:05 -0700\"), nor \"rfc3339\"", layout)
	}
	return layout, nil
}

func (s *logfilterSource) Kind() string { return "logfilter" }

// needle is one selector value looked for.
type needle struct {
	lineMatch
	val  []byte // the text looked for (lower-cased when fold)
	fold bool
	ip   netip.AddrPort // an ip selector's endpoint, when its value has that form
	addr netip.Addr     // an ip selector's address
}

func newNeedle(m lineMatch, value string) needle {
	n := needle{lineMatch: m, val: []byte(value), fold: m.typ == "email"}
	if n.fold {
		n.val = bytes.ToLower(n.val)
	}
	if m.typ == "ip" {
		endpoint, _, _ := strings.Cut(value, "@")
		if ap, err := netip.ParseAddrPort(endpoint); err == nil {
			n.ip, n.addr, n.val = ap, ap.Addr().Unmap(), []byte(ap.String())
		} else if a, err := netip.ParseAddr(endpoint); err == nil {
			n.addr, n.val = a.Unmap(), []byte(a.String())
		}
	}
	return n
}

// needles are the order's selectors this source looks for, and their
// "type:value" for the record.
func (s *logfilterSource) needles(req Request) ([]needle, []string, error) {
	var ns []needle
	var rec []string
	for _, m := range s.match {
		for _, sel := range req.Selectors {
			if sel.Type != m.typ || sel.Value == "" {
				continue
			}
			ns = append(ns, newNeedle(m, sel.Value))
			rec = append(rec, sel.Type+":"+sel.Value)
		}
	}
	if len(ns) == 0 {
		var types []string
		for _, m := range s.match {
			types = append(types, m.typ)
		}
		return nil, nil, fmt.Errorf("the order has no selector of the types this source looks for (%s)", strings.Join(types, ", "))
	}
	return ns, rec, nil
}

// inGroups reports whether the groups of a line match the needle.
func (n *needle) inGroups(text []byte, m []int) bool {
	group := func(i int) ([]byte, bool) {
		if i < 0 || m[2*i] < 0 {
			return nil, false
		}
		return text[m[2*i]:m[2*i+1]], true
	}
	g, ok := group(n.group)
	if !ok {
		return false
	}
	if !n.addr.IsValid() {
		return bytes.Equal(g, n.val) || (n.fold && bytes.EqualFold(g, n.val))
	}
	if n.portGroup >= 0 {
		p, ok := group(n.portGroup)
		a, err := netip.ParseAddr(string(g))
		return ok && err == nil && a.Unmap() == n.addr && (!n.ip.IsValid() || string(p) == strconv.Itoa(int(n.ip.Port())))
	}
	if ap, err := netip.ParseAddrPort(string(g)); err == nil {
		return ap.Addr().Unmap() == n.addr && (!n.ip.IsValid() || ap.Port() == n.ip.Port())
	}
	a, err := netip.ParseAddr(string(g))
	return err == nil && a.Unmap() == n.addr
}

// files lists the regular files the globs name, sorted, each once, and
// the globs that name none.
func (s *logfilterSource) files() (files, empty []string, err error) {
	seen := map[string]bool{}
	for _, g := range s.p.Paths {
		matches, err := doublestar.FilepathGlob(g)
		if err != nil {
			return nil, nil, fmt.Errorf("path %q: %w", g, err)
		}
		n := 0
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				return nil, nil, fmt.Errorf("path %s: %w", m, err)
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			n++
			if !seen[m] {
				seen[m] = true
				files = append(files, m)
			}
		}
		if n == 0 {
			empty = append(empty, g)
		}
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no file matches paths %s", strings.Join(s.p.Paths, ", "))
	}
	return files, empty, nil
}

// Capture filters the files into one item.
func (s *logfilterSource) Capture(ctx context.Context, req Request, emit Emit) (Summary, error) {
	sum := Summary{"emitted": 0}
	if req.CutOff.IsZero() && !s.p.IncludeNewer {
		return sum, errors.New("logfilter: the request has no cut-off time")
	}
	ns, sels, err := s.needles(req)
	if err != nil {
		return sum, fmt.Errorf("logfilter: %w", err)
	}
	files, empty, err := s.files()
	if err != nil {
		return sum, fmt.Errorf("logfilter: %w", err)
	}
	rec := map[string]any{
		"paths": s.p.Paths, "format": s.p.Format, "time_layout": s.p.TimeLayout, "timezone": s.loc.String(),
		"match": s.p.Match, "selectors": sels, "include_newer": s.p.IncludeNewer, "max_line_bytes": s.maxLine,
	}
	for k, t := range map[string]time.Time{"from": req.From, "to": req.To, "cutoff": req.CutOff} {
		if !t.IsZero() {
			rec[k] = stamp(t)
		}
	}
	if len(empty) > 0 {
		rec["paths_without_files"] = empty
	}
	run := &lfRun{s: s, req: req, needles: ns}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	it := &Item{Name: "matched-lines.log", MediaType: "text/plain", Record: rec}
	err = emitWritten(it, emit, cancel, func(w io.Writer) error { return run.all(ctx, files, w, rec) })
	if err != nil {
		return sum, err
	}
	if !run.done {
		return sum, errors.New("logfilter: its lines were not read to the end")
	}
	sum["emitted"], sum["files"], sum["bytes"] = 1, len(files), run.out
	for k, v := range run.total.counts() {
		sum[k] = v
	}
	return sum, nil
}

// lfCounts counts what became of the lines of a file, or of all files.
type lfCounts struct {
	read, kept, noTime, outside, notMatching, newer, tooLong int64
}

func (c *lfCounts) add(o lfCounts) {
	c.read += o.read
	c.kept += o.kept
	c.noTime += o.noTime
	c.outside += o.outside
	c.notMatching += o.notMatching
	c.newer += o.newer
	c.tooLong += o.tooLong
}

func (c *lfCounts) counts() map[string]any {
	return map[string]any{
		"lines_read": c.read, "lines_kept": c.kept, "no_time": c.noTime, "outside_window": c.outside,
		"not_matching": c.notMatching, "skipped_newer": c.newer, "too_long": c.tooLong,
	}
}

// lfRun is one capture's pass over the files.
type lfRun struct {
	s       *logfilterSource
	req     Request
	needles []needle
	total   lfCounts
	out     int64 // bytes written to the item
	outLine int64 // lines written to the item
	lower   []byte
	done    bool
}

// all writes the kept lines of every file to w and completes the record.
func (r *lfRun) all(ctx context.Context, files []string, w io.Writer, rec map[string]any) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var recs []map[string]any
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		fr, err := r.file(f, bw)
		if err != nil {
			return fmt.Errorf("logfilter %s: %w", f, err)
		}
		recs = append(recs, fr)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	rec["files"] = recs
	for k, v := range r.total.counts() {
		rec[k] = v
	}
	r.done = true
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// file filters one file into w and returns its record.
func (r *lfRun) file(path string, w *bufio.Writer) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	raw := &countingReader{r: io.TeeReader(io.LimitReader(f, fi.Size()), h)}
	br := bufio.NewReaderSize(raw, 64<<10)
	rec := map[string]any{"path": path, "size": fi.Size(), "mtime": stamp(fi.ModTime())}
	var lines *bufio.Reader
	var plain *countingReader
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		plain = &countingReader{r: zr}
		lines = bufio.NewReaderSize(plain, r.s.maxLine)
	} else {
		// Not br itself: NewReaderSize would return it, with its own size.
		lines = bufio.NewReaderSize(struct{ io.Reader }{br}, r.s.maxLine)
	}
	fl := &lfFile{firstOut: r.outLine + 1}
	if err := r.lines(lines, w, fl); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil { // hash what gzip did not need
		return nil, err
	}
	if raw.n != fi.Size() {
		return nil, fmt.Errorf("the file changed while it was read: %d bytes when opened, %d read", fi.Size(), raw.n)
	}
	rec["sha256"], rec["gzip"] = hex.EncodeToString(h.Sum(nil)), plain != nil
	if plain != nil {
		rec["uncompressed_size"] = plain.n
	}
	for k, v := range fl.c.counts() {
		rec[k] = v
	}
	rec["kept_line_ranges"] = fl.ranges
	if fl.truncated {
		rec["kept_line_ranges_truncated"] = true
	}
	if fl.c.kept > 0 {
		rec["item_lines"] = [2]int64{fl.firstOut, r.outLine}
	}
	if fl.unterminated {
		rec["unterminated_last_line"] = true
	}
	r.total.add(fl.c)
	return rec, nil
}

// lfFile is the pass over one file.
type lfFile struct {
	c            lfCounts
	ranges       [][2]int64 // line numbers kept, first and last of each run
	truncated    bool
	firstOut     int64
	unterminated bool
}

func (fl *lfFile) keep(n int64) {
	if k := len(fl.ranges); k > 0 && fl.ranges[k-1][1] == n-1 {
		fl.ranges[k-1][1] = n
		return
	}
	if len(fl.ranges) == maxKeptRanges {
		fl.truncated = true
		return
	}
	fl.ranges = append(fl.ranges, [2]int64{n, n})
}

// lines reads lines of at most maxLine bytes and writes those kept to w.
func (r *lfRun) lines(lr *bufio.Reader, w *bufio.Writer, fl *lfFile) error {
	var n int64
	for {
		line, err := lr.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			n++
			fl.c.read++
			fl.c.tooLong++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return err
			}
			if err == io.EOF {
				return nil
			}
			continue
		}
		if len(line) > 0 {
			n++
			fl.c.read++
			if r.decide(line, &fl.c) {
				fl.keep(n)
				if err := r.write(w, line, fl); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *lfRun) write(w *bufio.Writer, line []byte, fl *lfFile) error {
	if _, err := w.Write(line); err != nil {
		return err
	}
	r.out += int64(len(line))
	if line[len(line)-1] != '\n' {
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
		r.out++
		fl.unterminated = true
	}
	r.outLine++
	return nil
}

// decide says whether a line is kept, and counts why not.
func (r *lfRun) decide(line []byte, c *lfCounts) bool {
	text := bytes.TrimRight(line, "\r\n")
	m := r.s.re.FindSubmatchIndex(text)
	if m == nil || m[2*r.s.timeIdx] < 0 {
		c.noTime++
		return false
	}
	t, err := r.s.parseTime(string(text[m[2*r.s.timeIdx]:m[2*r.s.timeIdx+1]]))
	if err != nil {
		c.noTime++
		return false
	}
	if (!r.req.From.IsZero() && t.Before(r.req.From)) || (!r.req.To.IsZero() && t.After(r.req.To)) {
		c.outside++
		return false
	}
	if !r.names(text, m) {
		c.notMatching++
		return false
	}
	if !r.s.p.IncludeNewer && t.After(r.req.CutOff) {
		c.newer++
		return false
	}
	c.kept++
	return true
}

func (s *logfilterSource) parseTime(v string) (time.Time, error) {
	if s.layout == "" {
		return time.Parse(time.RFC3339Nano, v)
	}
	return time.ParseInLocation(s.layout, v, s.loc)
}

// names reports whether the line names one of the selectors.
func (r *lfRun) names(text []byte, m []int) bool {
	lowered := false
	for i := range r.needles {
		nd := &r.needles[i]
		if nd.group >= 0 {
			if nd.inGroups(text, m) {
				return true
			}
			continue
		}
		hay := text
		if nd.fold {
			if !lowered {
				r.lower = asciiLower(r.lower[:0], text)
				lowered = true
			}
			hay = r.lower
		}
		if containsToken(hay, nd.val) {
			return true
		}
	}
	return false
}

func asciiLower(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// containsToken reports whether tok occurs in s as a whole token.
func containsToken(s, tok []byte) bool {
	for off := 0; ; {
		i := bytes.Index(s[off:], tok)
		if i < 0 {
			return false
		}
		start, end := off+i, off+i+len(tok)
		before := start == 0 || !tokenByte(s[start-1])
		after := end == len(s) || !tokenByte(s[end]) || (s[end] == '.' && (end+1 == len(s) || !tokenByte(s[end+1])))
		if before && after {
			return true
		}
		off = start + 1
	}
}

// tokenByte: a byte that continues a token (an address, a name, an email).
func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '@' || c == '-' || c == '.' || c >= 0x80
}

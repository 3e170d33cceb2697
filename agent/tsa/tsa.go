// Package tsa asks RFC 3161 timestamp authorities for tokens over the
// custody log's checkpoints, so that "no later than" rests on a third
// party's clock rather than the provider's.
//
// A Stamper is made once per process and called when a checkpoint may
// need a token: a one-shot command calls Stamp after the log's final
// checkpoint is published (chain.Log.Close), the daemon on its scheduler.
// Stamp asks each authority that is due for a token over the newest kept
// checkpoint, when that checkpoint covers an order event no token of the
// authority covers yet; never per item, and at most once per Config.Every
// per authority. Tokens are checked (they cover the checkpoint's bytes
// and chain to the authority's configured certificates) and kept by
// chain.KeepTimestamp; the log's mirror copies them to the store.
//
//	s, err := tsa.New(tsa.Config{Dir: logDir, Authorities: auths, Logger: logger})
//	rep, err := s.Stamp(ctx) // after the checkpoint is published
//
// An authority that does not answer never blocks preservation: Stamp
// logs a WARN naming it and the checkpoint's size, and the next due call
// timestamps the newest checkpoint instead. A token for another digest is
// tampering (chain.ErrTamper), logged as an error and not kept.
//
// StampBytes asks every authority for a token over other bytes, checked
// the same way and returned rather than kept: a disclosure package's
// signed statement, which no checkpoint can cover.
package tsa

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// DefaultEvery is the shortest time between two requests to one
// authority (public authorities ask for at least 15 s between scripted
// requests).
const DefaultEvery = time.Minute

// DefaultTimeout bounds one request.
const DefaultTimeout = 20 * time.Second

// Authority is one timestamp authority.
type Authority struct {
	// Name names its tokens: timestamps/<size>.<name>.tsr (chain.CheckTSAName).
	Name string
	// URL receives the requests (POST application/timestamp-query).
	URL string
	// Chain holds the certificates its tokens must chain to: the
	// self-signed ones are the roots, the others intermediates.
	Chain []*x509.Certificate
}

// Config configures a Stamper.
type Config struct {
	// Dir is the log directory, <data-dir>/log.
	Dir string
	// Authorities are asked in turn; none means Stamp does nothing.
	Authorities []Authority
	// Every is the shortest time between two requests to one authority;
	// zero means DefaultEvery.
	Every time.Duration
	// Client sends the requests; nil means a client with DefaultTimeout.
	Client *http.Client
	// Logger receives the gaps; nil discards.
	Logger *slog.Logger
	// Now is the clock that spaces the requests; nil means time.Now.
	Now func() time.Time
}

// Stamper asks the authorities for tokens over the log's checkpoints.
// Its methods are safe to call concurrently; they take turns.
type Stamper struct {
	cfg  Config
	mu   sync.Mutex
	last map[string]time.Time // the last request to each authority, in this process
	// quiet remembers, per authority, entries already read and found to
	// hold no order event, so that a loop calling Stamp often reads each
	// entry once.
	quiet map[string]span
	// runErr is the last error Run logged, so that a lasting one is
	// logged once.
	runErr string
}

// span is the entries [from, to) an authority's newest token at from left
// uncovered.
type span struct{ from, to uint64 }

// New returns a Stamper for the log in cfg.Dir.
func New(cfg Config) (*Stamper, error) {
	if cfg.Dir == "" {
		return nil, errors.New("timestamps: no log directory")
	}
	seen := map[string]bool{}
	for _, a := range cfg.Authorities {
		if err := chain.CheckTSAName(a.Name); err != nil {
			return nil, err
		}
		if seen[a.Name] {
			return nil, fmt.Errorf("timestamp authority %s: named twice", a.Name)
		}
		seen[a.Name] = true
		if _, err := ParseURL(a.URL); err != nil {
			return nil, fmt.Errorf("timestamp authority %s: %w", a.Name, err)
		}
		if len(a.Chain) == 0 {
			return nil, fmt.Errorf("timestamp authority %s: no certificate to expect", a.Name)
		}
	}
	if cfg.Every == 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Stamper{cfg: cfg, last: map[string]time.Time{}, quiet: map[string]span{}}, nil
}

// ParseURL checks an authority's URL: absolute, http or https, with a host.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the URL, which may hold a credential.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("url does not parse: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("url must be http:// or https:// with a host")
	}
	return u, nil
}

// Result is what one authority gave for one checkpoint.
type Result struct {
	TSA  string
	Size uint64
	// Token is set when a token was kept.
	Token *chain.Timestamp
	// Err is set when the authority was asked and gave no usable token;
	// errors.Is(Err, chain.ErrTamper) for a token that does not cover the
	// checkpoint.
	Err error
}

// Stamp asks each due authority for a token over the newest kept
// checkpoint (see the package doc) and returns what each asked one gave.
// Its error is only for the log directory itself; an authority's failure
// is in its Result and the log, never stops the caller.
func (s *Stamper) Stamp(ctx context.Context) ([]Result, error) {
	if len(s.cfg.Authorities) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loadAsked()
	fsys := os.DirFS(s.cfg.Dir)
	sizes, err := chain.KeptCheckpointSizes(fsys)
	if err != nil || len(sizes) == 0 {
		return nil, err
	}
	size := sizes[len(sizes)-1]
	kept, err := chain.KeptTimestamps(fsys)
	if err != nil {
		return nil, err
	}
	newest := map[string]uint64{}
	for _, k := range kept {
		newest[k.TSA] = k.Size
	}
	note, err := os.ReadFile(filepath.Join(s.cfg.Dir, chain.CheckpointsDir, strconv.FormatUint(size, 10)))
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, a := range s.cfg.Authorities {
		from, has := newest[a.Name]
		if has && from >= size {
			continue
		}
		// Entries already read and found quiet up to size leave nothing
		// to ask for, due or not; due itself may read and check a token.
		q, read := s.quiet[a.Name]
		read = read && q.from == from
		if read && q.to == size {
			continue
		}
		if !s.due(a.Name, has, from) {
			continue
		}
		start := from
		if read && q.to <= size {
			start = q.to
		}
		pending, err := orderEventSince(ctx, fsys, start, size)
		if err != nil {
			return out, err
		}
		if !pending {
			s.quiet[a.Name] = span{from, size}
			continue
		}
		s.last[a.Name] = s.cfg.Now()
		if err := s.saveAsked(); err != nil {
			return out, err
		}
		r := Result{TSA: a.Name, Size: size}
		r.Token, r.Err = s.ask(ctx, a, size, note)
		s.report(r)
		out = append(out, r)
	}
	return out, nil
}

// RunEvery is how often Run looks for a checkpoint to timestamp.
const RunEvery = time.Second

// Run calls Stamp every interval (RunEvery when 0) until ctx is done, so
// that an order's receipt is timestamped within about Config.Every and a
// checkpoint whatever else the daemon's clock is set to; Stamp reads only
// entries it has not read before. A lasting error is logged once (Error
// for tampering, Warn otherwise) and tried again at the next interval.
func (s *Stamper) Run(ctx context.Context, interval time.Duration) {
	if len(s.cfg.Authorities) == 0 {
		return
	}
	if interval <= 0 {
		interval = RunEvery
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_, err := s.Stamp(ctx)
		s.logRunErr(ctx, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logRunErr logs err unless Run logged it last time.
func (s *Stamper) logRunErr(ctx context.Context, err error) {
	msg := ""
	if err != nil && ctx.Err() == nil {
		msg = err.Error()
	}
	if msg == s.runErr {
		return
	}
	s.runErr = msg
	switch {
	case msg == "":
	case errors.Is(err, chain.ErrTamper):
		s.cfg.Logger.Error("timestamps: the log does not read back as written; no token is asked for until it does", "error", err)
	default:
		s.cfg.Logger.Warn("timestamps: cannot read the log; tried again shortly", "error", err)
	}
}

// askedFile, in the log directory, records when each authority was last
// asked, so that a one-shot command does not ask one that failed a moment
// ago again. Losing it costs at most one early request.
const askedFile = ".timestamps-asked"

// loadAsked adds the recorded requests to those of this process.
func (s *Stamper) loadAsked() {
	b, err := os.ReadFile(filepath.Join(s.cfg.Dir, askedFile))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, at, ok := strings.Cut(line, " ")
		t, err := time.Parse(time.RFC3339Nano, at)
		if ok && err == nil && t.After(s.last[name]) {
			s.last[name] = t
		}
	}
}

// saveAsked records the requests, atomically; it is not synced.
func (s *Stamper) saveAsked() error {
	var b strings.Builder
	for name, t := range s.last {
		fmt.Fprintf(&b, "%s %s\n", name, t.UTC().Format(time.RFC3339Nano))
	}
	f, err := os.CreateTemp(s.cfg.Dir, askedFile+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(s.cfg.Dir, askedFile))
}

// due says whether authority name may be asked now: not within Every of
// the last request this process sent it, nor of its newest kept token's
// genTime (a one-shot command starts with no memory of its own).
func (s *Stamper) due(name string, has bool, size uint64) bool {
	now := s.cfg.Now()
	if t, ok := s.last[name]; ok && now.Sub(t) < s.cfg.Every {
		return false
	}
	if !has {
		return true
	}
	resp, err := os.ReadFile(filepath.Join(s.cfg.Dir, filepath.FromSlash(chain.TimestampFile(size, name))))
	if err != nil {
		return true
	}
	note, err := os.ReadFile(filepath.Join(s.cfg.Dir, chain.CheckpointsDir, strconv.FormatUint(size, 10)))
	if err != nil {
		return true
	}
	ts, err := chain.ParseTimestamp(chain.TimestampFile(size, name), resp, note)
	if err != nil {
		return true
	}
	return now.Sub(ts.GenTime) >= s.cfg.Every
}

// orderEventSince says whether the entries [from, size) hold an event of
// an order.
func orderEventSince(ctx context.Context, fsys fs.FS, from, size uint64) (bool, error) {
	for rec, err := range chain.Entries(ctx, fsys, from, size) {
		if err != nil {
			return false, err
		}
		if rec.Event.Order != "" {
			return true, nil
		}
	}
	return false, nil
}

// ask requests a token over note, the checkpoint of size, checks it and
// keeps it.
func (s *Stamper) ask(ctx context.Context, a Authority, size uint64, note []byte) (*chain.Timestamp, error) {
	body, _, err := s.request(ctx, a, chain.TimestampFile(size, a.Name), note)
	if err != nil {
		return nil, err
	}
	return chain.KeepTimestamp(s.cfg.Dir, size, a.Name, body)
}

// request asks a for a token over data and checks it: it covers data's
// SHA-256, echoes the request's nonce and chains to a's configured
// certificates. file names the token in errors. It returns the DER
// TimeStampResp and what it says.
func (s *Stamper) request(ctx context.Context, a Authority, file string, data []byte) ([]byte, *chain.Timestamp, error) {
	req, err := chain.NewTimestampRequest(data)
	if err != nil {
		return nil, nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, bytes.NewReader(req.DER))
	if err != nil {
		return nil, nil, errors.New("bad request url")
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := s.cfg.Client.Do(hreq)
	if err != nil {
		// url.Error repeats the URL, which may hold a credential.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, chain.MaxTimestampSize+1))
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("read the answer: %w", err)
	case resp.StatusCode != http.StatusOK:
		return nil, nil, fmt.Errorf("answered HTTP %d", resp.StatusCode)
	case len(body) > chain.MaxTimestampSize:
		return nil, nil, fmt.Errorf("answered more than %d bytes", chain.MaxTimestampSize)
	}
	roots, inter := chain.SplitChain(a.Chain)
	ts, err := chain.VerifyTimestamp(file, body, data, roots, inter)
	if err != nil {
		return nil, nil, err
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(req.Nonce) != 0 {
		return nil, nil, &chain.TamperError{File: file, Index: chain.NoIndex, What: "the token does not echo the request's nonce: an old or another answer"}
	}
	return body, ts, nil
}

// Token is one authority's token over bytes StampBytes was given.
type Token struct {
	TSA      string
	Response []byte // the DER TimeStampResp
	Token    *chain.Timestamp
}

// StampBytes asks every authority, in turn, for a token over data (a
// disclosure package's signed statement, which no checkpoint can cover:
// its disclosure is logged after the package is built), and checks each
// as Stamp does: it covers data's SHA-256, echoes the nonce and chains
// to the authority's configured certificates. what names data in the
// log and file(tsa) the token in errors. Nothing is kept in the log
// directory, and Every does not space these requests: there is one per
// authority per disclosure, which a person asks for.
//
// An authority that gives no usable token never stops the caller: it is
// left out, with a WARN naming it (an ERROR for a token that does not
// cover data, which is tampering).
func (s *Stamper) StampBytes(ctx context.Context, what string, data []byte, file func(tsa string) string) []Token {
	var out []Token
	for _, a := range s.cfg.Authorities {
		body, ts, err := s.request(ctx, a, file(a.Name), data)
		switch {
		case err == nil:
			s.cfg.Logger.Debug(what+" timestamped", "tsa", a.Name, "gen_time", ts.GenTime)
			out = append(out, Token{TSA: a.Name, Response: body, Token: ts})
		case errors.Is(err, chain.ErrTamper):
			s.cfg.Logger.Error("timestamp authority answered a token that does not cover the "+what+": refused, left out",
				"tsa", a.Name, "err", err)
		default:
			s.cfg.Logger.Warn(what+" left without a token of this timestamp authority: it gave none",
				"tsa", a.Name, "err", err)
		}
	}
	return out
}

// report logs what one authority gave: a kept token at debug level, a
// gap as WARN, tampering as ERROR. Lines name the authority and the
// checkpoint's size, never its URL.
func (s *Stamper) report(r Result) {
	switch {
	case r.Err == nil:
		s.cfg.Logger.Debug("checkpoint timestamped", "tsa", r.TSA, "size", r.Size, "gen_time", r.Token.GenTime)
	case errors.Is(r.Err, chain.ErrTamper):
		s.cfg.Logger.Error("timestamp authority answered a token that does not cover the checkpoint: refused, not kept",
			"tsa", r.TSA, "size", r.Size, "err", r.Err)
	default:
		s.cfg.Logger.Warn("checkpoint left without a token: the timestamp authority gave none; the next checkpoint will be timestamped instead",
			"tsa", r.TSA, "size", r.Size, "err", r.Err)
	}
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// timestampLine is one token as `log show --timestamps --output json`
// prints it.
type timestampLine struct {
	Size    uint64    `json:"size"`
	TSA     string    `json:"tsa"`
	File    string    `json:"file"`
	GenTime time.Time `json:"gen_time,omitzero"`
	Digest  string    `json:"digest,omitempty"`
	Matches bool      `json:"digest_matches"`
	Problem string    `json:"problem,omitempty"`
}

// showTimestamps lists the tokens in the log directory, each checked
// against the kept checkpoint it covers (signature and digest; trust in
// the authority is verify's, with the investigator's roots). A token
// that does not cover its checkpoint is listed, and the command then
// fails as tampering.
func showTimestamps(g *globalOptions) (err error) {
	if g.server != "" {
		return usageErrorf("log show --timestamps: reads the data directory; run it on the daemon's host, without --server")
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	fsys := os.DirFS(cfg.dir().Log())
	kept, err := chain.KeptTimestamps(fsys)
	if err != nil {
		return fmt.Errorf("log %s: %w", cfg.dir().Log(), err)
	}
	bad := 0
	for _, k := range kept {
		line := checkKeptTimestamp(fsys, k)
		if !line.Matches {
			bad++
		}
		if err := printTimestamp(g, line); err != nil {
			return err
		}
	}
	if bad > 0 {
		return fmt.Errorf("log %s: %d timestamp tokens do not cover their checkpoints: %w", cfg.dir().Log(), bad, chain.ErrTamper)
	}
	return nil
}

func checkKeptTimestamp(fsys fs.FS, k chain.KeptTimestamp) timestampLine {
	line := timestampLine{Size: k.Size, TSA: k.TSA, File: "log/" + k.File}
	resp, err := fs.ReadFile(fsys, k.File)
	if err != nil {
		line.Problem = err.Error()
		return line
	}
	note, err := fs.ReadFile(fsys, chain.CheckpointsDir+"/"+strconv.FormatUint(k.Size, 10))
	if err != nil {
		line.Problem = "no kept checkpoint of this size"
		return line
	}
	ts, err := chain.ParseTimestamp(k.File, resp, note)
	if err != nil {
		line.Problem = err.Error()
		return line
	}
	line.GenTime, line.Digest, line.Matches = ts.GenTime.UTC(), ts.Digest, true
	return line
}

func printTimestamp(g *globalOptions, l timestampLine) error {
	if g.json() {
		return writeJSON(g.stdout, l)
	}
	if !l.Matches {
		_, err := fmt.Fprintf(g.stdout, "%d %s - DOES NOT MATCH: %s\n", l.Size, l.TSA, l.Problem)
		return err
	}
	_, err := fmt.Fprintf(g.stdout, "%d %s %s sha256:%s matches\n", l.Size, l.TSA, l.GenTime.Format(time.RFC3339), l.Digest)
	return err
}

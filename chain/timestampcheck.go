package chain

import (
	"io/fs"
	"strconv"
	"time"
)

// TimestampCheck is a kept token checked against the kept checkpoint it
// covers (CheckKeptTimestamps): its signature and imprint, not whether
// its authority is to be trusted, which is the verifier's decision
// (VerifyTimestamp, with the verifier's roots).
type TimestampCheck struct {
	KeptTimestamp
	GenTime time.Time // the token's genTime, in UTC
	Digest  string    // the imprint, hex
	// Problem says why the token does not cover its checkpoint; "" when
	// it does.
	Problem string
}

// CheckKeptTimestamps lists the tokens in fsys (a log directory), each
// checked against checkpoints/<size> as ParseTimestamp checks it. A token
// that does not cover its checkpoint is listed with its Problem; an error
// is returned only when the tokens cannot be listed.
func CheckKeptTimestamps(fsys fs.FS) ([]TimestampCheck, error) {
	kept, err := KeptTimestamps(fsys)
	if err != nil {
		return nil, err
	}
	out := make([]TimestampCheck, len(kept))
	for i, k := range kept {
		out[i] = checkKeptTimestamp(fsys, k)
	}
	return out, nil
}

func checkKeptTimestamp(fsys fs.FS, k KeptTimestamp) TimestampCheck {
	c := TimestampCheck{KeptTimestamp: k}
	resp, err := fs.ReadFile(fsys, k.File)
	if err != nil {
		c.Problem = err.Error()
		return c
	}
	note, err := fs.ReadFile(fsys, CheckpointsDir+"/"+strconv.FormatUint(k.Size, 10))
	if err != nil {
		c.Problem = "no kept checkpoint of this size"
		return c
	}
	ts, err := ParseTimestamp(k.File, resp, note)
	if err != nil {
		c.Problem = err.Error()
		return c
	}
	c.GenTime, c.Digest = ts.GenTime.UTC(), ts.Digest
	return c
}

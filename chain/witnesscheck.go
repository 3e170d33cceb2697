package chain

import (
	"errors"
	"io/fs"
	"strconv"
)

// LogCosigned is what a witness policy finds in a log's kept checkpoints
// (CheckLogCosignatures).
type LogCosigned struct {
	// Checkpoints counts the kept checkpoints; Met lists the sizes whose
	// cosignatures meet the policy's quorum, Short the others (cosigned
	// by too few of its witnesses, or by none).
	Checkpoints int
	Met, Short  []uint64
	// Newest is the newest kept checkpoint's size; NewestMet says its
	// cosignatures meet the quorum. A witness checks that each
	// checkpoint it cosigns extends the one it cosigned before, so the
	// newest one met vouches for the history before it.
	Newest    uint64
	NewestMet bool
}

// CheckLogCosignatures checks the cosignatures kept with the checkpoints
// of the log in fsys (CosignaturesDir) against the policy p. A
// cosignature that names a witness of the policy but does not verify is
// a *TamperError naming its file; a quorum not met is reported in the
// result. That the cosigned note is the log's own checkpoint (its
// signature and root) is VerifyLog's to check.
func CheckLogCosignatures(fsys fs.FS, p *WitnessPolicy) (*LogCosigned, error) {
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		return nil, err
	}
	res := &LogCosigned{Checkpoints: len(sizes)}
	for _, s := range sizes {
		file := CosignaturesDir + "/" + strconv.FormatUint(s, 10)
		raw, err := fs.ReadFile(fsys, file)
		met := false
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			c, err := p.CheckCosignatures(raw)
			if err != nil {
				return nil, withFile(err, file)
			}
			met = c.QuorumMet
		}
		if met {
			res.Met = append(res.Met, s)
		} else {
			res.Short = append(res.Short, s)
		}
		res.Newest, res.NewestMet = s, met
	}
	return res, nil
}

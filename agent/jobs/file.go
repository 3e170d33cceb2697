package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/custos-evidence/custos/agent/datadir"
)

// validID reports whether id is a job id in its canonical form: a ULID in
// upper case, so that it can name a file.
func validID(id string) bool {
	u, err := ulid.ParseStrict(id)
	return err == nil && u.String() == id
}

// jobPath is the file of the job id, which must be valid.
func jobPath(dir, id string) string {
	return filepath.Join(dir, id+".json")
}

// writeJob writes j to its file durably: temporary file, fsync, rename,
// fsync of the directory. The file is readable by the owner only.
func writeJob(dir string, j *Job) error {
	if !validID(j.ID) { // never build a path from an id that is not one
		return fmt.Errorf("job %q: not a job id", j.ID)
	}
	data, err := json.Marshal(j) // not indented: that would re-indent Params and Result
	if err != nil {
		return fmt.Errorf("job %s: encode: %w", j.ID, err)
	}
	if err := datadir.WriteFile(jobPath(dir, j.ID), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("job %s: write: %w", j.ID, err)
	}
	return nil
}

// loadDir reads every job file in dir, removing temporary files left by a
// crash. A file that cannot be read or does not hold a sound job is an
// error naming it: a job is never dropped silently.
func loadDir(dir string) ([]*Job, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("job directory: %w", err)
	}
	var out []*Job
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, datadir.TempPrefix):
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("remove leftover %s: %w", filepath.Join(dir, name), err)
			}
		case e.Type().IsRegular() && strings.HasSuffix(name, ".json"):
			j, err := loadJob(dir, name)
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		}
	}
	return out, nil
}

// loadJob reads and checks the job file name in dir.
func loadJob(dir, name string) (*Job, error) {
	path := filepath.Join(dir, name)
	id := strings.TrimSuffix(name, ".json")
	if !validID(id) {
		return nil, fmt.Errorf("job file %s: name is not a job id", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job file %s: %w", path, err)
	}
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("job file %s: %w", path, err)
	}
	if err := j.check(id); err != nil {
		return nil, fmt.Errorf("job file %s: %w", path, err)
	}
	return &j, nil
}

// check says what is wrong with a job loaded from the file of job id.
func (j *Job) check(id string) error {
	switch {
	case j.ID != id:
		return fmt.Errorf("holds job %q", j.ID)
	case j.Kind == "":
		return errors.New("no kind")
	case !j.State.valid():
		return fmt.Errorf("unknown state %q", j.State)
	case j.Attempts < 0 || j.MaxAttempts < 1:
		return fmt.Errorf("attempts %d of %d", j.Attempts, j.MaxAttempts)
	}
	return nil
}

package scheduler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/agent/order"
)

// stateVersion is the version of the state file's format.
const stateVersion = 1

// state is what the scheduler remembers across restarts: the reminders
// done, the deadline notices the webhook took and the last complete
// fixity round.
type state struct {
	path      string // "": memory only
	reminders map[string]reminderRecord
	// FixityRound is when the last complete fixity round started.
	FixityRound time.Time
	// notices are the deadline notices the webhook took: delivery id ->
	// order.
	notices map[string]string
	dirty   bool
}

// stateFile is the state file's format.
type stateFile struct {
	Version     int              `json:"version"`
	Reminders   []reminderRecord `json:"reminders"`
	FixityRound time.Time        `json:"fixity_round,omitzero"`
	// DeadlineNotices are the production deadline notices the webhook
	// took (absent from files written before them).
	DeadlineNotices []noticeRecord `json:"deadline_notices,omitempty"`
}

// noticeRecord is a deadline notice the webhook took.
type noticeRecord struct {
	Order    string `json:"order"`
	Delivery string `json:"delivery"`
}

// reminderRecord is a reminder done: sent, or superseded by a later one
// of the same order sent at the same time.
type reminderRecord struct {
	Order      string     `json:"order"`
	At         time.Time  `json:"at"` // the expiry less the lead
	Lead       order.Days `json:"lead"`
	Done       time.Time  `json:"done"` // when it was sent or superseded
	Superseded bool       `json:"superseded,omitempty"`
}

// loadState reads the state file at path; a missing file is an empty
// state.
func loadState(path string) (*state, error) {
	st := &state{path: path, reminders: map[string]reminderRecord{}, notices: map[string]string{}}
	if path == "" {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if f.Version != stateVersion {
		return nil, fmt.Errorf("state file %s: version %d, want %d", path, f.Version, stateVersion)
	}
	for _, r := range f.Reminders {
		st.reminders[deliveryID(r.Order, r.At)] = r
	}
	st.FixityRound = f.FixityRound
	for _, n := range f.DeadlineNotices {
		st.notices[n.Delivery] = n.Order
	}
	return st, nil
}

func (st *state) done(order string, at time.Time) bool {
	_, ok := st.reminders[deliveryID(order, at)]
	return ok
}

// markDone records the reminder of order at at as sent (or superseded)
// at now, unless it is recorded already.
func (st *state) markDone(order string, at time.Time, lead order.Days, now time.Time, sent bool) {
	id := deliveryID(order, at)
	if _, ok := st.reminders[id]; ok {
		return
	}
	st.reminders[id] = reminderRecord{Order: order, At: at.UTC(), Lead: lead, Done: now.UTC(), Superseded: !sent}
	st.dirty = true
}

// forgetEnded drops the reminders of orders that ended or are gone: views
// holds every order.
func (st *state) forgetEnded(views []*agent.OrderView) {
	live := map[string]bool{}
	for _, v := range views {
		if s := v.Order.Status; s != order.StatusReleased && s != order.StatusPurged {
			live[v.Order.ID] = true
		}
	}
	for id, r := range st.reminders {
		if !live[r.Order] {
			delete(st.reminders, id)
			st.dirty = true
		}
	}
	for id, o := range st.notices {
		if !live[o] {
			delete(st.notices, id)
			st.dirty = true
		}
	}
}

func (st *state) setFixityRound(t time.Time) {
	st.FixityRound, st.dirty = t.UTC(), true
}

// save writes the state file if the state changed: a temporary file,
// synced, renamed over the old one, and the directory synced.
func (st *state) save() error {
	if !st.dirty || st.path == "" {
		st.dirty = false
		return nil
	}
	f := stateFile{Version: stateVersion, Reminders: make([]reminderRecord, 0, len(st.reminders)), FixityRound: st.FixityRound}
	for _, r := range st.reminders {
		f.Reminders = append(f.Reminders, r)
	}
	for id, o := range st.notices {
		f.DeadlineNotices = append(f.DeadlineNotices, noticeRecord{Order: o, Delivery: id})
	}
	slices.SortFunc(f.DeadlineNotices, func(a, b noticeRecord) int { return strings.Compare(a.Delivery, b.Delivery) })
	slices.SortFunc(f.Reminders, func(a, b reminderRecord) int {
		if c := strings.Compare(a.Order, b.Order); c != 0 {
			return c
		}
		return a.At.Compare(b.At)
	})
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := datadir.WriteFile(st.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	st.dirty = false
	return nil
}

// saveState writes the state file after a Step; a failure is reported,
// and the write is tried again after the next Step.
func (s *Scheduler) saveState(rep *Report) {
	if err := s.state.save(); err != nil {
		s.fail(rep, "scheduler state not saved: a restart may repeat reminders", err, "file", s.cfg.StateFile)
	}
}

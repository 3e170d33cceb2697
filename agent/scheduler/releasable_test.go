package scheduler

import (
	"testing"

	"github.com/custos-evidence/custos/agent"
)

// The lifecycle decides which orders an expiry releases: every status
// that may become released, a disclosed one included (a disclosure does
// not keep the data beyond the order's expiry); never a held one.
func TestReleasableFollowsTheLifecycle(t *testing.T) {
	want := map[agent.Status]bool{
		agent.StatusReceived: true, agent.StatusPreserving: true, agent.StatusPreserved: true,
		agent.StatusExtended: true, agent.StatusDisclosed: true,
		agent.StatusHeld: false, agent.StatusReleased: false, agent.StatusPurged: false,
	}
	for st, w := range want {
		if got := releasable(st); got != w {
			t.Errorf("releasable(%s) = %v, want %v", st, got, w)
		}
	}
}

package scheduler

import (
	"testing"

	"github.com/custos-evidence/custos/agent/order"
)

// The lifecycle decides which orders an expiry releases: every status
// that may become released, a disclosed one included (a disclosure does
// not keep the data beyond the order's expiry); never a held one.
func TestReleasableFollowsTheLifecycle(t *testing.T) {
	want := map[order.Status]bool{
		order.StatusReceived: true, order.StatusPreserving: true, order.StatusPreserved: true,
		order.StatusExtended: true, order.StatusDisclosed: true,
		order.StatusHeld: false, order.StatusReleased: false, order.StatusPurged: false,
	}
	for st, w := range want {
		if got := releasable(st); got != w {
			t.Errorf("releasable(%s) = %v, want %v", st, got, w)
		}
	}
}

package scheduler

import (
	"context"
	"time"
)

// SetSleep replaces how the fixity rate limit waits, so that a test can
// move its clock instead.
func SetSleep(s *Scheduler, sleep func(context.Context, time.Duration) error) { s.sleep = sleep }

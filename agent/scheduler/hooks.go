package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// runHooks runs the hooks due at now, one after another. A hook's error
// is logged (Warn; Error for tampering) and reported; the others run all
// the same.
func (s *Scheduler) runHooks(ctx context.Context, now time.Time, rep *Report) {
	for i, h := range s.cfg.Hooks {
		if ctx.Err() != nil || now.Before(s.hookAt[i]) {
			continue
		}
		s.hookAt[i] = now.Add(h.Every)
		rep.Hooks = append(rep.Hooks, h.Name)
		err := h.Run(ctx)
		if errors.Is(err, chain.ErrTamper) {
			s.fail(rep, "scheduled duty found tampering", fmt.Errorf("hook %s: %w", h.Name, err), "hook", h.Name)
			continue
		}
		if err != nil {
			s.log.Warn("scheduled duty failed; it runs again at its next time", "hook", h.Name, "error", err)
			rep.Errors = append(rep.Errors, fmt.Errorf("hook %s: %w", h.Name, err))
		}
	}
}

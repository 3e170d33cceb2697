package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/capture"
)

// DefaultTick is how often Run looks at the orders when Config.Tick is 0.
const DefaultTick = time.Minute

// DefaultPurgeGrace is Config.PurgeGrace when it is 0: seven days.
const DefaultPurgeGrace = 7 * 24 * time.Hour

// Config configures a Scheduler. Only Registry is required.
type Config struct {
	Registry *agent.Registry
	// Now is the clock of every decision; nil means time.Now. Run uses a
	// real ticker only to decide when to call Step.
	Now    func() time.Time
	Logger *slog.Logger // nil discards
	// Actor is recorded in the custody events the scheduler causes
	// (release, purge, fixity); "" means "custos scheduler (<agent id>)".
	Actor string

	// Webhook, when set, receives a signed POST per reminder (see the
	// package doc); "" means a log line only. It requires WebhookSecret.
	Webhook       string
	WebhookSecret []byte
	// HTTPClient posts to the webhook; nil means a client with a 10 s
	// timeout that does not follow redirects.
	HTTPClient *http.Client
	// StateFile remembers the reminders sent and the last complete fixity
	// round, written atomically after each Step that changes them; ""
	// keeps them in memory only.
	StateFile string

	// AutoRelease releases, then purges, orders past their expiry that
	// are not held; a purge that finds items still retained is tried
	// again later.
	AutoRelease bool
	// PurgeGrace: no order received less than this ago is purged
	// automatically, whatever its expiry says (only a person's explicit
	// purge can); it is released at expiry all the same. 0 means
	// DefaultPurgeGrace.
	PurgeGrace time.Duration

	// FixityEvery is how often a fixity round starts over the items of
	// the orders still preserved; 0 means no periodic fixity.
	FixityEvery time.Duration
	// FixityRate bounds the bytes per second the rounds read; 0 means
	// unlimited.
	FixityRate int64
	// Fixity checks the items; nil means one over the registry's store
	// and log. Its Actor is replaced by the scheduler's.
	Fixity *capture.Fixity

	// Tick is how often Run calls Step; 0 means DefaultTick. A fixity
	// round also spends at most about a Tick per Step, so that a long
	// round never delays a deadline by more than that.
	Tick time.Duration
	// Hooks are extra periodic duties.
	Hooks []Hook
}

// Hook is a periodic duty: Run is called at the first Step and then at
// the first Step at least Every after the previous call. Its error is
// logged and reported; it stops nothing.
type Hook struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) error
}

// Report is what one Step did.
type Report struct {
	At       time.Time // the clock when the Step began
	Reminded []string  // orders reminded (the webhook took it, or there is none)
	Released []string  // orders released at expiry
	Purged   []string  // orders purged completely
	// PurgeKept are released orders whose purge left items the store
	// still retains: purged again on a later Step.
	PurgeKept []string
	// PurgeDeferred are released orders past their expiry not purged yet
	// because they were received less than PurgeGrace ago.
	PurgeDeferred []string
	// FixityChecked and FixityFailed count the items this Step checked and
	// those that failed; FixityRemaining is what the running round has
	// left (0 when no round is running).
	// FixityUnchecked counts those that could not be read.
	FixityChecked, FixityFailed, FixityUnchecked, FixityRemaining int
	Hooks                                                         []string // hooks run
	// DeadlineWarned, DeadlineMissed and DeadlineMet are the production
	// orders whose deadline this Step warned of (50 or 80 % of the time
	// passed), found missed, or found met by a disclosure.
	DeadlineWarned, DeadlineMissed, DeadlineMet []string
	// Errors are the failures of this Step, each naming its order, item
	// or hook; each is also logged. Their duties are tried again later.
	Errors []error
}

// ErrBusy is returned by Step while another Step is running.
var ErrBusy = errors.New("scheduler: a step is already running")

// Scheduler runs the timed duties. Its methods are safe for concurrent
// use, but Step is not re-entrant: a Step called while another runs
// returns ErrBusy at once.
type Scheduler struct {
	cfg     Config
	reg     *agent.Registry
	now     func() time.Time
	log     *slog.Logger
	actor   string
	tick    time.Duration
	webhook *webhook        // nil: log lines only
	fixity  *capture.Fixity // nil: no periodic fixity
	audit   *auditStore
	// sleep waits for the fixity rate limit; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error

	step       sync.Mutex // held by a Step; the fields below are the Step's
	state      *state
	purgeAt    map[string]time.Time // released orders: when to try purging again
	graceSaid  map[string]bool      // orders whose deferred purge was logged
	round      *fixityRound
	nextFixity time.Time
	hookAt     []time.Time
}

// New checks cfg and returns a Scheduler. It reads the state file, if
// there is one.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s := &Scheduler{
		cfg: cfg, reg: cfg.Registry, now: cfg.Now, log: cfg.Logger, actor: cfg.Actor, tick: cfg.Tick,
		sleep: sleepCtx, purgeAt: map[string]time.Time{}, graceSaid: map[string]bool{}, hookAt: make([]time.Time, len(cfg.Hooks)),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.actor == "" {
		s.actor = "custos scheduler (" + cfg.Registry.Agent + ")"
	}
	if s.tick == 0 {
		s.tick = DefaultTick
	}
	if s.cfg.PurgeGrace == 0 {
		s.cfg.PurgeGrace = DefaultPurgeGrace
	}
	if cfg.Webhook != "" {
		s.webhook = newWebhook(cfg)
	}
	s.setupFixity()
	st, err := loadState(cfg.StateFile)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.state = st
	if !st.FixityRound.IsZero() {
		s.nextFixity = st.FixityRound.Add(cfg.FixityEvery)
	}
	return s, nil
}

func (c *Config) validate() error {
	switch {
	case c.Registry == nil:
		return errors.New("no registry")
	case c.Tick < 0:
		return fmt.Errorf("tick %v is negative", c.Tick)
	case c.PurgeGrace < 0:
		return fmt.Errorf("purge grace %v is negative", c.PurgeGrace)
	case c.FixityEvery < 0:
		return fmt.Errorf("fixity interval %v is negative", c.FixityEvery)
	case c.FixityRate < 0:
		return fmt.Errorf("fixity rate %d is negative", c.FixityRate)
	}
	if c.Webhook != "" {
		u, err := url.Parse(c.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("webhook: not an http or https URL")
		}
		if len(c.WebhookSecret) == 0 {
			return errors.New("webhook: no secret to sign the reminders with")
		}
	}
	for i, h := range c.Hooks {
		if h.Name == "" || h.Every <= 0 || h.Run == nil {
			return fmt.Errorf("hook %d (%q): needs a name, a positive interval and a func", i, h.Name)
		}
	}
	return nil
}

// Run calls Step now and then every Tick until ctx is done, and returns
// nil then. A Step's failures are logged and reported, never fatal: their
// duties are tried again at the next Step.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		if _, err := s.Step(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrBusy) {
			s.log.Error("scheduler step failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step does one pass at the clock's current time: the reminders due, the
// production deadlines' warnings and misses due, the expiries due (with AutoRelease), a slice of the fixity round due, and
// the hooks due. Its error is ErrBusy, a failure to read the orders (the
// hooks still run), or ctx's; the failures of single duties are in
// Report.Errors.
func (s *Scheduler) Step(ctx context.Context) (*Report, error) {
	if !s.step.TryLock() {
		return nil, ErrBusy
	}
	defer s.step.Unlock()
	now := s.now()
	rep := &Report{At: now}
	views, complete, err := s.orders(ctx, rep)
	if err == nil {
		s.remind(ctx, now, views, complete, rep)
		s.saveState(rep) // before anything long: a crash must not repeat them
		s.keepDeadlines(ctx, now, views, rep)
		if s.cfg.AutoRelease {
			s.expire(ctx, now, views, rep)
		}
		s.runFixity(ctx, now, views, rep)
	}
	s.runHooks(ctx, now, rep)
	s.saveState(rep)
	if err == nil {
		err = ctx.Err()
	}
	return rep, err
}

// orders returns every order whose record can be read, and whether that
// is all of them: one damaged record does not stop the others'
// deadlines, and each such record is reported.
func (s *Scheduler) orders(ctx context.Context, rep *Report) ([]*agent.OrderView, bool, error) {
	views, problems, err := s.reg.ListReadable(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("list orders: %w", err)
	}
	for _, id := range slices.Sorted(maps.Keys(problems)) {
		s.fail(rep, "order unreadable: its deadlines are not kept", fmt.Errorf("read order %s: %w", id, problems[id]), "order", id)
	}
	return views, len(problems) == 0, nil
}

// fail logs err at Error level with msg and attrs, and reports it.
func (s *Scheduler) fail(rep *Report, msg string, err error, attrs ...any) {
	s.log.Error(msg, append(attrs, "error", err)...)
	rep.Errors = append(rep.Errors, err)
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

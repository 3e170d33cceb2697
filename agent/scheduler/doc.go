// Package scheduler runs the daemon's timed duties over an agent.Registry:
// reminders before an order expires, production deadlines' warnings and
// misses, automatic release and purge at expiry,
// periodic fixity audits at a bounded read rate, and extra periodic duties
// (Hooks) such as syncing the log mirror or flushing the spool.
//
// Make one with New and run it beside the API server until shutdown:
//
//	s, err := scheduler.New(scheduler.Config{
//		Registry:      reg,
//		Logger:        logger,
//		Actor:         "custos scheduler (agent-1)",
//		Webhook:       "https://intake.example.net/custos",
//		WebhookSecret: secret,
//		StateFile:     filepath.Join(dataDir, "scheduler.json"),
//		AutoRelease:   true,
//		FixityEvery:   24 * time.Hour,
//		FixityRate:    50 << 20,
//		Hooks:         []scheduler.Hook{{Name: "mirror sync", Every: time.Minute, Run: syncMirror}},
//	})
//	g.Go(func() error { return s.Run(ctx) }) // returns once ctx is done
//
// Run calls Step every Tick; Step does one pass at the clock's current time
// and reports what it did. Tests move an injected clock (Config.Now) and
// call Step directly.
//
// Reminders: each order's profile names lead times (days before expiry);
// when one passes, the scheduler logs it and, with a Webhook, POSTs a
// Reminder as JSON. The request carries
//
//	X-Custos-Timestamp: <Unix seconds of the scheduler's clock>
//	X-Custos-Signature: sha256=<hex HMAC-SHA256(WebhookSecret, timestamp + "." + body)>
//	X-Custos-Delivery:  <the Reminder's delivery id, the same on every retry>
//
// where body is the exact request body. A receiver recomputes the HMAC,
// compares in constant time, rejects timestamps far from its own clock and
// drops a delivery id it has seen. A reminder counts as sent on a 2xx
// answer; otherwise it is tried again at the next Step. Sent reminders are
// remembered in StateFile, so a restart does not repeat them.
//
// Production deadlines (docs/orders.md): for each production order the
// scheduler logs deadline.warning when 50 % and then 80 % of the time from
// receipt to the due time has passed, deadline.missed once when the due
// time passes without a disclosure, and deadline.met for a disclosure in
// time that was not logged as met yet; each is a log line too (a miss at
// Error). What was logged is read back from the custody log itself
// (agent.Registry.KeepDeadline), not from StateFile, so a restart repeats
// none. With a Webhook, the latest warning, or the miss, is posted once as
// a DeadlineNotice, signed as a Reminder is; one the webhook refused is
// posted again at the next Step, and those it took are remembered in
// StateFile.
//
// With AutoRelease, an order past its expiry that is not held is released
// (order.released, "expired: automatic release at <expiry>") and purged
// (item.purged per item); items the store still retains are purged at a
// later Step. Fixity rounds check the stored items of the orders not
// released or purged, a slice of about a Tick per Step, reading at most
// FixityRate bytes/s; a store that does not answer pauses the round
// instead of being recorded as a failed check.
//
// The custody log publishes its checkpoints itself (chain.Config's
// CheckpointInterval); copying them to the store is mirror.Mirror.Sync,
// which the daemon runs as a Hook.
package scheduler

// Package jobs is the daemon's durable job queue: captures and fixity runs
// submitted through the API are kept on disk, one JSON file per job, and run
// by a bounded pool of workers that retries failures with backoff.
//
// Open the queue on a directory with the runners it may call, by kind, then
// run it and drain it on the way out:
//
//	q, err := jobs.Open(ctx, jobs.Config{
//		Dir:     filepath.Join(dataDir, "jobs"),
//		Runners: map[string]jobs.Runner{"capture": runCapture, "fixity": runFixity},
//		Logger:  logger,
//	})
//	g.Go(func() error { return q.Run(ctx) }) // an errgroup.Group
//	j, err := q.Submit(ctx, "capture", orderID, params, identity)
//	...
//	err = q.Shutdown(drainCtx) // then g.Wait()
//
// Submit returns once the job is on disk. Get, List and Depth read the
// queue; Cancel stops a job; Wait blocks until a job is finished, for tests
// and synchronous API calls.
//
// Every state change is written to disk (temporary file, fsync, rename,
// fsync of the directory) before anyone can see it; progress is kept in
// memory and written with the next state change. A job that was running
// when the process died is queued again on the next Open, and a job that
// Shutdown interrupts goes back to the queue without using up an attempt,
// so runners must be idempotent: a capture that runs twice stores nothing
// twice.
//
// A runner's error is retried, with exponential backoff and jitter, up to
// Config.MaxAttempts runs, unless it is wrapped with Permanent or
// Config.Retryable rejects it. A runner that panics fails its job for good.
package jobs

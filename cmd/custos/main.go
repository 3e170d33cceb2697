// Command custos is the evidence preservation agent: one binary for the
// daemon and for the commands an operator runs against a data directory.
// Its exit codes are documented in exitcode.go and in `custos --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

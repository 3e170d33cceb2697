// Command custos is the evidence preservation agent: one binary for the
// daemon and for the commands an operator runs against a data directory.
// Its exit codes are documented in exitcode.go and in `custos --help`.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// tessera reports through klog, whose logger is the process's: set it
	// once, here, and let each command choose where it writes.
	sink := &klogSink{}
	klog.SetSlogLogger(slog.New(sink))
	code := run(withKlogSink(ctx, sink), os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

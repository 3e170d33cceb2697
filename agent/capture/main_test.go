package capture

import (
	"flag"
	"io"
	"os"
	"testing"

	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// tessera, under the custody log, reports through klog.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	if args := os.Getenv(benchCaptureEnv); args != "" {
		os.Exit(benchCaptureChild(args))
	}
	code := m.Run()
	removeBenchFiles()
	os.Exit(code)
}

package storage_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// Tests and benchmarks re-execute the test binary as a child process: a
// writer to kill mid-put, a put whose peak memory is measured alone. helperEnv names the child's mode and helperArgsEnv carries its
// arguments as JSON.
const (
	helperEnv     = "CUSTOS_STORAGE_TEST_HELPER"
	helperArgsEnv = "CUSTOS_STORAGE_TEST_HELPER_ARGS"
)

func TestMain(m *testing.M) {
	args := []byte(os.Getenv(helperArgsEnv))
	switch mode := os.Getenv(helperEnv); mode {
	case "":
		code := m.Run()
		removeBenchFiles()
		os.Exit(code)
	case "fault-writer":
		os.Exit(faultWriter(args))
	case "bench-put":
		os.Exit(benchPutChild(args))
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		os.Exit(2)
	}
}

// helperEnviron is the environment of a child in mode with args.
func helperEnviron(t testing.TB, mode string, args any) []string {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), helperEnv+"="+mode, helperArgsEnv+"="+string(b))
}

package main

import (
	"slices"
	"strings"

	"github.com/custos-evidence/custos/agent/source"
)

// envPrefix starts every environment variable custos reads.
const envPrefix = "CUSTOS_"

// otherEnv reports whether name is a CUSTOS_ variable read other than as
// a configuration key. Keep this list whole: a name missing here is warned
// about as a typo.
func otherEnv(name string) bool {
	switch name {
	case "CUSTOS_CONFIG", // --config
		"CUSTOS_SERVER_URL", // --server
		"CUSTOS_TOKEN",      // --token
		passphraseEnv,       // the key file's passphrase
		passphraseFileEnv,   // ... or the file holding it
		newPassphraseEnv,    // keys rotate: the new key's passphrase
		"CUSTOS_RUN_SERVE",  // make run (scripts/run.sh): start the daemon after the demo
		"CUSTOS_BIN":        // make run: the custos binary to run
		return true
	}
	// Settings of the tests and benchmarks (scripts/with-*.sh, *_test.go):
	// CUSTOS_TEST_S3_ENDPOINT, CUSTOS_TEST_PG_URL, CUSTOS_BENCH_DIR, ...
	return strings.HasPrefix(name, "CUSTOS_TEST_") || strings.HasPrefix(name, "CUSTOS_BENCH_")
}

// envName is the environment variable of a configuration key:
// log.checkpoint_interval is CUSTOS_LOG_CHECKPOINT_INTERVAL.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// strayEnv lists the CUSTOS_* variables of environ (KEY=VALUE lines, as
// os.Environ gives them) set to something that custos does not read: no configuration key
// is theirs, no flag reads them, and no configured source of cfg (nil
// when the configuration could not be read) refers to them. Each is
// likely a typo that would otherwise pass silently. Only names are
// returned, never values.
func strayEnv(environ []string, keys []configKey, cfg *Config) []string {
	known := map[string]bool{}
	for _, k := range keys {
		known[envName(k.name)] = true
	}
	if cfg != nil {
		if srcs, err := cfg.sourceConfigs(); err == nil {
			for _, sc := range srcs {
				for _, n := range source.EnvNames(sc) {
					known[n] = true
				}
			}
		}
	}
	var out []string
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if val == "" {
			continue // taken as unset, as viper takes a key's variable
		}
		if strings.HasPrefix(name, envPrefix) && !known[name] && !otherEnv(name) && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

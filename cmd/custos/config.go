package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cast"
	"github.com/spf13/viper"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/scheduler"
	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/agent/tsa"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// Config is custos's configuration (SPEC section 7), read from one YAML
// file, CUSTOS_* environment variables and the global flags.
type Config struct {
	DataDir    string           `mapstructure:"data_dir"`
	AgentID    string           `mapstructure:"agent_id"`
	Actor      string           `mapstructure:"actor"`
	Key        KeyConfig        `mapstructure:"key"`
	Store      StoreConfig      `mapstructure:"store"`
	Log        LogConfig        `mapstructure:"log"`
	Server     ServerConfig     `mapstructure:"server"`
	Sources    map[string]any   `mapstructure:"sources"`
	Profiles   map[string]any   `mapstructure:"profiles"`
	Capture    CaptureConfig    `mapstructure:"capture"`
	Disclosure DisclosureConfig `mapstructure:"disclosure"`
	Scheduler  SchedulerConfig  `mapstructure:"scheduler"`
	Intake     IntakeConfig     `mapstructure:"intake"`
}

// IntakeConfig configures how the daemon receives orders.
type IntakeConfig struct {
	// VerifiedChannels are the intake identities (token names, client
	// certificate common names) issued to an authority's own system, such
	// as its portal: an order one of them sends is logged at receipt as
	// requester.verified of method verified-channel, so its disclosure
	// needs no person's check of the requester.
	VerifiedChannels []string `mapstructure:"verified_channels"`
}

// SchedulerConfig configures the daemon's timed duties (agent/scheduler).
type SchedulerConfig struct {
	// Tick is how often the orders are looked at.
	Tick time.Duration `mapstructure:"tick"`
	// Webhook receives a signed POST per expiry reminder; WebhookSecret
	// (required with it) is the HMAC-SHA256 key.
	Webhook       string `mapstructure:"webhook"`
	WebhookSecret Secret `mapstructure:"webhook_secret"`
	// AutoRelease releases and then purges orders past their expiry that
	// are not held.
	AutoRelease bool `mapstructure:"auto_release"`
	// PurgeGrace is how long after its receipt an order is safe from an
	// automatic purge, whatever its expiry; a person's `order purge` is
	// not bound by it.
	PurgeGrace time.Duration `mapstructure:"purge_grace"`
	// FixityEvery starts a fixity round over every preserved item (0: never);
	// FixityRate bounds its reads in bytes per second (0: unlimited).
	FixityEvery time.Duration `mapstructure:"fixity_every"`
	FixityRate  int64         `mapstructure:"fixity_rate"`
	// MirrorEvery copies the log's new files to its mirror in the store.
	MirrorEvery time.Duration `mapstructure:"mirror_every"`
}

// DisclosureConfig configures disclosure packages.
type DisclosureConfig struct {
	// Organization is the provider as packages name it (bag-info's
	// Source-Organization); empty: agent_id.
	Organization string `mapstructure:"organization"`
}

// CaptureConfig configures the capture pipeline.
type CaptureConfig struct {
	// Concurrency bounds the sources one capture runs at once.
	Concurrency int `mapstructure:"concurrency"`
	// Workers hash and store items at once.
	Workers int `mapstructure:"workers"`
	// BatchItems and BatchWait bound a sealed batch.
	BatchItems int           `mapstructure:"batch_items"`
	BatchWait  time.Duration `mapstructure:"batch_wait"`
}

// KeyConfig names the checkpoint signing key: a file, or a KMS URI.
type KeyConfig struct {
	File string `mapstructure:"file"` // absolute after loading
	KMS  string `mapstructure:"kms"`
}

// StoreConfig selects the evidence store.
type StoreConfig struct {
	Type string   `mapstructure:"type"`
	S3   S3Config `mapstructure:"s3"`
}

// S3Config configures an S3-compatible evidence store.
type S3Config struct {
	Endpoint      string `mapstructure:"endpoint"`
	Bucket        string `mapstructure:"bucket"`
	Prefix        string `mapstructure:"prefix"`
	Region        string `mapstructure:"region"`
	AccessKey     string `mapstructure:"access_key"`
	SecretKey     Secret `mapstructure:"secret_key"`
	TLS           bool   `mapstructure:"tls"`
	CAFile        string `mapstructure:"ca_file"`
	PathStyle     bool   `mapstructure:"path_style"`
	RetentionMode string `mapstructure:"retention_mode"`
	Checksum      string `mapstructure:"checksum"` // CRC32C or CRC64NVME

	SSE         string `mapstructure:"sse"` // "", sse-s3, sse-kms, sse-c
	SSEKMSKeyID string `mapstructure:"sse_kms_key_id"`
	SSECKeyFile string `mapstructure:"sse_c_key_file"` // 32 raw bytes

	PartSize          int64         `mapstructure:"part_size"`
	UploadConcurrency int           `mapstructure:"upload_concurrency"`
	RetryFor          time.Duration `mapstructure:"retry_for"`
}

// LogConfig configures the custody log.
type LogConfig struct {
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
	// VerifyEvery is how often the daemon verifies the whole log from its
	// first entry; between two, each scheduler tick verifies what is new.
	VerifyEvery time.Duration `mapstructure:"verify_every"`
	// Timestamp names the RFC 3161 timestamp authorities asked for tokens
	// over the log's checkpoints (agent/tsa).
	Timestamp TimestampConfig `mapstructure:"timestamp"`
	// Witnesses is a witness policy file (relative to data_dir); every
	// checkpoint is sent to its witnesses to cosign. Empty: none.
	Witnesses string `mapstructure:"witnesses"`
	// WitnessFailOpen publishes a checkpoint that missed its quorum all
	// the same, logging it at WARN (the default: a witness down never
	// stops preservation); false blocks its publication.
	WitnessFailOpen bool `mapstructure:"witness_fail_open"`
	// WitnessTimeout bounds the wait for one checkpoint's witnesses.
	WitnessTimeout time.Duration `mapstructure:"witness_timeout"`

	witnessPolicy *chain.WitnessPolicy // Witnesses, parsed by validate
}

// witnessConfig is the log's witnesses, nil when none are configured.
func (l *LogConfig) witnessConfig() *chain.WitnessConfig {
	if l.witnessPolicy == nil {
		return nil
	}
	return &chain.WitnessConfig{Policy: l.witnessPolicy, FailOpen: l.WitnessFailOpen, Timeout: l.WitnessTimeout}
}

// loadWitnesses reads and parses the witness policy file, if any.
func (l *LogConfig) loadWitnesses() error {
	if l.Witnesses == "" {
		return nil
	}
	text, err := readLimited(l.Witnesses, 1<<20)
	if err != nil {
		return fmt.Errorf("config: log.witnesses: %w", err)
	}
	if l.witnessPolicy, err = chain.ParseWitnessPolicy(text); err != nil {
		return fmt.Errorf("config: log.witnesses: %s: %w", l.Witnesses, err)
	}
	return nil
}

// TimestampConfig configures the tokens over checkpoints.
type TimestampConfig struct {
	// TSA lists the authorities; none: no tokens are asked for.
	TSA []TSAConfig `mapstructure:"tsa"`
	// Every is the shortest time between two requests to one authority.
	Every time.Duration `mapstructure:"every"`
}

// TSAConfig is one timestamp authority.
type TSAConfig struct {
	// Name names its tokens: log/timestamps/<size>.<name>.tsr.
	Name string `mapstructure:"name"`
	// URL receives the requests.
	URL string `mapstructure:"url"`
	// Chain is a PEM file with the certificates its tokens must chain
	// to (relative to data_dir).
	Chain string `mapstructure:"chain"`
}

// Secret is a configuration value that is never printed: every formatting
// path shows it redacted. Reveal returns the value for the one place that
// needs it.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalText keeps encoders (JSON, YAML) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

type valueKind int

const (
	kindString valueKind = iota
	kindBool
	kindDuration
	kindMap
	kindInt
	kindList
	// kindNames is a list of names; in the environment, comma-separated.
	kindNames
)

func (k valueKind) String() string {
	return [...]string{"a string", "a boolean", "a duration", "a mapping", "an integer", "a list", "a list of names"}[k]
}

// configKey is one configuration key, with its default.
type configKey struct {
	name   string
	def    any
	kind   valueKind
	secret bool
}

// configKeys lists every key. Each gets a default so that viper's
// AutomaticEnv, which only sees keys it knows, reads its variable.
func configKeys(defaultDataDir string) []configKey {
	return []configKey{
		{name: "data_dir", def: defaultDataDir},
		{name: "agent_id", def: ""}, // "": defaultOrigin
		{name: "actor", def: ""},
		{name: "key.file", def: "keys/custos.key"},
		{name: "key.kms", def: ""},
		{name: "store.type", def: "local"},
		{name: "store.s3.endpoint", def: ""},
		{name: "store.s3.bucket", def: ""},
		{name: "store.s3.prefix", def: ""},
		{name: "store.s3.region", def: "us-east-1"},
		{name: "store.s3.access_key", def: ""},
		{name: "store.s3.secret_key", def: "", secret: true},
		{name: "store.s3.tls", def: true, kind: kindBool},
		{name: "store.s3.ca_file", def: ""},
		{name: "store.s3.path_style", def: false, kind: kindBool},
		{name: "store.s3.retention_mode", def: "GOVERNANCE"},
		{name: "store.s3.checksum", def: storage.DefaultChecksum},
		{name: "store.s3.sse", def: ""},
		{name: "store.s3.sse_kms_key_id", def: ""},
		{name: "store.s3.sse_c_key_file", def: ""},
		{name: "store.s3.part_size", def: int64(storage.DefaultPartSize), kind: kindInt},
		{name: "store.s3.upload_concurrency", def: 1, kind: kindInt},
		{name: "store.s3.retry_for", def: 2 * time.Minute, kind: kindDuration},
		{name: "log.checkpoint_interval", def: chain.DefaultCheckpointInterval, kind: kindDuration},
		{name: "log.verify_every", def: 24 * time.Hour, kind: kindDuration},
		{name: "log.timestamp.tsa", def: []any{}, kind: kindList},
		{name: "log.timestamp.every", def: tsa.DefaultEvery, kind: kindDuration},
		{name: "log.witnesses", def: ""},
		{name: "log.witness_fail_open", def: true, kind: kindBool},
		{name: "log.witness_timeout", def: chain.DefaultWitnessTimeout, kind: kindDuration},
		{name: "server.listen", def: "127.0.0.1:8420"},
		{name: "server.tls_cert", def: ""},
		{name: "server.tls_key", def: ""},
		{name: "server.client_ca", def: ""},
		{name: "server.client_roles", def: map[string]any{}, kind: kindMap},
		{name: "server.insecure_http", def: false, kind: kindBool},
		{name: "server.workers", def: 4, kind: kindInt},
		{name: "server.drain_timeout", def: 30 * time.Second, kind: kindDuration},
		{name: "server.job_retention", def: 7 * 24 * time.Hour, kind: kindDuration},
		{name: "server.disclosure_retention", def: 7 * 24 * time.Hour, kind: kindDuration},
		{name: "sources", def: map[string]any{}, kind: kindMap},
		{name: "profiles", def: map[string]any{}, kind: kindMap},
		{name: "capture.concurrency", def: 2, kind: kindInt},
		{name: "capture.workers", def: capture.DefaultWorkers, kind: kindInt},
		{name: "capture.batch_items", def: capture.DefaultBatchItems, kind: kindInt},
		{name: "capture.batch_wait", def: capture.DefaultBatchWait, kind: kindDuration},
		{name: "disclosure.organization", def: ""},
		{name: "intake.verified_channels", def: []any{}, kind: kindNames},
		{name: "scheduler.tick", def: time.Minute, kind: kindDuration},
		{name: "scheduler.webhook", def: ""},
		{name: "scheduler.webhook_secret", def: "", secret: true},
		{name: "scheduler.auto_release", def: true, kind: kindBool},
		{name: "scheduler.purge_grace", def: scheduler.DefaultPurgeGrace, kind: kindDuration},
		{name: "scheduler.fixity_every", def: 24 * time.Hour, kind: kindDuration},
		{name: "scheduler.fixity_rate", def: int64(64 << 20), kind: kindInt},
		{name: "scheduler.mirror_every", def: time.Minute, kind: kindDuration},
	}
}

// overrides are values from flags, by key; they win over file and env.
type overrides map[string]string

// loadConfig reads the configuration: defaults, then the YAML file (if
// file is not empty), then CUSTOS_* environment variables, then over.
// Every error is a *usageError naming the key.
func loadConfig(file string, lookupEnv func(string) (string, bool), over overrides) (*Config, error) {
	cfg, err := readConfig(file, lookupEnv, over)
	if err != nil {
		var ue *usageError
		if !errors.As(err, &ue) {
			err = &usageError{err: err}
		}
		return nil, err
	}
	return cfg, nil
}

func readConfig(file string, lookupEnv func(string) (string, bool), over overrides) (*Config, error) {
	def, err := defaultDataDir(lookupEnv)
	if err != nil {
		return nil, err
	}
	keys := configKeys(def)
	v := viper.New()
	for _, k := range keys {
		v.SetDefault(k.name, k.def)
	}
	v.SetEnvPrefix("CUSTOS")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
	}
	for k, val := range over {
		v.Set(k, val)
	}
	if err := checkKeys(v, keys); err != nil {
		return nil, err
	}
	var cfg Config
	if err := v.UnmarshalExact(&cfg); err != nil {
		// checkKeys has named every key and type error it knows of.
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cfg.resolve(lookupEnv); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func defaultDataDir(lookupEnv func(string) (string, bool)) (string, error) {
	if d, ok := lookupEnv("XDG_DATA_HOME"); ok && filepath.IsAbs(d) {
		return filepath.Join(d, "custos"), nil
	}
	home, ok := lookupEnv("HOME")
	if !ok || home == "" {
		return "", errors.New("config: data_dir: no $HOME or $XDG_DATA_HOME to place it in; set data_dir or --data-dir")
	}
	return filepath.Join(home, ".local", "share", "custos"), nil
}

// checkKeys refuses unknown keys and values of the wrong type, naming the
// key, before the struct is decoded.
func checkKeys(v *viper.Viper, keys []configKey) error {
	known := map[string]configKey{}
	sections := map[string]bool{}
	for _, k := range keys {
		known[k.name] = k
		for i := range k.name {
			if k.name[i] == '.' {
				sections[k.name[:i]] = true
			}
		}
	}
	all := v.AllKeys()
	slices.Sort(all)
	for _, name := range all {
		if strings.HasPrefix(name, "sources.") {
			continue
		}
		if sections[name] {
			return fmt.Errorf("config: %s: expected a mapping, got %s", name, describe(v.Get(name), false))
		}
		if _, ok := known[name]; !ok {
			if u := unknownPrefix(name, known, sections); u != "" {
				return fmt.Errorf("config: unknown key %q", u)
			}
		}
	}
	for _, k := range keys {
		if err := checkType(k, v.Get(k.name)); err != nil {
			return err
		}
	}
	return nil
}

// unknownPrefix shortens an unknown leaf key to its first unknown part:
// "stroe" for stroe.type, "store.s3.endpiont" for itself. Below a known
// key (a mapping where a value belongs) it returns "", leaving the type
// check to name the key.
func unknownPrefix(name string, known map[string]configKey, sections map[string]bool) string {
	for i := range name {
		if name[i] != '.' {
			continue
		}
		p := name[:i]
		if _, ok := known[p]; ok {
			return ""
		}
		if !sections[p] {
			return p
		}
	}
	return name
}

func checkType(k configKey, val any) error {
	var err error
	switch k.kind {
	case kindString:
		switch val.(type) {
		case map[string]any, []any:
			err = errors.New("wrong type")
		}
	case kindBool:
		_, err = cast.ToBoolE(val)
	case kindDuration:
		_, err = cast.ToDurationE(val)
	case kindInt:
		_, err = cast.ToInt64E(val)
	case kindMap:
		if val != nil {
			_, err = cast.ToStringMapE(val)
		}
	case kindList:
		if _, ok := val.([]any); !ok && val != nil {
			err = errors.New("wrong type")
		}
	case kindNames:
		switch v := val.(type) {
		case nil, string:
		case []any:
			for _, x := range v {
				if s, ok := x.(string); !ok || strings.TrimSpace(s) == "" {
					err = errors.New("wrong type")
				}
			}
		default:
			err = errors.New("wrong type")
		}
	}
	if err != nil {
		return fmt.Errorf("config: %s: %s is not %s", k.name, describe(val, k.secret), k.kind)
	}
	return nil
}

// describe shows a configuration value in an error, unless it is secret.
func describe(val any, secret bool) string {
	switch {
	case secret:
		return "the value"
	case val == nil:
		return "null"
	}
	switch x := val.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", val)
}

// resolve expands ~ and makes paths absolute: key.file is relative to
// data_dir, data_dir to the working directory.
func (c *Config) resolve(lookupEnv func(string) (string, bool)) error {
	dd, err := expandHome(c.DataDir, lookupEnv)
	if err != nil {
		return fmt.Errorf("config: data_dir: %w", err)
	}
	if dd == "" {
		return errors.New("config: data_dir: must not be empty")
	}
	if c.DataDir, err = filepath.Abs(dd); err != nil {
		return fmt.Errorf("config: data_dir: %w", err)
	}
	if c.Key.KMS == "" {
		kf, err := expandHome(c.Key.File, lookupEnv)
		if err != nil {
			return fmt.Errorf("config: key.file: %w", err)
		}
		if kf == "" {
			return errors.New("config: key.file: must not be empty unless key.kms is set")
		}
		if !filepath.IsAbs(kf) {
			kf = filepath.Join(c.DataDir, kf)
		}
		c.Key.File = filepath.Clean(kf)
	}
	if c.AgentID == "" {
		keyFile := c.Key.File
		if c.Key.KMS != "" {
			keyFile = ""
		}
		if c.AgentID, err = defaultOrigin(c.DataDir, keyFile, os.Hostname); err != nil {
			return fmt.Errorf("config: agent_id: not set, and no default: %w", err)
		}
	}
	for i, a := range c.Log.Timestamp.TSA {
		if a.Chain == "" {
			continue
		}
		f, err := expandHome(a.Chain, lookupEnv)
		if err != nil {
			return fmt.Errorf("config: log.timestamp.tsa[%d].chain: %w", i, err)
		}
		if !filepath.IsAbs(f) {
			f = filepath.Join(c.DataDir, f)
		}
		c.Log.Timestamp.TSA[i].Chain = filepath.Clean(f)
	}
	c.Store.S3.RetentionMode = strings.ToUpper(c.Store.S3.RetentionMode)
	c.Store.S3.Checksum = strings.ToUpper(c.Store.S3.Checksum)
	c.Store.S3.SSE = strings.ToLower(c.Store.S3.SSE)
	for _, f := range []struct {
		key  string
		path *string
	}{{"store.s3.sse_c_key_file", &c.Store.S3.SSECKeyFile}, {"log.witnesses", &c.Log.Witnesses}} {
		if *f.path == "" {
			continue
		}
		p, err := expandHome(*f.path, lookupEnv)
		if err != nil {
			return fmt.Errorf("config: %s: %w", f.key, err)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.DataDir, p)
		}
		*f.path = filepath.Clean(p)
	}
	return nil
}

func expandHome(p string, lookupEnv func(string) (string, bool)) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, ok := lookupEnv("HOME")
	if !ok || home == "" {
		return "", fmt.Errorf("%q: no $HOME to expand ~", p)
	}
	return filepath.Join(home, p[1:]), nil
}

// validate checks values, naming the key of the first that is wrong.
func (c *Config) validate() error {
	if err := validNoteName(c.AgentID); err != nil {
		return fmt.Errorf("config: agent_id: %w", err)
	}
	if c.Log.CheckpointInterval < chain.MinCheckpointInterval {
		return fmt.Errorf("config: log.checkpoint_interval: %v is shorter than the minimum %v", c.Log.CheckpointInterval, chain.MinCheckpointInterval)
	}
	if c.Log.VerifyEvery < time.Minute {
		return fmt.Errorf("config: log.verify_every: %v is shorter than 1m", c.Log.VerifyEvery)
	}
	if c.Log.WitnessTimeout < 100*time.Millisecond {
		return fmt.Errorf("config: log.witness_timeout: %v is shorter than 100ms", c.Log.WitnessTimeout)
	}
	if err := c.Log.loadWitnesses(); err != nil {
		return err
	}
	switch c.Store.Type {
	case "local":
	case "s3":
		if c.Store.S3.Endpoint == "" {
			return errors.New("config: store.s3.endpoint: must be set when store.type is s3")
		}
		if c.Store.S3.Bucket == "" {
			return errors.New("config: store.s3.bucket: must be set when store.type is s3")
		}
	default:
		return fmt.Errorf("config: store.type: %q is not local or s3", c.Store.Type)
	}
	if m := c.Store.S3.RetentionMode; m != "GOVERNANCE" && m != "COMPLIANCE" {
		return fmt.Errorf("config: store.s3.retention_mode: %q is not GOVERNANCE or COMPLIANCE", m)
	}
	if (c.Store.S3.AccessKey == "") != (c.Store.S3.SecretKey == "") {
		return errors.New("config: store.s3.access_key and store.s3.secret_key: set both or neither")
	}
	if err := c.Store.S3.validate(); err != nil {
		return err
	}
	if _, err := c.Log.Timestamp.authorities(); err != nil {
		return err
	}
	if c.Capture.Concurrency < 1 || c.Capture.Concurrency > 64 {
		return fmt.Errorf("config: capture.concurrency: %d is not between 1 and 64", c.Capture.Concurrency)
	}
	if c.Capture.Workers < 1 || c.Capture.Workers > 256 {
		return fmt.Errorf("config: capture.workers: %d is not between 1 and 256", c.Capture.Workers)
	}
	if c.Capture.BatchItems < 1 || c.Capture.BatchItems > chain.MaxBatchItems {
		return fmt.Errorf("config: capture.batch_items: %d is not between 1 and %d", c.Capture.BatchItems, chain.MaxBatchItems)
	}
	if c.Capture.BatchWait < time.Millisecond || c.Capture.BatchWait > time.Hour {
		return fmt.Errorf("config: capture.batch_wait: %v is not between 1ms and 1h", c.Capture.BatchWait)
	}
	if _, err := c.sourceConfigs(); err != nil {
		return err
	}
	profiles, err := order.LoadProfiles(c.Profiles)
	if err != nil {
		return fmt.Errorf("config: profiles: %w", err)
	}
	if err := c.Log.Timestamp.checkProfiles(profiles); err != nil {
		return err
	}
	if err := c.Scheduler.validate(); err != nil {
		return err
	}
	return c.Server.validate()
}

func (s *SchedulerConfig) validate() error {
	switch {
	case s.Tick < time.Second:
		return fmt.Errorf("config: scheduler.tick: %v is shorter than 1s", s.Tick)
	case s.Webhook != "" && s.WebhookSecret == "":
		return errors.New("config: scheduler.webhook: needs scheduler.webhook_secret, the key its requests are signed with")
	case s.PurgeGrace <= 0:
		return fmt.Errorf("config: scheduler.purge_grace: %v: must be positive (default %v): no order is purged automatically sooner after its receipt", s.PurgeGrace, scheduler.DefaultPurgeGrace)
	case s.FixityEvery < 0 || s.FixityRate < 0:
		return errors.New("config: scheduler.fixity_every and fixity_rate: must not be negative")
	case s.MirrorEvery < time.Second:
		return fmt.Errorf("config: scheduler.mirror_every: %v is shorter than 1s", s.MirrorEvery)
	}
	if s.Webhook != "" {
		u, err := url.Parse(s.Webhook)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("config: scheduler.webhook: not an http(s) URL")
		}
	}
	return nil
}

func (s *S3Config) validate() error {
	if p := s.Prefix; p != "" && (!strings.HasSuffix(p, "/") || storage.CheckKey(strings.TrimSuffix(p, "/")) != nil) {
		return fmt.Errorf("config: store.s3.prefix: %q is not a clean relative path ending in \"/\" (no \".\" or \"..\" segments, no leading \"/\")", p)
	}
	if strings.Contains(s.Endpoint, "://") || strings.ContainsAny(s.Endpoint, "/ ") {
		return fmt.Errorf("config: store.s3.endpoint: %q: give host:port without a scheme or path (TLS is store.s3.tls)", s.Endpoint)
	}
	if s.Checksum != "CRC32C" && s.Checksum != "CRC64NVME" {
		return fmt.Errorf("config: store.s3.checksum: %q is not CRC32C or CRC64NVME", s.Checksum)
	}
	switch s.SSE {
	case "", "sse-s3":
	case "sse-kms":
		if s.SSEKMSKeyID == "" {
			return errors.New("config: store.s3.sse_kms_key_id: must be set when store.s3.sse is sse-kms")
		}
	case "sse-c":
		if s.SSECKeyFile == "" {
			return errors.New("config: store.s3.sse_c_key_file: must be set when store.s3.sse is sse-c")
		}
		if !s.TLS {
			return errors.New("config: store.s3.sse: sse-c sends the key with every request and needs store.s3.tls: true")
		}
	default:
		return fmt.Errorf("config: store.s3.sse: %q is not sse-s3, sse-kms or sse-c", s.SSE)
	}
	if s.PartSize < 5<<20 || s.PartSize > 5<<30 {
		return fmt.Errorf("config: store.s3.part_size: %d is not between 5 MiB (5242880) and 5 GiB", s.PartSize)
	}
	if s.UploadConcurrency < 1 || s.UploadConcurrency > 64 {
		return fmt.Errorf("config: store.s3.upload_concurrency: %d is not between 1 and 64", s.UploadConcurrency)
	}
	if s.RetryFor < time.Second {
		return fmt.Errorf("config: store.s3.retry_for: %v is shorter than 1s", s.RetryFor)
	}
	return nil
}

// validNoteName applies the C2SP signed-note rule for key names, which
// the log origin (agent_id) is: non-empty, printable, no spaces, no '+'.
func validNoteName(name string) error {
	if name == "" {
		return errors.New("must not be empty")
	}
	for _, r := range name {
		if r <= ' ' || r == '+' || r == 0x7f {
			return fmt.Errorf("%q is not a valid log origin (no spaces, no '+', printable characters only)", name)
		}
	}
	return nil
}

// sourceConfigs reads the sources: key. Each source is a map with its
// connector type, the data categories it serves and the connector's own
// parameters beside them:
//
//	sources:
//	  mailboxes: {type: dir, categories: [content], root: /srv/mail, include: ["**/*.eml"]}
//
// Errors name the source and the key; the connector checks its own
// parameters (source.Validate), so a source that could not capture is
// refused when the configuration is read.
func (c *Config) sourceConfigs() ([]source.Config, error) {
	names := make([]string, 0, len(c.Sources))
	for name := range c.Sources {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]source.Config, 0, len(names))
	for _, name := range names {
		m, ok := c.Sources[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config: sources.%s: not a map with type, categories and the connector's parameters", name)
		}
		sc := source.Config{Name: name, Params: map[string]any{}}
		for k, v := range m {
			switch k {
			case "type":
				t, ok := v.(string)
				if !ok || !slices.Contains(source.Kinds(), t) {
					return nil, fmt.Errorf("config: sources.%s.type: %v is not one of %s", name, v, strings.Join(source.Kinds(), ", "))
				}
				sc.Type = t
			case "categories":
				cats, err := cast.ToStringSliceE(v)
				if err != nil {
					return nil, fmt.Errorf("config: sources.%s.categories: %w", name, err)
				}
				if len(cats) == 1 && strings.Contains(cats[0], ",") {
					cats = strings.Split(cats[0], ",")
				}
				for _, cat := range cats {
					cat = strings.TrimSpace(cat)
					switch order.Category(cat) {
					case order.CategorySubscriber, order.CategoryTraffic, order.CategoryContent:
					default:
						return nil, fmt.Errorf("config: sources.%s.categories: %q is not subscriber, traffic or content", name, cat)
					}
					sc.Categories = append(sc.Categories, cat)
				}
			default:
				sc.Params[k] = v
			}
		}
		if sc.Type == "" {
			return nil, fmt.Errorf("config: sources.%s.type: missing (one of %s)", name, strings.Join(source.Kinds(), ", "))
		}
		// The connector's own checks (absolute paths, known parameters,
		// URLs, templates), now rather than at the first capture.
		if err := source.Validate(sc); err != nil {
			return nil, fmt.Errorf("config: sources.%s: %w", name, err)
		}
		out = append(out, sc)
	}
	return out, nil
}

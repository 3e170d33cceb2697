package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
)

func newKeysCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "keys",
		Usage: "create, show and rotate the checkpoint signing key",
		Subcommands: []*cli.Command{
			newKeysGenerateCommand(g),
			newKeysShowCommand(g),
			newKeysRotateCommand(g),
		},
	}
}

type keysGenerateOptions struct {
	Type         string
	NoPassphrase bool
	Force        bool
}

func newKeysGenerateCommand(g *globalOptions) *cli.Command {
	var opts keysGenerateOptions
	return &cli.Command{
		Name:  "generate",
		Usage: "create the signing key at key.file, encrypted with a passphrase",
		Description: "The passphrase comes from " + passphraseEnv + ", else from the terminal.\n" +
			"Also writes <key.file>.pub (PEM public key) and <key.file>.vkey (note verifier key).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "type", Value: "ed25519", Usage: "key `TYPE`: ed25519 or ecdsa-p256", Destination: &opts.Type},
			&cli.BoolFlag{Name: "no-passphrase", Usage: "write the key unencrypted (not for production)", Destination: &opts.NoPassphrase},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing key", Destination: &opts.Force},
		},
		Action: func(c *cli.Context) error {
			return runKeysGenerate(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runKeysGenerate(_ context.Context, g *globalOptions, opts keysGenerateOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("keys generate", "", args)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	key, pubPEM, err := generateKey(g, cfg, opts.Type, opts.NoPassphrase, opts.Force)
	if err != nil {
		return err
	}
	return printKey(g, cfg.Key.File, key, pubPEM)
}

// generateKey makes a new signing key of type typ in cfg.Key.File, with
// its public key (.pub) and note verifier (.vkey) beside it, encrypted
// unless noPass. It refuses to replace a key unless force. It holds the
// data directory's lock while it writes.
func generateKey(g *globalOptions, cfg *Config, typ string, noPass, force bool) (*chain.Key, []byte, error) {
	return createKey(g, cfg, typ, noPass, force, func() (func() error, error) { return lockForWrite(cfg.DataDir) })
}

// createKey is generateKey with the lock taken by lock, which returns the
// func releasing it (a no-op for a caller that holds it already).
func createKey(g *globalOptions, cfg *Config, typ string, noPass, force bool, lock func() (func() error, error)) (_ *chain.Key, _ []byte, err error) {
	if cfg.Key.KMS != "" {
		return nil, nil, usageErrorf("keys generate: key.kms is set (%s): create the key in the KMS", cfg.Key.KMS)
	}
	priv, err := newPrivateKey(typ)
	if err != nil {
		return nil, nil, err
	}
	path := cfg.Key.File
	if err := refuseOverwrite(path, force); err != nil {
		return nil, nil, err
	}
	// The passphrase before the lock: a missing one leaves nothing behind.
	privPEM, err := encodePrivateKey(g, priv, noPass)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := lock()
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	if err := refuseOverwrite(path, force); err != nil {
		return nil, nil, err // created meanwhile by another process
	}
	pub := priv.(crypto.Signer).Public()
	key, err := chain.NewKey(cfg.AgentID, pub)
	if err != nil {
		return nil, nil, err
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("encode public key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	if err := datadir.WriteFile(path, privPEM, 0o600); err != nil {
		return nil, nil, fmt.Errorf("write key file: %w", err)
	}
	if err := datadir.WriteFile(path+".pub", pubPEM, 0o644); err != nil {
		return nil, nil, fmt.Errorf("write public key: %w", err)
	}
	if err := datadir.WriteFile(path+".vkey", []byte(key.Verifier+"\n"), 0o644); err != nil {
		return nil, nil, fmt.Errorf("write verifier key: %w", err)
	}
	return key, pubPEM, nil
}

// refuseOverwrite refuses to replace an existing key file unless forced.
func refuseOverwrite(path string, force bool) error {
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("key file %s exists: refusing to replace it without --force", path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("key file: %w", err)
	}
	return nil
}

func newPrivateKey(typ string) (crypto.PrivateKey, error) {
	switch typ {
	case "ed25519":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case "ecdsa-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, usageErrorf("keys generate: --type %q: must be ed25519 or ecdsa-p256", typ)
	}
}

// encodePrivateKey returns the key as sigstore's encrypted PEM (scrypt and
// secretbox, the format cosign uses), or as plain PKCS#8 with noPass.
func encodePrivateKey(g *globalOptions, priv crypto.PrivateKey, noPass bool) ([]byte, error) {
	if noPass {
		g.notef("warning: the key is written unencrypted; anyone who can read the file can sign checkpoints")
		b, err := cryptoutils.MarshalPrivateKeyToPEM(priv)
		if err != nil {
			return nil, fmt.Errorf("encode private key: %w", err)
		}
		return b, nil
	}
	pass, err := readPassphrase(g.stderr, true)
	if err != nil {
		return nil, err
	}
	der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, cryptoutils.StaticPasswordFunc(pass))
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, der), nil
}

type keysShowOptions struct{}

func newKeysShowCommand(g *globalOptions) *cli.Command {
	var opts keysShowOptions
	return &cli.Command{
		Name:  "show",
		Usage: "print the public key, its key id and its note verifier key",
		Action: func(c *cli.Context) error {
			return runKeysShow(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runKeysShow(ctx context.Context, g *globalOptions, _ keysShowOptions, args []string) error {
	if len(args) != 0 {
		return argCountError("keys show", "", args)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	pub, source, err := publicKey(ctx, g, cfg)
	if err != nil {
		return err
	}
	key, err := chain.NewKey(cfg.AgentID, pub)
	if err != nil {
		return fmt.Errorf("key %s: %w", source, err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return fmt.Errorf("key %s: %w", source, err)
	}
	return printKey(g, source, key, pubPEM)
}

// publicKey returns the signing key's public half: from the KMS, from
// <key.file>.pub, or, if that is missing, from the private key.
func publicKey(ctx context.Context, g *globalOptions, cfg *Config) (crypto.PublicKey, string, error) {
	if cfg.Key.KMS != "" {
		sv, err := loadKMSSigner(ctx, cfg.Key.KMS)
		if err != nil {
			return nil, "", err
		}
		pub, err := sv.PublicKey()
		if err != nil {
			return nil, "", fmt.Errorf("key.kms %q: %w", cfg.Key.KMS, err)
		}
		return pub, cfg.Key.KMS, nil
	}
	pubFile := cfg.Key.File + ".pub"
	data, err := os.ReadFile(pubFile)
	if errors.Is(err, os.ErrNotExist) {
		sv, err := loadKeyFile(cfg.Key.File, g.stderr)
		if err != nil {
			return nil, "", err
		}
		pub, err := sv.PublicKey()
		return pub, cfg.Key.File, err
	}
	if err != nil {
		return nil, "", fmt.Errorf("read public key: %w", err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, "", fmt.Errorf("public key %s: %w", pubFile, err)
	}
	return pub, cfg.Key.File, nil
}

func printKey(g *globalOptions, source string, key *chain.Key, pubPEM []byte) error {
	if g.json() {
		return writeJSON(g.stdout, map[string]any{
			"key":        source,
			"type":       key.Type,
			"key_id":     key.KeyID(),
			"verifier":   key.Verifier,
			"public_key": string(pubPEM),
		})
	}
	_, err := fmt.Fprintf(g.stdout, "%skey:      %s\ntype:     %s\nkey id:   %s\nverifier: %s\n",
		pubPEM, source, key.Type, key.KeyID(), key.Verifier)
	return err
}

// lockForWrite creates the data directory if needed and locks it
// exclusively; the returned func unlocks it.
func lockForWrite(dataDir string) (func() error, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	l, err := datadir.Lock(dataDir, true)
	if err != nil {
		return nil, daemonHint(dataDir, err)
	}
	return l.Unlock, nil
}

// lockForRead locks the data directory shared, if it exists. No writer
// runs beside a reader, so work in progress found there was left by a
// process that died: it is removed now, and the next writer's start logs
// it (agent.ParkAbandonedWork). What cannot be removed (a reader without
// the right to) stays, private, for that writer.
func lockForRead(dataDir string) (func() error, error) {
	l, err := datadir.Lock(dataDir, false)
	if err != nil {
		return nil, daemonHint(dataDir, err)
	}
	_ = agent.ParkAbandonedWork(datadir.Dir(dataDir).Work())
	return l.Unlock, nil
}

package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
)

// newPassphraseEnv holds the passphrase of the new key of a rotation.
const newPassphraseEnv = "CUSTOS_NEW_KEY_PASSPHRASE"

type keysRotateOptions struct {
	NewKey       string
	KMS          string
	Type         string
	NoPassphrase bool
	Reason       string
}

func newKeysRotateCommand(g *globalOptions) *cli.Command {
	var opts keysRotateOptions
	return &cli.Command{
		Name:  "rotate",
		Usage: "replace the checkpoint signing key, recording a key.rotated event",
		Description: "The new key is generated (--type), read from --new-key FILE, or the KMS key --kms URI.\n" +
			"The old key's passphrase comes from " + passphraseEnv + ", the new key's from " + newPassphraseEnv + ",\n" +
			"else from the terminal. Both keys are checked before anything is written. The log records\n" +
			"a key.rotated event naming both keys, and its next checkpoint is signed by both.\n" +
			"A new key file takes the place of key.file; the old one moves to <key dir>/retired/<key id>.*.\n" +
			"With --kms, set key.kms to the URI afterwards. Refused while the daemon runs.\n" +
			"Run again after a rotation that stopped before its checkpoint signed by both keys, it finishes\n" +
			"that rotation with the staged <key.file>.next (or --new-key, --kms, the KMS key the event names);\n" +
			"after one that stopped before installing the staged key, it installs it.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "new-key", Usage: "the new private key `FILE` (as keys generate writes it)", Destination: &opts.NewKey},
			&cli.StringFlag{Name: "kms", Usage: "the new key as a KMS `URI`", Destination: &opts.KMS},
			&cli.StringFlag{Name: "type", Value: "ed25519", Usage: "type of a generated key: ed25519 or ecdsa-p256", Destination: &opts.Type},
			&cli.BoolFlag{Name: "no-passphrase", Usage: "write a generated key unencrypted (not for production)", Destination: &opts.NoPassphrase},
			&cli.StringFlag{Name: "reason", Value: "signing key rotated", Usage: "why, recorded in the event", Destination: &opts.Reason},
		},
		Action: func(c *cli.Context) error {
			return runKeysRotate(c.Context, g, opts, c.Args().Slice())
		},
	}
}

// newKey is the key a rotation moves to.
type newKey struct {
	signer  chain.Signer
	key     *chain.Key
	privPEM []byte            // a key file to write at key.file; nil for a KMS key
	details map[string]string // what the event records beside the keys
}

func runKeysRotate(ctx context.Context, g *globalOptions, opts keysRotateOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("keys rotate", "", args)
	}
	if opts.NewKey != "" && opts.KMS != "" {
		return usageErrorf("keys rotate: give --new-key or --kms, not both")
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if cfg.Actor == "" {
		return usageErrorf("keys rotate: no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	pending, err := chain.PendingRotation(ctx, os.DirFS(cfg.dir().Log()))
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	if pending != nil {
		return resumeKeysRotate(ctx, g, cfg, opts, pending)
	}
	if done, err := installRotatedKey(ctx, g, cfg); done || err != nil {
		return err
	}
	if cfg.Key.KMS != "" && opts.KMS == "" {
		return usageErrorf("keys rotate: the current key is in a KMS (%s): rotate to another KMS key with --kms", cfg.Key.KMS)
	}
	// Everything is checked before the first write: both keys load and
	// sign, and they differ.
	oldSigner, oldKey, err := loadCurrentKey(ctx, g, cfg)
	if err != nil {
		return err
	}
	next, err := loadNewKey(ctx, g, cfg, opts)
	if err != nil {
		return err
	}
	if next.key.Verifier == oldKey.Verifier {
		return usageErrorf("keys rotate: %v", chain.ErrSameKey)
	}
	unlock, err := lockForWrite(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	staged := cfg.Key.File + ".next"
	if _, err := os.Stat(staged); err == nil && next.privPEM != nil {
		// Never overwritten: it may be the only copy of a key the log
		// names.
		return usageErrorf("keys rotate: %s holds the new key of an earlier rotation that did not finish, and the log does not name it as its next key: if no key.rotated event names it (custos log show), that rotation never began: remove the file and run keys rotate again; nothing was changed", staged)
	}
	if next.privPEM != nil {
		// Kept before the log names the key, so a crash cannot lose it.
		if err := datadir.WriteFile(staged, next.privPEM, 0o600); err != nil {
			return fmt.Errorf("keys rotate: write the new key: %w", err)
		}
	}
	rec, cp, cert, err := rotateLog(ctx, g, cfg, oldSigner, next, opts.Reason, nil)
	if err != nil {
		if rec == nil && next.privPEM != nil {
			// The log never named the staged key: nothing to keep.
			err = errors.Join(err, os.Remove(staged))
		}
		if rec != nil {
			err = fmt.Errorf("%w; the log records the rotation at entry %d but not yet its checkpoint signed by both keys: run custos keys rotate again to finish it", err, rec.Index)
		}
		return err
	}
	return finishKeysRotate(g, cfg, oldKey, next, staged, rec, cp, cert)
}

// finishKeysRotate installs the new key's file (from staged) and writes
// the rotation certificate, once the log is rotated.
func finishKeysRotate(g *globalOptions, cfg *Config, oldKey *chain.Key, next *newKey, staged string, rec *chain.Record, cp *chain.Checkpoint, cert []byte) error {
	if next.privPEM != nil {
		if err := installKeyFile(cfg.Key.File, staged, oldKey, next.key); err != nil {
			return fmt.Errorf("keys rotate: the log names the new key %s, but installing its file failed (move %s to %s by hand): %w", next.key.KeyID(), staged, cfg.Key.File, err)
		}
	}
	certFile := filepath.Join(cfg.dir().Keys(), "rotations", oldKey.KeyID()+"-"+next.key.KeyID()+".rotation")
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return fmt.Errorf("keys rotate: the key is rotated, but its certificate was not written: %w", err)
	}
	if err := datadir.WriteFile(certFile, cert, 0o644); err != nil {
		return fmt.Errorf("keys rotate: write the rotation certificate: %w", err)
	}
	return printRotation(g, cfg, oldKey, next, rec, cp, certFile)
}

// loadCurrentKey loads the configured key and makes it sign.
func loadCurrentKey(ctx context.Context, g *globalOptions, cfg *Config) (chain.Signer, *chain.Key, error) {
	s, err := loadSigner(ctx, g, cfg)
	if err != nil {
		return nil, nil, err
	}
	k, err := probeKey(cfg.AgentID, s, "the current key")
	return s, k, err
}

// probeKey signs a test message with s and returns its key.
func probeKey(origin string, s chain.Signer, what string) (*chain.Key, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("keys rotate: %s: %w", what, err)
	}
	k, err := chain.NewKey(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("keys rotate: %s: %w", what, err)
	}
	if _, err := s.SignMessage(strings.NewReader("custos key rotation probe\n")); err != nil {
		return nil, fmt.Errorf("keys rotate: %s %s does not sign: %w", what, k.KeyID(), err)
	}
	return k, nil
}

// loadNewKey loads, or generates, the key a rotation moves to.
func loadNewKey(ctx context.Context, g *globalOptions, cfg *Config, opts keysRotateOptions) (*newKey, error) {
	next := &newKey{details: map[string]string{}}
	if cfg.Key.KMS != "" {
		next.details["old_kms"] = cfg.Key.KMS
	}
	switch {
	case opts.KMS != "":
		sv, err := loadKMSSigner(ctx, opts.KMS)
		if err != nil {
			return nil, err
		}
		next.signer = sv
		next.details["new_kms"] = opts.KMS
		if v := kmsKeyVersion(opts.KMS); v != "" {
			next.details["new_kms_version"] = v
		}
	case opts.NewKey != "":
		sv, err := loadKeyFileFrom(opts.NewKey, g.stderr, newPassphraseEnv)
		if err != nil {
			return nil, err
		}
		pem, err := os.ReadFile(opts.NewKey)
		if err != nil {
			return nil, fmt.Errorf("keys rotate: %w", err)
		}
		next.signer, next.privPEM = sv, pem
	default:
		priv, err := newPrivateKey(opts.Type)
		if err != nil {
			return nil, err
		}
		if next.privPEM, err = encodeNewPrivateKey(g, priv, opts.NoPassphrase); err != nil {
			return nil, err
		}
		if next.signer, err = signature.LoadSignerVerifier(priv, crypto.SHA256); err != nil {
			return nil, fmt.Errorf("keys rotate: %w", err)
		}
	}
	var err error
	next.key, err = probeKey(cfg.AgentID, next.signer, "the new key")
	return next, err
}

// kmsKeyVersion returns the key version a KMS URI names, "" if it names
// none (the KMS then signs with the key's current version).
func kmsKeyVersion(uri string) string {
	if _, v, ok := strings.Cut(uri, "/cryptoKeyVersions/"); ok {
		return v
	}
	return ""
}

// encodeNewPrivateKey is encodePrivateKey with the new key's passphrase.
func encodeNewPrivateKey(g *globalOptions, priv crypto.PrivateKey, noPass bool) ([]byte, error) {
	if noPass {
		return encodePrivateKey(g, priv, noPass)
	}
	p, err := readPassphraseFrom(g.stderr, true, newPassphraseEnv)
	if err != nil {
		return nil, fmt.Errorf("the new key: %w", err)
	}
	der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, cryptoutils.StaticPasswordFunc(p))
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, der), nil
}

// rotateLog opens the log with the old key (the caller holds the lock),
// rotates it to next, and closes it, mirroring the dual-signed checkpoint.
// It returns the event, that checkpoint and the rotation certificate
// (chain.FormatRotation) linking the keys; on an error, the event if the
// log recorded it. With pending, the key.rotated entry of a rotation
// left unfinished, the log is opened with next as the new key, which
// finishes the rotation (chain.Config.Next).
func rotateLog(ctx context.Context, g *globalOptions, cfg *Config, old chain.Signer, next *newKey, reason string, pending *chain.Record) (*chain.Record, *chain.Checkpoint, []byte, error) {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return pending, nil, nil, err
	}
	var finish chain.Signer
	if pending != nil {
		finish = next.signer
	}
	l, closeLog, _, err := openLogKeys(ctx, g, cfg, old, finish, store, false, func() error { return nil })
	if err != nil {
		return pending, nil, nil, err
	}
	rec, cp := pending, (*chain.Checkpoint)(nil)
	if pending == nil {
		host, _ := os.Hostname()
		rec, cp, err = l.Rotate(ctx, next.signer, chain.Event{
			Time: time.Now().UTC(), Actor: cfg.Actor, Agent: cfg.AgentID, Host: host, Reason: reason, Details: next.details,
		})
	} else {
		cp, err = rotationCheckpoint(l.FS(), rec, next.key)
	}
	var cert []byte
	if err == nil {
		cert, err = chain.RotationCertificate(ctx, l.FS(), rec)
	}
	if cerr := closeLog(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return rec, nil, nil, fmt.Errorf("keys rotate: %w", err)
	}
	return rec, cp, cert, nil
}

// installKeyFile moves the old key's files to <dir>/retired/<key id>.*
// and the staged new key to path, with its .pub and .vkey.
func installKeyFile(path, staged string, old, next *chain.Key) error {
	retired := filepath.Join(filepath.Dir(path), "retired")
	if err := os.MkdirAll(retired, 0o700); err != nil {
		return err
	}
	for _, ext := range []string{"", ".pub", ".vkey"} {
		if err := os.Rename(path+ext, filepath.Join(retired, old.KeyID()+".key"+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// The retired key's public forms, whether or not it had them.
	if err := writePublicForms(filepath.Join(retired, old.KeyID()+".key"), old); err != nil {
		return err
	}
	if err := os.Rename(staged, path); err != nil {
		return err
	}
	if err := writePublicForms(path, next); err != nil {
		return err
	}
	return datadir.SyncDir(filepath.Dir(path))
}

func writePublicForms(path string, k *chain.Key) error {
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(k.Public)
	if err != nil {
		return err
	}
	if err := datadir.WriteFile(path+".pub", pubPEM, 0o644); err != nil {
		return err
	}
	return datadir.WriteFile(path+".vkey", []byte(k.Verifier+"\n"), 0o644)
}

func printRotation(g *globalOptions, cfg *Config, old *chain.Key, next *newKey, rec *chain.Record, cp *chain.Checkpoint, certFile string) error {
	kms := next.details["new_kms"]
	if g.json() {
		return writeJSON(g.stdout, map[string]any{
			"old_key_id": old.KeyID(), "old_verifier": old.Verifier,
			"new_key_id": next.key.KeyID(), "new_verifier": next.key.Verifier, "new_kms": kms,
			"event": rec.Index, "checkpoint": cp.Size, "certificate": certFile,
		})
	}
	fmt.Fprintf(g.stdout, "key.rotated:  entry %d\nold key:      %s %s\nnew key:      %s %s\ncheckpoint:   size %d, signed by both keys\ncertificate:  %s\n",
		rec.Index, old.KeyID(), old.Verifier, next.key.KeyID(), next.key.Verifier, cp.Size, certFile)
	if kms != "" {
		fmt.Fprintf(g.stdout, "now set key.kms to %s (CUSTOS_KEY_KMS): custos refuses to sign with the retired key\n", kms)
	} else {
		fmt.Fprintf(g.stdout, "key file:     %s (the old key is in %s)\n", cfg.Key.File, filepath.Join(filepath.Dir(cfg.Key.File), "retired"))
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/term"

	"github.com/custos-evidence/custos/chain"
)

// passphraseEnv holds the passphrase of the key file, for unattended use.
const passphraseEnv = "CUSTOS_KEY_PASSPHRASE"

// loadSigner returns the checkpoint signer the configuration names: a KMS
// key, or a key file (encrypted, or plain PKCS#8).
func loadSigner(ctx context.Context, g *globalOptions, cfg *Config) (chain.Signer, error) {
	if cfg.Key.KMS != "" {
		return loadKMSSigner(ctx, cfg.Key.KMS)
	}
	return loadKeyFile(cfg.Key.File, g.stderr)
}

// loadKeyFile reads the private key in path. It asks for the passphrase
// only if the key is encrypted.
func loadKeyFile(path string, prompt io.Writer) (signature.SignerVerifier, error) {
	return loadKeyFileFrom(path, prompt, passphraseEnv)
}

// loadKeyFileFrom is loadKeyFile with the passphrase in the environment
// variable env (or in the file passphraseFileEnv names, for the
// configured key only).
func loadKeyFileFrom(path string, prompt io.Writer, env string) (signature.SignerVerifier, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// The configuration names a key that is not there: a usage
		// error, found before anything is written.
		return nil, usageErrorf("key file %s does not exist (create it with custos keys generate, or set key.file)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("key file %s: not a PEM private key", path)
	}
	var pf cryptoutils.PassFunc
	switch {
	case isEncryptedPEM(block.Type):
		pass, err := readPassphraseFrom(prompt, false, env)
		if err != nil {
			return nil, fmt.Errorf("key file %s is encrypted: %w", path, err)
		}
		pf = cryptoutils.StaticPasswordFunc(pass)
	case block.Type == string(cryptoutils.PrivateKeyPEMType):
	default:
		return nil, fmt.Errorf("key file %s: PEM block %q is not a private key custos reads", path, block.Type)
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(data, pf)
	if err != nil {
		if pf != nil && strings.Contains(err.Error(), "decryption failed") {
			return nil, fmt.Errorf("key file %s: wrong passphrase (or the file is damaged)", path)
		}
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return sv, nil
}

// isEncryptedPEM reports the encrypted PEM block types sigstore reads
// (cosign's is the older name of the same format).
func isEncryptedPEM(t string) bool {
	return t == string(cryptoutils.EncryptedSigstorePrivateKeyPEMType) || t == "ENCRYPTED COSIGN PRIVATE KEY"
}

// passphraseFileEnv names a file holding the passphrase (a systemd
// credential), for services that should not carry it in the environment.
const passphraseFileEnv = "CUSTOS_KEY_PASSPHRASE_FILE"

// readPassphrase returns the passphrase from CUSTOS_KEY_PASSPHRASE, else
// from the file CUSTOS_KEY_PASSPHRASE_FILE names (its first line), else
// asks on the terminal (twice if confirm). It never prints it.
func readPassphrase(prompt io.Writer, confirm bool) ([]byte, error) {
	return readPassphraseFrom(prompt, confirm, passphraseEnv)
}

// readPassphraseFrom is readPassphrase with the passphrase in env; the
// file of CUSTOS_KEY_PASSPHRASE_FILE serves only the configured key.
func readPassphraseFrom(prompt io.Writer, confirm bool, env string) ([]byte, error) {
	if p := os.Getenv(env); p != "" {
		return []byte(p), nil
	}
	if f := os.Getenv(passphraseFileEnv); f != "" && env == passphraseEnv {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", passphraseFileEnv, err)
		}
		p, _, _ := bytes.Cut(b, []byte("\n"))
		if p = bytes.TrimSuffix(p, []byte("\r")); len(p) == 0 {
			return nil, fmt.Errorf("%s: %s holds an empty passphrase", passphraseFileEnv, f)
		}
		return p, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("no passphrase: set %s or run on a terminal", env)
	}
	fmt.Fprint(prompt, "Key passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	if confirm {
		fmt.Fprint(prompt, "Repeat passphrase: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("the passphrases do not match")
		}
	}
	return p, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
)

// resumeKeysRotate finishes the rotation whose key.rotated entry pending
// no checkpoint covers yet (a keys rotate killed, or refused by its
// witnesses, after the log recorded the event): it opens the log with
// the old key and the new one, which signs the checkpoint both keys must
// sign, then installs the new key's file and writes the rotation
// certificate, as the rotation would have. The new key is the KMS key the
// event names, --kms or --new-key, or else the key rotate staged at
// <key.file>.next. A key that is missing, or is not the key the event
// names, is refused before anything is written.
func resumeKeysRotate(ctx context.Context, g *globalOptions, cfg *Config, opts keysRotateOptions, pending *chain.Record) (err error) {
	d := chain.ReadKeyRotatedDetails(pending.Event)
	unfinished := fmt.Sprintf("keys rotate: the rotation of the log's key %s to %s (entry %d) is unfinished", d.Old.KeyID, d.New.KeyID, pending.Index)
	oldSigner, oldKey, err := loadCurrentKey(ctx, g, cfg)
	if err != nil {
		return err
	}
	if oldKey.Verifier != d.Old.Verifier {
		return usageErrorf("%s, and the configured key is %s, not its old key: configure key %s to finish it", unfinished, oldKey.KeyID(), d.Old.KeyID)
	}
	staged := cfg.Key.File + ".next"
	next, err := loadResumeKey(ctx, g, cfg, opts, pending, staged)
	if err != nil {
		return fmt.Errorf("%s: %w", unfinished, err)
	}
	if next.key.Verifier != d.New.Verifier {
		return usageErrorf("%s, and the new key given is %s, not %s: give the key the event names (nothing was changed)", unfinished, next.key.KeyID(), d.New.KeyID)
	}
	unlock, err := lockForWrite(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	if next.privPEM != nil && opts.NewKey != "" {
		// Kept where the rotation keeps its new key, for installKeyFile.
		if err := datadir.WriteFile(staged, next.privPEM, 0o600); err != nil {
			return fmt.Errorf("keys rotate: write the new key: %w", err)
		}
	}
	rec, cp, cert, err := rotateLog(ctx, g, cfg, oldSigner, next, "", pending)
	if err != nil {
		return err
	}
	if !g.json() {
		fmt.Fprintf(g.stdout, "finished:     the rotation of entry %d, stopped before its checkpoint signed by both keys\n", rec.Index)
	}
	return finishKeysRotate(g, cfg, oldKey, next, staged, rec, cp, cert)
}

// loadResumeKey loads the new key of an unfinished rotation: the KMS key
// --kms names, or the event does; the key file --new-key names; or the
// key rotate staged at staged.
func loadResumeKey(ctx context.Context, g *globalOptions, cfg *Config, opts keysRotateOptions, pending *chain.Record, staged string) (*newKey, error) {
	uri := opts.KMS
	if uri == "" && opts.NewKey == "" {
		uri = pending.Event.Details["new_kms"]
	}
	if uri != "" || opts.NewKey != "" {
		return loadNewKey(ctx, g, cfg, keysRotateOptions{KMS: uri, NewKey: opts.NewKey})
	}
	if _, err := os.Stat(staged); errors.Is(err, fs.ErrNotExist) {
		return nil, usageErrorf("its new key, staged at %s, is missing: put that key's file there, or give it with --new-key FILE, and run custos keys rotate again (nothing was changed)", staged)
	}
	next, err := loadNewKey(ctx, g, cfg, keysRotateOptions{NewKey: staged})
	if err != nil {
		return nil, fmt.Errorf("the staged new key %s: %w", staged, err)
	}
	return next, nil
}

// rotationCheckpoint returns the first kept checkpoint after the
// key.rotated entry rec, checked with the new key.
func rotationCheckpoint(fsys fs.FS, rec *chain.Record, key *chain.Key) (*chain.Checkpoint, error) {
	sizes, err := chain.KeptCheckpointSizes(fsys)
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearch(sizes, rec.Index+1)
	if i == len(sizes) {
		return nil, fmt.Errorf("no checkpoint covers the key.rotated entry %d", rec.Index)
	}
	raw, err := fs.ReadFile(fsys, chain.CheckpointsDir+"/"+strconv.FormatUint(sizes[i], 10))
	if err != nil {
		return nil, err
	}
	v, err := key.NoteVerifier()
	if err != nil {
		return nil, err
	}
	return chain.ParseCheckpoint(raw, v)
}

// installRotatedKey finishes a rotation stopped after the log published
// its checkpoint signed by both keys but before the new key's file was
// installed: the key staged at <key.file>.next signs the log's published
// checkpoint, and a key.rotated event names it as the new key of the
// configured one. It then installs the key and writes the certificate, as
// the rotation would have, and returns true. With no staged key, or one
// that is not the log's key, it does nothing and returns false.
func installRotatedKey(ctx context.Context, g *globalOptions, cfg *Config) (done bool, err error) {
	staged := cfg.Key.File + ".next"
	if _, err := os.Stat(staged); err != nil {
		return false, nil
	}
	fsys := os.DirFS(cfg.dir().Log())
	raw, err := fs.ReadFile(fsys, chain.CheckpointPath)
	if err != nil {
		return false, nil
	}
	next, err := loadNewKey(ctx, g, cfg, keysRotateOptions{NewKey: staged})
	if err != nil {
		return false, fmt.Errorf("keys rotate: the staged new key %s: %w", staged, err)
	}
	v, err := next.key.NoteVerifier()
	if err != nil {
		return false, err
	}
	if _, err := chain.ParseCheckpoint(raw, v); err != nil {
		return false, nil // not the log's key: a rotation that never began
	}
	_, oldKey, err := loadCurrentKey(ctx, g, cfg)
	if err != nil {
		return false, err
	}
	unlock, err := lockForWrite(cfg.DataDir)
	if err != nil {
		return false, err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	rec, err := rotationTo(ctx, fsys, oldKey, next.key)
	if err != nil {
		return false, err
	}
	cp, err := rotationCheckpoint(fsys, rec, next.key)
	if err != nil {
		return false, fmt.Errorf("keys rotate: %w", err)
	}
	cert, err := chain.RotationCertificate(ctx, fsys, rec)
	if err != nil {
		return false, fmt.Errorf("keys rotate: %w", err)
	}
	if !g.json() {
		fmt.Fprintf(g.stdout, "finished:     the rotation of entry %d, stopped before its key was installed\n", rec.Index)
	}
	return true, finishKeysRotate(g, cfg, oldKey, next, staged, rec, cp, cert)
}

// rotationTo finds the key.rotated entry of the log in fsys that rotated
// old to next.
func rotationTo(ctx context.Context, fsys fs.FS, old, next *chain.Key) (*chain.Record, error) {
	size, _, _, err := chain.IntegratedSize(fsys)
	if err != nil {
		return nil, err
	}
	var found *chain.Record
	for r, err := range chain.Entries(ctx, fsys, 0, size) {
		if err != nil {
			return nil, fmt.Errorf("keys rotate: %w", err)
		}
		if r.Event.Type != chain.KeyRotated {
			continue
		}
		if d := chain.ReadKeyRotatedDetails(r.Event); d.Old.Verifier == old.Verifier && d.New.Verifier == next.Verifier {
			found = r
		}
	}
	if found == nil {
		return nil, usageErrorf("keys rotate: the staged key %s signs the log, but no key.rotated event names it as the new key of the configured key %s: configure the log's key", next.KeyID(), old.KeyID())
	}
	return found, nil
}

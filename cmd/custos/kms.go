package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature/kms"

	// The KMS providers register their URI schemes when imported. This file
	// is the only place that imports them.
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)

// kmsSchemes are the KMS URI schemes custos is built with.
const kmsSchemes = "awskms://, gcpkms://, azurekms://, hashivault://"

// loadKMSSigner returns the signer of the KMS key uri.
func loadKMSSigner(ctx context.Context, uri string) (kms.SignerVerifier, error) {
	sv, err := kms.Get(ctx, uri, crypto.SHA256)
	var pnf *kms.ProviderNotFoundError
	if errors.As(err, &pnf) {
		return nil, usageErrorf("key.kms %q: no KMS provider for this URI (custos knows %s)", uri, kmsSchemes)
	}
	if err != nil {
		return nil, fmt.Errorf("key.kms %q: %w", uri, err)
	}
	return sv, nil
}

// Package disclosure is the disclosure package format, versions 1 to 3
// (docs/package.md): what leaves a provider for an investigator, and how
// the investigator checks it, offline, trusting nothing but the provider's
// key. A package is a BagIt bag of the disclosed items with the order's
// custody chain beside them: its record, its events with one inclusion
// proof each against one signed checkpoint, for each item sealed in a
// batch its record with its proof in the batch's tree, a signed in-toto
// statement about the payload, the chain in CASE/UCO, and the
// certificate of each rotation of the log's key its checkpoint covers.
//
// To write a package, gather its Contents (the order's canonical record,
// its events as logged, the checkpoint and key of the log, a function that
// proves an entry, the items with a way to read each and, for an item
// sealed in a batch, its record and record proof, who discloses to whom
// and when, a signer with the log's key and, optionally, StampStatement,
// which returns RFC 3161 tokens over the signed statement) and call Write:
//
//	w, err := disclosure.Write(ctx, "pkg.zip", &disclosure.Contents{...})
//
// The output path chooses the form: a directory, or a .zip or .tar file;
// with Recipients, the archive is encrypted with age to PATH.age. Nothing
// is visible at the path until the package is complete. Written says
// where it is, its digest (the one disclosure.created records) and the
// path of each item under data/. A builder that checks its own package
// before it lets it go writes the archive without Recipients, opens and
// verifies it, then encrypts those very bytes with Encrypt.
//
// To verify a package, Open it (a directory, zip, tar or age file, with
// the recipient's identities from ParseIdentities), then Verify its files
// against the provider's key, obtained apart from the package:
//
//	p, err := disclosure.Open(ctx, path, disclosure.OpenOptions{Identities: ids})
//	defer p.Close()
//	rep, err := disclosure.Verify(ctx, p.FS, trust) // trust from chain.ParseTrust
//
// A trust that chain.LinkRotation extended with a rotation certificate
// from the provider also trusts the other key of that rotation; Verify
// extends it the same way with the certificates the package carries.
//
// Open extracts an archive into a private directory and refuses what a
// package never holds (links, devices, unclean or duplicate names, zip
// bombs). Verify hashes every byte and runs every check of the format; its
// Report names each check and each problem, and its error matches
// chain.ErrTamper when the package is not what the provider signed.
//
// The package imports chain, whose events, proofs, checkpoints, keys and
// signed statements it is made of, and nothing else of custos: the agent
// reads its store and log and calls Write; a verifier needs only this.
package disclosure

package disclosure

import (
	"strconv"
	"strings"
)

// Version is the newest version of the package format, bag-info's
// Custos-Package-Version. A change to the format changes it and
// docs/package.md. Version 2 added custody/records, the records of items
// sealed in batches (issue 15); version 3 added custody/timestamps and
// custody/keys/rotations, the RFC 3161 tokens over checkpoints and the
// certificates of the log's key rotations (issue 16). A package is of the
// oldest version that holds what it holds, written byte for byte as
// before: one without records, timestamps or rotations is version 1, so
// that verifiers of every version read it; a newer one says its version,
// so that an older verifier says which version it cannot read rather than
// calling the new files extra.
const Version = 3

// versionWithout is the version of a package that holds no records, no
// timestamps and no rotation certificates; versionRecords of one with
// records only.
const (
	versionWithout = 1
	versionRecords = 2
)

// versionOf is the version of a package that holds records, or what
// version 3 added (timestamps, rotation certificates), or neither.
func versionOf(records, v3 bool) int {
	switch {
	case v3:
		return Version
	case records:
		return versionRecords
	}
	return versionWithout
}

// PredicateType is the predicate type of the in-toto statement a package
// carries about its payload (custody/attestation.dsse.json).
const PredicateType = "https://custos-evidence.org/attestation/disclosure/v1"

// The layout of a package, version 1 (docs/package.md): every name the
// writer writes and the verifier reads, relative to the package's root.
const (
	pkgBagIt          = "bagit.txt"
	pkgBagInfo        = "bag-info.txt"
	pkgManifest256    = "manifest-sha256.txt"
	pkgManifest512    = "manifest-sha512.txt"
	pkgTagManifest    = "tagmanifest-sha256.txt"
	pkgTagManifest512 = "tagmanifest-sha512.txt"
	pkgCustodyDir     = "custody"
	pkgOrder          = "custody/order.json"
	pkgEvents         = "custody/events.jsonl"
	pkgProofsDir      = "custody/proofs"
	pkgRecordsDir     = "custody/records"    // a record and its proof per item sealed in a batch
	pkgTimestampsDir  = "custody/timestamps" // RFC 3161 tokens over kept checkpoints, each with that checkpoint and its consistency proof
	pkgCheckpoint     = "custody/checkpoint"
	pkgKeysDir        = "custody/keys"
	pkgVKey           = "custody/keys/custos.vkey"
	pkgPubKey         = "custody/keys/custos.pub"
	pkgRotationsDir   = "custody/keys/rotations" // the certificates of the log's key rotations (version 3)
	pkgRotationSuffix = ".rotation"
	pkgAttestation    = "custody/attestation.dsse.json"
	pkgCase           = "case.jsonld"
	pkgSHA256SUMS     = "SHA256SUMS"
	pkgReadme         = "README.txt"
	pkgProofSuffix    = ".tlog-proof"
	pkgRecordSuffix   = ".json"  // custody/records/<sha256>.json: the item's record, as its batch's manifest holds it
	pkgRecProofSuffix = ".proof" // custody/records/<sha256>.proof: the record's proof in its batch's tree
	pkgDataDir        = "data"
)

// bagItDeclared is bagit.txt, byte for byte.
const bagItDeclared = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

// pkgFixedFiles are the files every package holds besides data/ and the
// proofs.
var pkgFixedFiles = []string{
	pkgBagIt, pkgBagInfo, pkgManifest256, pkgManifest512, pkgTagManifest, pkgTagManifest512,
	pkgOrder, pkgEvents, pkgCheckpoint, pkgVKey, pkgPubKey, pkgAttestation,
	pkgCase, pkgSHA256SUMS, pkgReadme,
}

// pkgDirs are the directories of a package besides those under data/.
var pkgDirs = []string{".", pkgDataDir, pkgCustodyDir, pkgProofsDir, pkgRecordsDir, pkgTimestampsDir, pkgKeysDir, pkgRotationsDir}

// signedTagFiles are the tag files whose SHA-256 the statement carries:
// nothing else signs them.
var signedTagFiles = []string{pkgCase, pkgReadme, pkgEvents, pkgOrder}

// bagInfoLabels are bag-info.txt's labels, in their order.
var bagInfoLabels = []string{
	"Source-Organization", "Bagging-Date", "Payload-Oxum", "External-Identifier", "Internal-Sender-Identifier",
	"Custos-Package-Version", "Custos-Order-Id", "Custos-Issuing-Authority", "Custos-Requesting-State",
	"Custos-Profile", "Custos-Legal-Basis", "Custos-Disclosed-At", "Custos-Recipient", "Custos-Partial",
}

// proofPath is the name of the tlog-proof of the event at index.
func proofPath(index uint64) string {
	return pkgProofsDir + "/" + strconv.FormatUint(index, 10) + pkgProofSuffix
}

// recordPath is the name of the record of the item whose SHA-256 is sum
// (lower-case hex): the record's bytes, exactly a line of its batch's
// manifest without the newline.
func recordPath(sum string) string { return pkgRecordsDir + "/" + sum + pkgRecordSuffix }

// recordProofPath is the name of the proof of that record in its batch's
// tree (chain.FormatRecordProof).
func recordProofPath(sum string) string { return pkgRecordsDir + "/" + sum + pkgRecProofSuffix }

// recordName parses a name under custody/records: "<sha256>.json" or
// "<sha256>.proof", the digest in lower-case hex. It returns the digest
// and whether the file is the proof.
func recordName(name string) (sum string, proof, ok bool) {
	if s, found := strings.CutSuffix(name, pkgRecordSuffix); found {
		return s, false, isHex(s, 64)
	}
	if s, found := strings.CutSuffix(name, pkgRecProofSuffix); found {
		return s, true, isHex(s, 64)
	}
	return "", false, false
}

// rotationPath is the name of the i-th rotation certificate, in log order.
func rotationPath(i int) string {
	return pkgRotationsDir + "/" + strconv.Itoa(i+1) + pkgRotationSuffix
}

// isRotationName reports whether name, under custody/keys/rotations, is
// "<n>.rotation" with n a decimal number from 1.
func isRotationName(name string) bool {
	n, ok := strings.CutSuffix(name, pkgRotationSuffix)
	i, err := strconv.Atoi(n)
	return ok && err == nil && i > 0 && strconv.Itoa(i) == n
}

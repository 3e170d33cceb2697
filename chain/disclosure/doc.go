// Package disclosure is the disclosure package format of docs/package.md:
// opening a package an investigator received (a directory, zip or tar,
// optionally encrypted with age) and verifying it against the provider's
// key alone.
package disclosure

package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// RecordVersion is the only item record encoding version this package
// writes and reads.
const RecordVersion = 1

// MaxRecordSize bounds one encoded item record (its connector fields may
// hold response headers or a TLS peer chain).
const MaxRecordSize = 256 << 10

// SaltSize is the size of a record's salt: 16 random bytes, 32 hex digits.
const SaltSize = 16

// Where a record says its item's content was when it was sealed.
const (
	StoredInStore = "store" // in the evidence store, under Key
	StoredInSpool = "spool" // in the local spool; item.stored follows when the store has it
)

// ItemRecord describes one preserved item: what it is, where it came from
// and where it is kept. Items are sealed in batches (see Batch): a batch's
// records are the lines of its manifest, and its items.sealed event
// carries the RFC 6962 Merkle root over them, so one record, with its
// inclusion proof, proves one item without revealing the others. The salt
// makes a record's hash, which a proof shows for every sibling, useless for
// confirming a guessed name or content.
//
// The encoding is canonical JSON: keys in lexicographic order, no
// insignificant white space, no HTML escaping, times in UTC (RFC 3339 with
// nanoseconds). FormatRecord produces it and ParseRecord accepts nothing
// else.
type ItemRecord struct {
	Capture    string         `json:"capture"`
	CapturedAt time.Time      `json:"captured_at"`
	Categories []string       `json:"categories,omitempty"`
	Connector  map[string]any `json:"connector,omitempty"` // what the connector recorded: path, URL and headers, SQL, argv, ...
	Key        string         `json:"key"`                 // the content's key in the store
	Kind       string         `json:"kind"`                // the connector: file, dir, http, command, postgres, s3, logfilter
	MD5        string         `json:"md5,omitempty"`       // legacy digests, when the order asks for them
	MediaType  string         `json:"media_type,omitempty"`
	Modified   *time.Time     `json:"modified,omitempty"`
	Name       string         `json:"name"`
	Order      string         `json:"order"`
	Salt       string         `json:"salt"`
	SHA1       string         `json:"sha1,omitempty"`
	SHA256     string         `json:"sha256"`
	SHA512     string         `json:"sha512"`
	Size       int64          `json:"size"`
	Source     string         `json:"source"`
	Stored     string         `json:"stored"` // StoredInStore or StoredInSpool
	Version    int            `json:"v"`
	VersionID  string         `json:"version_id,omitempty"` // the store's version of Key, when it keeps versions
}

// Digest is the record's item as events name items.
func (r *ItemRecord) Digest() Digest { return Digest{SHA256: r.SHA256, SHA512: r.SHA512} }

// Validate reports the first field of r that cannot be recorded.
func (r *ItemRecord) Validate() error {
	switch {
	case r.Version != RecordVersion:
		return fmt.Errorf("item record: version %d, want %d", r.Version, RecordVersion)
	case r.Capture == "":
		return errors.New("item record: capture is missing")
	case r.CapturedAt.IsZero():
		return errors.New("item record: captured_at is missing")
	case r.Key == "":
		return errors.New("item record: key is missing")
	case r.Kind == "":
		return errors.New("item record: kind is missing")
	case r.Source == "":
		return errors.New("item record: source is missing")
	case r.Size < 0:
		return fmt.Errorf("item record: size %d is negative", r.Size)
	case !isHex(r.SHA256, 64):
		return fmt.Errorf("item record: sha256 %q is not 64 lower-case hex digits", r.SHA256)
	case !isHex(r.SHA512, 128):
		return fmt.Errorf("item record: sha512 %q is not 128 lower-case hex digits", r.SHA512)
	case (r.MD5 == "") != (r.SHA1 == ""):
		return errors.New("item record: md5 and sha1 go together")
	case r.MD5 != "" && (!isHex(r.MD5, 32) || !isHex(r.SHA1, 40)):
		return errors.New("item record: md5 or sha1 is not lower-case hex of its length")
	case !isHex(r.Salt, 2*SaltSize):
		return fmt.Errorf("item record: salt %q is not %d lower-case hex digits (%d random bytes)", r.Salt, 2*SaltSize, SaltSize)
	case r.Stored != StoredInStore && r.Stored != StoredInSpool:
		return fmt.Errorf("item record: stored %q is not %q or %q", r.Stored, StoredInStore, StoredInSpool)
	}
	if err := ValidateOrderID(r.Order); err != nil {
		return fmt.Errorf("item record: %w", err)
	}
	for _, c := range r.Categories {
		if c == "" || strings.ToLower(c) != c || strings.ContainsAny(c, ", ") {
			return fmt.Errorf("item record: category %q is not a lower-case word", c)
		}
	}
	for _, s := range []string{r.Capture, r.Key, r.Kind, r.MediaType, r.Name, r.Source, r.VersionID} {
		if !utf8.ValidString(s) {
			return errors.New("item record: holds text that is not valid UTF-8")
		}
	}
	return nil
}

// FormatRecord returns the canonical encoding of r, without a newline. Its
// times are converted to UTC.
func FormatRecord(r *ItemRecord) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c := *r
	c.CapturedAt = c.CapturedAt.UTC()
	if c.Modified != nil {
		m := c.Modified.UTC()
		c.Modified = &m
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("item record: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("item record of %s is %d bytes, more than %d", r.Name, len(b), MaxRecordSize)
	}
	return b, nil
}

// ParseRecord decodes a canonical record. It refuses unknown versions and
// fields, invalid records, and any encoding that differs, by even one byte
// (a duplicate key, a space, a time not in UTC), from what FormatRecord
// produces for the decoded record.
func ParseRecord(b []byte) (*ItemRecord, error) {
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("item record is %d bytes, more than %d", len(b), MaxRecordSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var r ItemRecord
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("item record: %w", err)
	}
	if dec.More() {
		return nil, errors.New("item record: more than one JSON value")
	}
	again, err := FormatRecord(&r)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, errors.New("item record: not in canonical form")
	}
	return &r, nil
}

package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
)

// InitBucket creates the configured bucket with Object Lock (which turns on
// versioning). A bucket that already exists with Object Lock is fine; one
// without it is refused, since Object Lock cannot be added to it later on
// every S3 service.
func InitBucket(ctx context.Context, o S3Options) (created bool, err error) {
	s, err := newS3(o)
	if err != nil {
		return false, err
	}
	exists, err := retry(ctx, s, "bucket "+s.bucket, func() (bool, error) { return s.core.BucketExists(ctx, s.bucket) })
	if err != nil {
		return false, s.describe(err)
	}
	if !exists {
		_, err = retry(ctx, s, "create bucket "+s.bucket, func() (struct{}, error) {
			return struct{}{}, s.core.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: o.Region, ObjectLocking: true})
		})
		if err != nil && s3Code(err) != "BucketAlreadyOwnedByYou" {
			return false, s.describe(err)
		}
		created = err == nil
	}
	return created, s.checkBucket(ctx)
}

// CheckResult is one finding of Check.
type CheckResult struct {
	Check  string
	OK     bool
	Detail string
}

// ErrLockIgnored: the server accepted Object Lock headers but did not lock.
var ErrLockIgnored = errors.New("the server does not enforce Object Lock")

// Check probes the bucket as evidence needs it: it exists, versioning and
// Object Lock are on, and a probe object written with retention and a
// legal hold reads back with both, refuses deletion, and re-hashes. The
// probe (under .custos-probe/) keeps its short retention (one minute) and
// lapses on its own. It returns every finding, and an error wrapping
// ErrLockIgnored or ErrNoObjectLock if the store must not be used.
func (s *S3) Check(ctx context.Context) ([]CheckResult, error) {
	var res []CheckResult
	add := func(check string, err error, detail string) error {
		r := CheckResult{Check: check, OK: err == nil, Detail: detail}
		if err != nil {
			r.Detail = err.Error()
		}
		res = append(res, r)
		return err
	}
	if err := add("bucket exists with Object Lock", s.checkBucket(ctx), s.bucket); err != nil {
		return res, err
	}
	v, err := retry(ctx, s, "versioning of "+s.bucket, func() (minio.BucketVersioningConfiguration, error) {
		return s.core.GetBucketVersioning(ctx, s.bucket)
	})
	if err == nil && !v.Enabled() {
		err = fmt.Errorf("versioning is %q, not Enabled: %w", v.Status, ErrNoObjectLock)
	}
	if err := add("versioning enabled", err, "Enabled"); err != nil {
		return res, err
	}

	now := s.now()
	until := roundUp(now.Add(time.Minute))
	body := []byte("custos storage probe " + now.UTC().Format(time.RFC3339Nano) + "\n")
	sum := sha256.Sum256(body)
	key := ".custos-probe/" + strconv.FormatInt(now.UnixNano(), 10)
	info, err := s.Put(ctx, key, bytes.NewReader(body), PutOptions{SHA256: hex.EncodeToString(sum[:]), RetainUntil: until, LegalHold: true})
	if err := add("probe object written", err, s.key(key)+" version "+versionOf(info)); err != nil {
		return res, err
	}
	ret, err := retry(ctx, s, "retention of "+key, func() (struct {
		mode  *minio.RetentionMode
		until *time.Time
	}, error) {
		m, u, err := s.core.GetObjectRetention(ctx, s.bucket, s.key(key), info.VersionID)
		return struct {
			mode  *minio.RetentionMode
			until *time.Time
		}{m, u}, err
	})
	switch {
	case s3Code(err) == "NoSuchObjectLockConfiguration":
		err = fmt.Errorf("the probe was written with %s retention until %s but has none: %w", s.mode, until.Format(time.RFC3339), ErrLockIgnored)
	case err != nil:
	case ret.mode == nil || *ret.mode != s.mode || ret.until == nil || !ret.until.Equal(until):
		err = fmt.Errorf("the probe was written with %s retention until %s but reads back %v until %v: %w",
			s.mode, until.Format(time.RFC3339), deref(ret.mode), deref(ret.until), ErrLockIgnored)
	}
	if err := add("retention kept", err, fmt.Sprintf("%s until %s", s.mode, until.Format(time.RFC3339))); err != nil {
		return res, err
	}
	hold, err := retry(ctx, s, "legal hold of "+key, func() (*minio.LegalHoldStatus, error) {
		return s.core.GetObjectLegalHold(ctx, s.bucket, s.key(key), minio.GetObjectLegalHoldOptions{VersionID: info.VersionID})
	})
	if s3Code(err) == "NoSuchObjectLockConfiguration" {
		err = fmt.Errorf("the probe was written with a legal hold but has none: %w", ErrLockIgnored)
	} else if err == nil && (hold == nil || *hold != minio.LegalHoldEnabled) {
		err = fmt.Errorf("the probe was written with a legal hold but reads back %v: %w", deref(hold), ErrLockIgnored)
	}
	if err := add("legal hold kept", err, "ON"); err != nil {
		return res, err
	}
	err = s.core.RemoveObject(ctx, s.bucket, s.key(key), minio.RemoveObjectOptions{VersionID: info.VersionID})
	if err == nil {
		err = fmt.Errorf("the server deleted a locked object version: %w", ErrLockIgnored)
	} else if errors.Is(classify(err), ErrRetention) {
		err = nil
	} else {
		er, _ := s3Error(err)
		err = fmt.Errorf("deleting the locked probe failed in an unexpected way (%s %d): %w", er.Code, er.StatusCode, err)
	}
	if err := add("locked version refuses deletion", err, "refused"); err != nil {
		return res, err
	}
	r, _, err := s.Get(ctx, key)
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	if err := add("probe reads back and re-hashes", err, hex.EncodeToString(sum[:])); err != nil {
		return res, err
	}
	err = s.SetLegalHold(ctx, key, false)
	_ = add("probe legal hold released", err, "retention lapses at "+until.Format(time.RFC3339)) // a hold left on is reported, not fatal
	return res, nil
}

func versionOf(info *ObjectInfo) string {
	if info == nil || info.VersionID == "" {
		return "(none)"
	}
	return info.VersionID
}

func deref[T any](p *T) any {
	if p == nil {
		return "nothing"
	}
	return *p
}

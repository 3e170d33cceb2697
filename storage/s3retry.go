package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/minio/minio-go/v7"
)

// ErrUnavailable wraps failures the store kept retrying until its retry
// budget ran out: the server is unreachable or overloaded. Callers may try
// again later (a capture spools locally meanwhile).
var ErrUnavailable = errors.New("store unavailable")

// retry runs op until it succeeds, fails for good, ctx ends, or the store's
// retry budget is spent, waiting with exponential backoff and jitter
// between tries. minio-go's own retries are off (they give up after about
// 7 s), so a server restart of a minute is ridden out. The returned error
// is classified (see classify).
func retry[T any](ctx context.Context, s *S3, what string, op func() (T, error)) (T, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.RandomizationFactor = 0.5
	var last error
	res, err := backoff.Retry(ctx, func() (T, error) {
		res, err := op()
		if err == nil {
			return res, nil
		}
		last = err
		if ctx.Err() != nil || !transient(err) {
			return res, backoff.Permanent(err)
		}
		return res, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(s.retryFor))
	if err == nil {
		return res, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		if last != nil {
			return res, fmt.Errorf("%w (last error: %v)", cerr, last)
		}
		return res, cerr
	}
	if transient(err) {
		return res, fmt.Errorf("%s: gave up after %s: %w: %w", what, s.retryFor, ErrUnavailable, err)
	}
	return res, classify(err)
}

// s3Error finds the S3 error response in err's chain. (minio.ToErrorResponse
// switches on the type and does not unwrap.)
func s3Error(err error) (minio.ErrorResponse, bool) {
	var v minio.ErrorResponse
	if errors.As(err, &v) {
		return v, true
	}
	var p *minio.ErrorResponse
	if errors.As(err, &p) && p != nil {
		return *p, true
	}
	return minio.ErrorResponse{}, false
}

// s3Code is the S3 error code of err, if it is an S3 error response.
func s3Code(err error) string {
	er, _ := s3Error(err)
	return er.Code
}

func s3Status(err error) int {
	er, _ := s3Error(err)
	return er.StatusCode
}

func isPrecondition(err error) bool {
	return s3Status(err) == http.StatusPreconditionFailed || s3Code(err) == "PreconditionFailed"
}

// transient reports failures worth another try: the network, timeouts,
// 5xx and throttling.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || isTLSVerify(err) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	switch s3Code(err) {
	case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed",
		"XMinioServerNotInitialized", "XMinioReadQuorum", "XMinioWriteQuorum", "OperationTimedOut":
		return true
	case "":
	default:
		st := s3Status(err)
		return st >= 500 || st == http.StatusTooManyRequests
	}
	var nerr net.Error
	var uerr *url.Error
	var oerr *net.OpError
	return errors.As(err, &nerr) || errors.As(err, &oerr) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &uerr)
}

// isTLSVerify: the server's certificate was not trusted, which no retry mends.
func isTLSVerify(err error) bool {
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var ierr x509.CertificateInvalidError
	var cerr *tls.CertificateVerificationError
	return errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &ierr) || errors.As(err, &cerr)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// classify maps S3 error codes onto the store's errors, keeping the
// server's message.
func classify(err error) error {
	switch code := s3Code(err); code {
	case "NoSuchKey", "NoSuchVersion", "NotFound":
		return fmt.Errorf("%w: %w", ErrNotExist, err)
	case "PreconditionFailed":
		return fmt.Errorf("%w: %w", ErrPrecondition, err)
	case "ObjectLocked", "InvalidRetentionPeriod":
		return fmt.Errorf("%w: %w", ErrRetention, err)
	case "AccessDenied", "InvalidRequest": // AWS says AccessDenied, MinIO InvalidRequest
		if containsAny(err.Error(), "WORM", "retention", "legal hold", "locked") {
			return fmt.Errorf("%w: %w", ErrRetention, err)
		}
	case "NoSuchBucket":
		return fmt.Errorf("%w: %w", ErrNoObjectLock, err)
	case "":
		if s3Status(err) == http.StatusNotFound {
			return fmt.Errorf("%w: %w", ErrNotExist, err)
		}
	}
	return err
}

// Package blob is engram's object tier: whole objects named by key behind a
// URL, with one contract (engram.BlobStore, aliased here as Store) and three
// implementations:
//
//	file:///var/lib/engram/objects                  a local directory (the embedded default)
//	s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1
//	mem://                                          in memory, for tests
//
// Open picks the implementation by the URL's scheme. The contract, the
// consistency promised and the errors are documented on engram.BlobStore;
// storetest.RunBlob checks every implementation against it.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
)

// The contract's types, under this package's names.
type (
	Store       = engram.BlobStore
	Info        = engram.BlobInfo
	PutOptions  = engram.BlobPutOptions
	ListOptions = engram.BlobListOptions
	Page        = engram.BlobPage
)

// Defaults of Options.
const (
	DefaultPartSize         = 16 << 20 // bytes per multipart part; also the multipart threshold
	MinPartSize             = 5 << 20  // S3's smallest part (all but the last)
	MaxParts                = 10000    // S3's most parts per upload
	DefaultTimeout          = 30 * time.Second
	DefaultAttemptTimeout   = 10 * time.Second
	DefaultMaxAttempts      = 4
	DefaultRetryBase        = 100 * time.Millisecond
	DefaultRetryMax         = 5 * time.Second
	DefaultBreakerThreshold = 3 // consecutive failed calls, as Dakera's cold tier
	DefaultBreakerCooldown  = 30 * time.Second
	DefaultStaleTempAge     = time.Hour
)

// ErrClosed is returned (wrapped) by calls on a closed store.
var ErrClosed = &engram.Error{Code: engram.EUNAVAILABLE, Message: "blob: store is closed"}

// ErrCircuitOpen is returned (wrapped, with code EUNAVAILABLE) by an s3 store
// whose circuit breaker is open: the call failed at once, without a request.
var ErrCircuitOpen = errors.New("blob: circuit breaker open")

// ErrAccessDenied is returned (wrapped, with code EUNAVAILABLE) when the
// server refuses the credentials or the signature (HTTP 403).
var ErrAccessDenied = errors.New("blob: access denied")

// Options configure Open. The zero value means every default; fields that an
// implementation does not use are ignored by it.
type Options struct {
	// Clock is the time source: mem:// modification times, file:// temp-file
	// ages, the s3:// circuit breaker's cooldown. nil: the wall clock.
	Clock clock.Clock
	// Logger receives breaker state changes and cleanup notes; never
	// credentials. nil: discard.
	Logger *slog.Logger

	// StaleTempAge (file://): temp files of interrupted Puts older than this
	// are removed by Open. 0: DefaultStaleTempAge.
	StaleTempAge time.Duration

	// Credentials (s3://) replace the AWS default chain (environment,
	// shared config and credentials files, SSO, web identity, container and
	// instance roles). nil: the default chain.
	Credentials *Credentials
	// PartSize (s3://) is the size of each multipart part and the threshold
	// above which a Put goes multipart; a Put holds one part in memory.
	// 0: DefaultPartSize; less than MinPartSize is EINVALID. The largest
	// object is MaxParts parts.
	PartSize int64
	// Timeout (s3://) bounds one call of Stat, Delete, a List page, a
	// single-part Put, each request of a multipart Put, and a Get until its
	// first byte, retries included: a failing call returns by then.
	// 0: DefaultTimeout.
	Timeout time.Duration
	// AttemptTimeout (s3://) bounds each attempt (HTTP request) within a
	// call, and each read of a Get's stream that makes no progress.
	// 0: DefaultAttemptTimeout (capped at Timeout).
	AttemptTimeout time.Duration
	// MaxAttempts (s3://) is the most attempts of an idempotent call
	// (every call here is: see S3Store). 0: DefaultMaxAttempts; 1: no retries.
	MaxAttempts int
	// RetryBase and RetryMax (s3://) shape the exponential backoff between
	// attempts (doubling from RetryBase up to RetryMax, each wait randomised
	// by +-50%). 0: DefaultRetryBase, DefaultRetryMax.
	RetryBase, RetryMax time.Duration
	// BreakerThreshold (s3://) is how many consecutive calls must fail
	// (unavailable, after their retries) before the circuit opens and calls
	// fail at once with ErrCircuitOpen. 0: DefaultBreakerThreshold; < 0: no
	// breaker.
	BreakerThreshold int
	// BreakerCooldown (s3://) is how long the circuit stays open before one
	// probe call is let through; its success closes the circuit, its failure
	// opens it for another cooldown. 0: DefaultBreakerCooldown.
	BreakerCooldown time.Duration
}

// Credentials are a static access key pair. String and Format never print
// the secret.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

func (c *Credentials) String() string {
	if c == nil {
		return "<nil>"
	}
	return "Credentials{AccessKeyID: " + c.AccessKeyID + ", SecretAccessKey: <redacted>}"
}

// GoString keeps %#v from printing the secret.
func (c *Credentials) GoString() string { return c.String() }

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StaleTempAge == 0 {
		o.StaleTempAge = DefaultStaleTempAge
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = min(DefaultAttemptTimeout, o.Timeout)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.RetryBase == 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax == 0 {
		o.RetryMax = max(DefaultRetryMax, o.RetryBase)
	}
	if o.BreakerThreshold == 0 {
		o.BreakerThreshold = DefaultBreakerThreshold
	}
	if o.BreakerCooldown == 0 {
		o.BreakerCooldown = DefaultBreakerCooldown
	}
}

// Validate reports the first out-of-range field as EINVALID naming it.
func (o *Options) Validate() error {
	switch {
	case o.PartSize < MinPartSize:
		return engram.Invalid("part_size", "is %d bytes; the least is %s (S3's smallest part)", o.PartSize, engram.FormatBytes(MinPartSize))
	case o.Timeout < 0:
		return engram.Invalid("timeout", "is negative")
	case o.AttemptTimeout < 0 || o.AttemptTimeout > o.Timeout:
		return engram.Invalid("attempt_timeout", "is %v; it must be positive and at most timeout (%v)", o.AttemptTimeout, o.Timeout)
	case o.MaxAttempts < 1:
		return engram.Invalid("max_attempts", "is %d; the least is 1", o.MaxAttempts)
	case o.RetryBase < 0 || o.RetryMax < o.RetryBase:
		return engram.Invalid("retry_max", "is %v; it must be at least retry_base (%v)", o.RetryMax, o.RetryBase)
	case o.BreakerCooldown < 0:
		return engram.Invalid("breaker_cooldown", "is negative")
	case o.StaleTempAge < 0:
		return engram.Invalid("stale_temp_age", "is negative")
	}
	return nil
}

// Open opens the store a URL names (see the package doc). The URL never
// carries credentials: an s3 URL with user information is EINVALID. opts may
// be nil.
func Open(ctx context.Context, rawURL string, opts *Options) (Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the URL, which may hold a secret someone pasted.
		return nil, engram.Invalid("url", "is not a URL")
	}
	if u.User != nil {
		return nil, engram.Invalid("url", "%s carries credentials; use the AWS environment or Options.Credentials", u.Redacted())
	}
	switch u.Scheme {
	case "mem":
		if err := noQuery(u); err != nil {
			return nil, err
		}
		return NewMem(&o), nil
	case "file":
		if err := noQuery(u); err != nil {
			return nil, err
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, engram.Invalid("url", "%s names host %q; a file URL is file:///absolute/dir", u.Redacted(), u.Host)
		}
		if u.Path == "" || u.Path[0] != '/' {
			return nil, engram.Invalid("url", "%s has no absolute directory; a file URL is file:///absolute/dir", u.Redacted())
		}
		return OpenFile(u.Path, &o)
	case "s3":
		cfg, err := parseS3URL(u)
		if err != nil {
			return nil, err
		}
		return OpenS3(ctx, cfg, &o)
	case "":
		return nil, engram.Invalid("url", "%q has no scheme; use file:///dir, s3://bucket/prefix or mem://", u.Redacted())
	default:
		return nil, engram.Invalid("url", "scheme %q is not one of file, s3, mem", u.Scheme)
	}
}

func noQuery(u *url.URL) error {
	if u.RawQuery != "" {
		return engram.Invalid("url", "%s: %s URLs take no query parameters", u.Redacted(), u.Scheme)
	}
	return nil
}

// S3Config names a bucket, a key prefix inside it and the server.
type S3Config struct {
	Bucket string
	// Prefix is prepended to every key ("" or ending in '/'); List strips it.
	Prefix string
	// Endpoint is the server's base URL (http://127.0.0.1:7070); "" means
	// AWS. A custom endpoint is addressed path-style (endpoint/bucket/key).
	Endpoint string
	// Region signs the requests. "": the AWS configuration's region, else
	// us-east-1.
	Region string
}

func parseS3URL(u *url.URL) (S3Config, error) {
	cfg := S3Config{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}
	if cfg.Bucket == "" {
		return cfg, engram.Invalid("url", "%s names no bucket; an s3 URL is s3://bucket/prefix", u.Redacted())
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.Prefix != "" {
		if err := engram.ValidateBlobKey(strings.TrimSuffix(cfg.Prefix, "/")); err != nil {
			return cfg, engram.Invalid("url", "prefix %q: %v", cfg.Prefix, err)
		}
	}
	q := u.Query()
	for k, v := range q {
		if len(v) != 1 {
			return cfg, engram.Invalid("url", "query parameter %q is given %d times", k, len(v))
		}
		switch k {
		case "endpoint":
			e, err := url.Parse(v[0])
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return cfg, engram.Invalid("url", "endpoint %q is not an http(s) URL", v[0])
			}
			if e.User != nil {
				return cfg, engram.Invalid("url", "endpoint carries credentials; use the AWS environment or Options.Credentials")
			}
			cfg.Endpoint = v[0]
		case "region":
			cfg.Region = v[0]
		default:
			return cfg, engram.Invalid("url", "unknown query parameter %q (known: endpoint, region)", k)
		}
	}
	return cfg, nil
}

// Shared helpers of the implementations.

func keyNotFound(key string) error {
	return &engram.Error{Code: engram.ENOTFOUND, Field: "key", Message: fmt.Sprintf("no object %q", key)}
}

func keyExists(key string) error {
	return &engram.Error{Code: engram.ECONFLICT, Field: "key", Message: fmt.Sprintf("object %q exists", key)}
}

func keyClashes(key string, cause error) error {
	return &engram.Error{Code: engram.ECONFLICT, Field: "key",
		Message: fmt.Sprintf("%q clashes with a key it is a '/'-prefix of, or that is one of it (not portable)", key), Err: cause}
}

// checkGet validates Get's arguments shared by every implementation.
func checkGet(key string, off int64) error {
	if err := engram.ValidateBlobKey(key); err != nil {
		return err
	}
	if off < 0 {
		return engram.Invalid("offset", "is %d; it must not be negative", off)
	}
	return nil
}

// checkList validates List's options and returns the page size.
func checkList(o ListOptions) (int, error) {
	if err := engram.ValidateBlobPrefix(o.Prefix); err != nil {
		return 0, err
	}
	if err := engram.ValidateBlobPrefix(o.After); err != nil {
		if e, ok := err.(*engram.Error); ok {
			renamed := *e
			renamed.Field = "after"
			return 0, &renamed
		}
		return 0, err
	}
	switch {
	case o.Limit < 0:
		return 0, engram.Invalid("limit", "is %d; it must not be negative", o.Limit)
	case o.Limit > engram.MaxBlobListLimit:
		return 0, engram.TooMany("limit", o.Limit, "keys", engram.MaxBlobListLimit)
	case o.Limit == 0:
		return engram.MaxBlobListLimit, nil
	}
	return o.Limit, nil
}

// ctxReader fails reads once ctx is done, so that a stream from a local
// source stops when its caller gives up, like a network stream does.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// source wraps the reader a Put consumes: it stops at ctx's end and keeps
// the reader's own error apart from the store's.
type source struct {
	ctx context.Context
	r   io.Reader
	err error // the first error of r or ctx, other than io.EOF
}

func (s *source) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = fmt.Errorf("read: %w", err)
	}
	return n, err
}

// failure returns the reason the source stopped early: ctx's error, the
// reader's error (wrapped as "read: ..."), or nil.
func (s *source) failure() error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	return s.err
}

// rangeOf clamps [off, off+n) to an object of size bytes; n < 0 means to the end.
func rangeOf(size, off, n int64) (start, length int64) {
	if off >= size {
		return size, 0
	}
	rest := size - off
	if n < 0 || n > rest {
		n = rest
	}
	return off, n
}

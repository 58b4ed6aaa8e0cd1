package blob

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v5"

	"github.com/engramhq/engram"
)

// S3Store keeps objects in an S3 bucket under a key prefix.
//
// Every call is bounded by Options.Timeout and retried, with exponential
// backoff and jitter, on errors that may be transient (no answer, 5xx, 429,
// a timed-out attempt): all of its operations are idempotent. A Put sends
// the same bytes again (each attempt's body is a buffered part), and a
// conditional create that retried and then found the key taken checks the
// object's ETag against the MD5 of its own bytes, so a first attempt whose
// answer was lost is reported as the success it was. A Get's stream resumes
// with a ranged request pinned to the object's ETag when a read fails. A
// whole-object Get whose bytes do not match the checksum the server stored
// with them fails with ECORRUPT at the end of the stream (the SDK checks
// it as the last byte is read); ranged reads carry no checksum.
//
// A circuit breaker counts calls that failed as unavailable after their
// retries; at Options.BreakerThreshold in a row it opens and calls fail at
// once (ErrCircuitOpen) until Options.BreakerCooldown has passed, when one
// probe call decides between closing and opening again.
//
// Puts up to Options.PartSize bytes are one PutObject; larger ones are
// multipart uploads of PartSize parts (aborted on failure). Every upload
// carries the SDK's CRC32 checksum, which the server verifies.
// A Put holds one part in memory. ETag is the server's ETag without quotes;
// Put's ModTime is the local clock's (S3 does not return one), Stat's and
// List's are the server's.
type S3Store struct {
	cfg    S3Config
	o      Options
	client *s3.Client
	tr     *http.Transport
	brk    *breaker
	closed atomic.Bool

	calls, attempts, retries, failures, resumes atomic.Int64
}

var _ Store = (*S3Store)(nil)

// S3Stats counts an S3Store's work since Open.
type S3Stats struct {
	Calls        int64 // calls that reached the retry loop
	Attempts     int64 // requests sent
	Retries      int64 // attempts after the first
	Failures     int64 // calls that failed as unavailable
	Resumes      int64 // Get streams resumed after a failed read
	Breaker      BreakerState
	BreakerOpens int64
}

// Stats returns the store's counters.
func (s *S3Store) Stats() S3Stats {
	st, opens := s.brk.snapshot()
	return S3Stats{Calls: s.calls.Load(), Attempts: s.attempts.Load(), Retries: s.retries.Load(),
		Failures: s.failures.Load(), Resumes: s.resumes.Load(), Breaker: st, BreakerOpens: opens}
}

// OpenS3 opens a store on an S3 bucket. It sends no request: a wrong
// endpoint or credentials show at the first call. opts may be nil.
func OpenS3(ctx context.Context, cfg S3Config, opts *Options) (*S3Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		return nil, engram.Invalid("bucket", "is empty")
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	s := &S3Store{cfg: cfg, o: o, brk: newBreaker(&o)}
	loaders := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }), // we retry, see do
	}
	if cfg.Region != "" {
		loaders = append(loaders, config.WithRegion(cfg.Region))
	}
	if c := o.Credentials; c != nil {
		loaders = append(loaders, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		// The error names a file or a variable, never a secret's value.
		return nil, &engram.Error{Code: engram.EINVALID, Field: "url", Message: "blob: s3: load the AWS configuration", Err: err}
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	// Our own transport, so that Close can close its connections; cloned
	// from the SDK's so that AWS_CA_BUNDLE and the like still apply.
	var tr *http.Transport
	if bc, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = bc.GetTransport()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.DialContext = (&net.Dialer{Timeout: o.AttemptTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConns = 128
	tr.MaxIdleConnsPerHost = 64
	tr.IdleConnTimeout = 90 * time.Second
	tr.TLSHandshakeTimeout = o.AttemptTimeout
	tr.ExpectContinueTimeout = time.Second
	tr.ResponseHeaderTimeout = 0 // the attempt's context bounds it
	// Read and write bodies in 64 KiB system calls rather than net/http's
	// default 4 KiB: a 4 MiB object is then about 64 reads, not 1,000.
	tr.ReadBufferSize = 64 << 10
	tr.WriteBufferSize = 64 << 10
	s.tr = tr
	var rt http.RoundTripper = tr
	if wrapTransport != nil {
		rt = wrapTransport(rt)
	}
	awsCfg.HTTPClient = &http.Client{Transport: rt}
	client := s3.NewFromConfig(awsCfg, func(so *s3.Options) {
		if cfg.Endpoint != "" {
			so.BaseEndpoint = aws.String(cfg.Endpoint)
			so.UsePathStyle = true
		}
		// No "Expect: 100-continue" round trip before large bodies.
		so.ContinueHeaderThresholdBytes = -1
		// The SDK's default checksums stay on: a CRC32 trailer on every
		// upload, checked by the server, and on downloads that carry one.
	})
	s.client = client
	return s, nil
}

// Close closes idle connections; calls after Close fail with ErrClosed.
func (s *S3Store) Close() error {
	s.closed.Store(true)
	s.tr.CloseIdleConnections()
	return nil
}

func (s *S3Store) fullKey(key string) (string, error) {
	if err := engram.ValidateBlobKey(key); err != nil {
		return "", err
	}
	full := s.cfg.Prefix + key
	if len(full) > engram.MaxBlobKeyBytes {
		return "", &engram.Error{Code: engram.ETOOLARGE, Field: "key",
			Message: fmt.Sprintf("is %d bytes with the store's prefix %q; the limit is %d", len(full), s.cfg.Prefix, engram.MaxBlobKeyBytes)}
	}
	return full, nil
}

// wrapTransport, set only by tests (export_test.go), wraps the transport of
// stores opened afterwards to inject faults.
var wrapTransport func(http.RoundTripper) http.RoundTripper

var errAttemptTimeout = errors.New("blob: s3 attempt timed out")

// do runs one call: the breaker's gate, then fn with retries, each attempt
// under its own AttemptTimeout and all of them under Timeout. fn's error is
// classified by s3Error; do returns nil or an *engram.Error (or ctx's error
// when the caller gave up). attempts reports how many attempts ran.
func (s *S3Store) do(ctx context.Context, op, key string, fn func(actx context.Context) error) (attempts int, err error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("blob: s3 %s %q: %w", op, key, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("blob: s3 %s %q: %w", op, key, err)
	}
	ok, probe := s.brk.allow()
	if !ok {
		s.failures.Add(1)
		return 0, &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("blob: s3 %s %q", op, key), Err: ErrCircuitOpen}
	}
	s.calls.Add(1)
	cctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	var last error
	_, rerr := backoff.Retry(cctx, func() (struct{}, error) {
		attempts++
		s.attempts.Add(1)
		if attempts > 1 {
			s.retries.Add(1)
		}
		actx, acancel := context.WithTimeoutCause(cctx, s.o.AttemptTimeout, errAttemptTimeout)
		err := fn(actx)
		if err != nil && actx.Err() != nil && cctx.Err() == nil {
			err = fmt.Errorf("%w: %w", errAttemptTimeout, err)
		}
		acancel()
		if err == nil {
			return struct{}{}, nil
		}
		last = err
		if ctx.Err() != nil || !retryable(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(s.backoff()), backoff.WithMaxTries(uint(s.o.MaxAttempts)), backoff.WithMaxElapsedTime(0))
	if rerr == nil {
		s.brk.done(probe, outcomeSuccess)
		return attempts, nil
	}
	if ctx.Err() != nil { // the caller gave up
		s.brk.done(probe, outcomeNeutral)
		return attempts, fmt.Errorf("blob: s3 %s %q: %w", op, key, ctx.Err())
	}
	if last == nil {
		last = rerr
	}
	e := s3Error(op, key, last, cctx.Err() != nil)
	if e.Code == engram.EUNAVAILABLE {
		s.failures.Add(1)
		s.brk.done(probe, outcomeFailure)
	} else {
		s.brk.done(probe, outcomeSuccess)
	}
	return attempts, e
}

func (s *S3Store) backoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = s.o.RetryBase
	b.MaxInterval = s.o.RetryMax
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	return b
}

// apiCode returns the S3 error code and HTTP status of err, if it has them.
func apiCode(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// retryable reports whether an attempt's error may pass if tried again.
func retryable(err error) bool {
	code, status := apiCode(err)
	switch {
	case status == 0:
		return true // no answer: refused, reset, timed out
	case status >= 500, status == http.StatusTooManyRequests, status == http.StatusRequestTimeout:
		return true
	case code == "RequestTimeout", code == "SlowDown", code == "ConditionalRequestConflict":
		return true
	}
	return false
}

// s3Error maps an S3 error to engram's codes. timedOut says the call's
// Timeout passed.
func s3Error(op, key string, err error, timedOut bool) *engram.Error {
	msg := fmt.Sprintf("blob: s3 %s %q", op, key)
	code, status := apiCode(err)
	switch {
	// versitygw answers an unknown access key with 404 XAdminUserNotFound.
	case status == http.StatusForbidden || code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" || code == "AccessDenied" || code == "XAdminUserNotFound":
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: msg + ": access denied (" + code + ")", Err: fmt.Errorf("%w: %w", ErrAccessDenied, err)}
	case code == "NoSuchKey" || (status == http.StatusNotFound && code != "NoSuchBucket" && code != "NoSuchUpload"):
		return &engram.Error{Code: engram.ENOTFOUND, Field: "key", Message: fmt.Sprintf("no object %q", key), Err: err}
	case status == http.StatusPreconditionFailed || code == "ConditionalRequestConflict":
		return &engram.Error{Code: engram.ECONFLICT, Field: "key", Message: fmt.Sprintf("object %q exists", key), Err: err}
	case code == "ExistingObjectIsDirectory" || code == "ObjectParentIsFile":
		return keyClashes(key, err).(*engram.Error)
	case code == "KeyTooLongError":
		return &engram.Error{Code: engram.ETOOLARGE, Field: "key", Message: "the server refused the key as too long", Err: err}
	case status == 0 || status >= 500 || status == http.StatusTooManyRequests || retryable(err):
		if timedOut {
			msg += ": timed out"
		}
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: msg, Err: err}
	case code == "NoSuchBucket":
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: msg + ": no such bucket", Err: err}
	}
	return &engram.Error{Code: engram.EINTERNAL, Message: msg, Err: err}
}

func trimETag(p *string) string {
	if p == nil {
		return ""
	}
	return strings.Trim(*p, `"`)
}

func (s *S3Store) Stat(ctx context.Context, key string) (Info, error) {
	full, err := s.fullKey(key)
	if err != nil {
		return Info{}, err
	}
	var out *s3.HeadObjectOutput
	_, err = s.do(ctx, "stat", key, func(actx context.Context) (err error) {
		out, err = s.client.HeadObject(actx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &full})
		return err
	})
	if err != nil {
		return Info{}, err
	}
	return Info{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: trimETag(out.ETag), ModTime: aws.ToTime(out.LastModified)}, nil
}

func (s *S3Store) Delete(ctx context.Context, key string) error {
	full, err := s.fullKey(key)
	if err != nil {
		return err
	}
	_, err = s.do(ctx, "delete", key, func(actx context.Context) error {
		_, err := s.client.DeleteObject(actx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &full})
		return err
	})
	if errors.Is(err, engram.ErrNotFound) {
		return nil
	}
	return err
}

func (s *S3Store) List(ctx context.Context, opts ListOptions) (Page, error) {
	limit, err := checkList(opts)
	if err != nil {
		return Page{}, err
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: aws.String(s.cfg.Prefix + opts.Prefix), MaxKeys: aws.Int32(int32(limit))}
	if opts.After != "" {
		in.StartAfter = aws.String(s.cfg.Prefix + opts.After)
	}
	var out *s3.ListObjectsV2Output
	_, err = s.do(ctx, "list", opts.Prefix, func(actx context.Context) (err error) {
		out, err = s.client.ListObjectsV2(actx, in)
		return err
	})
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: make([]Info, 0, len(out.Contents))}
	for _, c := range out.Contents {
		k, ok := strings.CutPrefix(aws.ToString(c.Key), s.cfg.Prefix)
		if !ok {
			continue
		}
		page.Items = append(page.Items, Info{Key: k, Size: aws.ToInt64(c.Size), ETag: trimETag(c.ETag), ModTime: aws.ToTime(c.LastModified)})
	}
	if aws.ToBool(out.IsTruncated) && len(page.Items) > 0 {
		page.Next = page.Items[len(page.Items)-1].Key
	}
	return page, nil
}

func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Info, error) {
	if err := checkPut(key, r); err != nil {
		return Info{}, err
	}
	full, err := s.fullKey(key)
	if err != nil {
		return Info{}, err
	}
	if s.closed.Load() {
		return Info{}, fmt.Errorf("blob: s3 put %q: %w", key, ErrClosed)
	}
	src := &source{ctx: ctx, r: r}
	// Read up to one part into a pooled buffer; a short object is one
	// PutObject.
	buf, n, err := readPart(src, s.o.PartSize, sizeHint(r))
	if err != nil {
		return Info{}, fmt.Errorf("blob: s3 put %q: %w", key, src.failure())
	}
	if int64(n) < s.o.PartSize {
		info, err := s.putSingle(ctx, key, full, (*buf)[:n], opts)
		if err == nil {
			putBuf(buf) // the server has every byte: no request reads it any more
		}
		return info, err
	}
	return s.putMultipart(ctx, key, full, buf, src, opts)
}

func (s *S3Store) putSingle(ctx context.Context, key, full string, data []byte, opts PutOptions) (Info, error) {
	in := &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &full, ContentLength: aws.Int64(int64(len(data)))}
	if opts.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	var out *s3.PutObjectOutput
	attempts, err := s.do(ctx, "put", key, func(actx context.Context) (err error) {
		in.Body = bytes.NewReader(data)
		out, err = s.client.PutObject(actx, in)
		return err
	})
	if err != nil {
		if attempts > 1 && errors.Is(err, engram.ErrConflict) {
			// A single-part object's ETag is the MD5 of its bytes.
			sum := md5.Sum(data)
			if etag := hex.EncodeToString(sum[:]); s.isOurs(ctx, key, etag) {
				return Info{Key: key, Size: int64(len(data)), ETag: etag, ModTime: s.o.Clock.Now()}, nil
			}
		}
		return Info{}, err
	}
	return Info{Key: key, Size: int64(len(data)), ETag: trimETag(out.ETag), ModTime: s.o.Clock.Now()}, nil
}

// isOurs reports whether key holds an object whose ETag is etag: after a
// retried conditional create found the key taken, whether it was taken by
// our own first attempt.
func (s *S3Store) isOurs(ctx context.Context, key, etag string) bool {
	info, err := s.Stat(ctx, key)
	return err == nil && info.ETag == etag
}

// putMultipart uploads the full part in buf, then the rest of src, one
// part at a time through buf; buf goes back to its pool when the upload
// succeeded.
func (s *S3Store) putMultipart(ctx context.Context, key, full string, pooled *[]byte, src *source, opts PutOptions) (Info, error) {
	var up *s3.CreateMultipartUploadOutput
	if _, err := s.do(ctx, "put", key, func(actx context.Context) (err error) {
		up, err = s.client.CreateMultipartUpload(actx, &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &full})
		return err
	}); err != nil {
		return Info{}, err
	}
	uploadID := up.UploadId
	completed := false
	defer func() {
		if !completed {
			s.abort(ctx, full, uploadID)
		}
	}()

	buf := (*pooled)[:s.o.PartSize]
	var parts []types.CompletedPart
	md5s := md5.New() // of the parts' MD5s: the multipart ETag S3 computes, for conditional creates
	size := int64(0)
	n := len(buf)
	for n > 0 {
		if len(parts) == MaxParts {
			return Info{}, &engram.Error{Code: engram.ETOOLARGE, Field: "key",
				Message: fmt.Sprintf("object %q is over %d parts of %s", key, MaxParts, engram.FormatBytes(int(s.o.PartSize)))}
		}
		part := buf[:n]
		if opts.IfAbsent { // for isOurs, below
			sum := md5.Sum(part)
			md5s.Write(sum[:])
		}
		num := int32(len(parts) + 1)
		var out *s3.UploadPartOutput
		if _, err := s.do(ctx, "put", key, func(actx context.Context) (err error) {
			out, err = s.client.UploadPart(actx, &s3.UploadPartInput{Bucket: &s.cfg.Bucket, Key: &full, UploadId: uploadID,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(n))})
			return err
		}); err != nil {
			return Info{}, err
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		size += int64(n)
		var err error
		n, err = io.ReadFull(src, buf[:s.o.PartSize])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return Info{}, fmt.Errorf("blob: s3 put %q: %w", key, src.failure())
		}
	}
	etag := fmt.Sprintf("%x-%d", md5s.Sum(nil), len(parts))
	in := &s3.CompleteMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &full, UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
	if opts.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	var out *s3.CompleteMultipartUploadOutput
	attempts, err := s.do(ctx, "put", key, func(actx context.Context) (err error) {
		out, err = s.client.CompleteMultipartUpload(actx, in)
		return err
	})
	if err != nil {
		// A retried Complete whose first attempt succeeded finds the upload
		// gone (or, conditional, the key taken): check the object is ours.
		code, _ := apiCode(err)
		if opts.IfAbsent && attempts > 1 && (code == "NoSuchUpload" || errors.Is(err, engram.ErrConflict)) && s.isOurs(ctx, key, etag) {
			completed = true
			return Info{Key: key, Size: size, ETag: etag, ModTime: s.o.Clock.Now()}, nil
		}
		return Info{}, err
	}
	completed = true
	putBuf(pooled) // every part is acknowledged: no request reads it any more
	if e := trimETag(out.ETag); e != "" {
		etag = e
	}
	return Info{Key: key, Size: size, ETag: etag, ModTime: s.o.Clock.Now()}, nil
}

// abort gives up a multipart upload, best effort and even if ctx ended, so
// its parts do not linger (a bucket lifecycle rule for incomplete uploads
// catches what this misses).
func (s *S3Store) abort(ctx context.Context, full string, uploadID *string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.AttemptTimeout)
	defer cancel()
	if _, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &full, UploadId: uploadID}); err != nil {
		s.o.Logger.Info("blob: s3 abort multipart upload", "key", full, "err", err)
	}
}

func (s *S3Store) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := checkGet(key, off); err != nil {
		return nil, err
	}
	full, err := s.fullKey(key)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	r := &s3Reader{s: s, ctx: ctx, key: key, full: full, pos: off, end: -1}
	if n > 0 {
		r.end = off + n
	}
	if err := r.open(); err != nil {
		if errors.Is(err, errRangePastEnd) {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, err
	}
	return r, nil
}

var (
	errRangePastEnd = errors.New("blob: range starts past the end")
	errReadIdle     = errors.New("blob: s3 read made no progress within the attempt timeout")
)

// s3Reader streams [pos, end) of an object (end < 0: to its end). A read
// that fails (reset, idle past AttemptTimeout, cut short) reopens the
// stream at pos, pinned with If-Match to the ETag first read, up to
// MaxAttempts-1 times.
type s3Reader struct {
	s         *S3Store
	ctx       context.Context
	key, full string
	etag      string
	pos, end  int64
	resumes   int

	body   io.ReadCloser
	cancel context.CancelCauseFunc // ends body's request
	idle   *time.Timer
	err    error // sticky
}

// open sends the GetObject for [pos, end) through do (breaker, retries).
func (r *s3Reader) open() error {
	in := &s3.GetObjectInput{Bucket: &r.s.cfg.Bucket, Key: &r.full}
	switch {
	case r.end >= 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", r.pos, r.end-1))
	case r.pos > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.pos))
	}
	if r.etag != "" {
		in.IfMatch = aws.String(`"` + r.etag + `"`)
	}
	var out *s3.GetObjectOutput
	var bodyCancel context.CancelCauseFunc
	_, err := r.s.do(r.ctx, "get", r.key, func(actx context.Context) error {
		// The body outlives the attempt: its request gets a context that
		// actx ends only until the response headers are in.
		rctx, rcancel := context.WithCancelCause(r.ctx)
		stop := context.AfterFunc(actx, func() { rcancel(context.Cause(actx)) })
		o, err := r.s.client.GetObject(rctx, in)
		if !stop() || err != nil {
			if err == nil {
				o.Body.Close()
				err = context.Cause(actx)
			}
			rcancel(nil)
			return err
		}
		out, bodyCancel = o, rcancel
		return nil
	})
	if err != nil {
		if code, _ := apiCode(err); code == "InvalidRange" {
			return errRangePastEnd
		}
		if r.etag != "" && errors.Is(err, engram.ErrConflict) {
			return &engram.Error{Code: engram.ECONFLICT, Field: "key", Message: fmt.Sprintf("object %q was replaced while being read", r.key), Err: err}
		}
		return err
	}
	r.body, r.cancel = out.Body, bodyCancel
	if r.etag == "" {
		r.etag = trimETag(out.ETag)
	}
	if out.ContentLength != nil {
		r.end = r.pos + *out.ContentLength // the range as the server cut it
	}
	cancel := bodyCancel
	r.idle = time.AfterFunc(time.Hour, func() { cancel(errReadIdle) })
	r.idle.Stop() // armed around each read of body
	return nil
}

func (r *s3Reader) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		if r.end >= 0 && r.pos >= r.end {
			if r.body != nil {
				// Read the body to its EOF before closing it: net/http
				// reuses a connection only for a body read to EOF and closed.
				// That last read is also where the SDK compares the
				// object's checksum with the bytes that came.
				r.idle.Reset(r.s.o.AttemptTimeout)
				_, err := io.Copy(io.Discard, io.LimitReader(r.body, 1))
				r.closeBody()
				if err != nil {
					r.err = r.endFailure(err)
					return 0, r.err
				}
			}
			return 0, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			return 0, err
		}
		if r.body == nil {
			if err := r.open(); err != nil {
				if errors.Is(err, errRangePastEnd) {
					err = io.ErrUnexpectedEOF // it was longer a moment ago
				}
				r.err = err
				return 0, err
			}
		}
		r.idle.Reset(r.s.o.AttemptTimeout)
		n, err := r.body.Read(p)
		r.idle.Stop()
		r.pos += int64(n)
		if err == nil || (err == io.EOF && (r.end < 0 || r.pos >= r.end)) {
			if err == io.EOF {
				r.end = r.pos
			}
			return n, err
		}
		// The stream broke (or ended short of what the server promised).
		r.closeBody()
		if r.end >= 0 && r.pos >= r.end {
			// Every byte came and then the read failed: the checksum did
			// not match (or the connection failed after the last byte). A
			// resumed range would carry no checksum to check them by.
			r.err = r.endFailure(err)
			return n, r.err
		}
		if cerr := r.ctx.Err(); cerr != nil {
			r.err = cerr
			return n, cerr
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if r.resumes >= r.s.o.MaxAttempts-1 {
			r.err = &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("blob: s3 get %q: read at byte %d", r.key, r.pos), Err: err}
			return n, r.err
		}
		r.resumes++
		r.s.resumes.Add(1)
		if n > 0 {
			return n, nil // reopen at the next Read
		}
	}
}

// WriteTo copies the stream to w through a pooled 256 KiB buffer, so that
// io.Copy reads the connection in large system calls; it resumes, checks
// and ends as Read does.
func (r *s3Reader) WriteTo(w io.Writer) (int64, error) {
	buf := getBuf(256 << 10)
	defer putBuf(buf) // only this call reads into it
	var total int64
	for {
		n, err := r.Read(*buf)
		if n > 0 {
			m, werr := w.Write((*buf)[:n])
			total += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// endFailure classifies the error of a read after an object's last byte:
// ECORRUPT, unless it is the network's or the context's (EUNAVAILABLE).
// The SDK's checksum mismatch is of an unexported type, so it is told
// apart by what it is not.
func (r *s3Reader) endFailure(err error) error {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errReadIdle) || errors.Is(err, errAttemptTimeout) {
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("blob: s3 get %q: after its last byte", r.key), Err: err}
	}
	return &engram.Error{Code: engram.ECORRUPT, Field: "key",
		Message: fmt.Sprintf("object %q: its bytes do not match its checksum", r.key), Err: err}
}

func (r *s3Reader) closeBody() {
	if r.body != nil {
		r.idle.Stop()
		r.body.Close()
		r.cancel(nil)
		r.body = nil
	}
}

func (r *s3Reader) Close() error {
	r.closeBody()
	if r.err == nil {
		r.err = errors.New("blob: read after Close")
	}
	return nil
}

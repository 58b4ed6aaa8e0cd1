package blob_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/internal/s3test"
	"github.com/engramhq/engram/storetest"
)

// versitygw is the shared S3 server (internal/s3test) with the credentials
// in blob's form.
type versitygw struct {
	*s3test.Server
	endpoint string
	creds    blob.Credentials
}

func TestMain(m *testing.M) {
	zerolog.SetGlobalLevel(zerolog.Disabled) // toxiproxy's toxics log through the global level
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}

// s3Server returns the shared server, starting it on first use. Without the
// binary the test is skipped, except under CI=true, where it fails.
func s3Server(t testing.TB) *versitygw {
	t.Helper()
	s := s3test.Shared(t)
	return &versitygw{Server: s, endpoint: s.Endpoint, creds: blob.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}}
}

func (g *versitygw) newBucket(t testing.TB) string { t.Helper(); return g.NewBucket(t, "engram") }

func (g *versitygw) url(bucket, prefix string) string { return g.URL(bucket, prefix) }

func openS3(t *testing.T, rawURL string, o blob.Options) *blob.S3Store {
	t.Helper()
	s, err := blob.Open(t.Context(), rawURL, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*blob.S3Store)
}

func TestS3(t *testing.T) {
	g := s3Server(t)
	bucket := g.newBucket(t)
	var n atomic.Int64
	storetest.RunBlob(t, func(t *testing.T) engram.BlobStore {
		// A fresh prefix per subtest; the smallest part size so the large
		// object goes multipart.
		return openS3(t, g.url(bucket, fmt.Sprintf("t%d", n.Add(1))), blob.Options{Credentials: &g.creds, PartSize: blob.MinPartSize})
	})
}

func TestS3ErrWrongKeysAreRefused(t *testing.T) {
	g := s3Server(t)
	bucket := g.newBucket(t)
	u := g.url(bucket, "auth")
	good := openS3(t, u, blob.Options{Credentials: &g.creds})
	if _, err := good.Put(t.Context(), "k", strings.NewReader("v"), blob.PutOptions{}); err != nil {
		t.Fatalf("Put with the right keys: %v", err)
	}
	for name, c := range map[string]blob.Credentials{
		"WrongSecret":    {AccessKeyID: g.creds.AccessKeyID, SecretAccessKey: g.creds.SecretAccessKey + "x"},
		"UnknownKey":     {AccessKeyID: "AKNOBODY", SecretAccessKey: g.creds.SecretAccessKey},
		"SecretOfLength": {AccessKeyID: g.creds.AccessKeyID, SecretAccessKey: strings.Repeat("0", len(g.creds.SecretAccessKey))},
	} {
		t.Run(name, func(t *testing.T) {
			bad := openS3(t, u, blob.Options{Credentials: &c, BreakerThreshold: -1})
			for op, call := range map[string]func() error{
				"Put": func() error {
					_, err := bad.Put(t.Context(), "k2", strings.NewReader("v"), blob.PutOptions{})
					return err
				},
				"Get":  func() error { _, err := bad.Get(t.Context(), "k", 0, -1); return err },
				"Stat": func() error { _, err := bad.Stat(t.Context(), "k"); return err },
				"List": func() error { _, err := bad.List(t.Context(), blob.ListOptions{}); return err },
			} {
				if name == "UnknownKey" && op == "Stat" {
					// versitygw answers a HEAD by an unknown access key with a
					// bodiless 404, which reads as "no such object".
					continue
				}
				err := call()
				if !errors.Is(err, blob.ErrAccessDenied) || engram.ErrorCode(err) != engram.EUNAVAILABLE {
					t.Fatalf("%s with bad keys: %v (code %s), want access denied", op, err, engram.ErrorCode(err))
				}
			}
			if st := bad.Stats(); st.Retries != 0 {
				t.Fatalf("a refused signature was retried %d times", st.Retries)
			}
		})
	}
	if _, err := good.Stat(t.Context(), "k2"); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("a Put with bad keys stored something: %v", err)
	}
	if c := fmt.Sprintf("%v %+v %#v %s", &g.creds, &g.creds, &g.creds, &g.creds); strings.Contains(c, g.creds.SecretAccessKey) {
		t.Fatalf("Credentials print their secret: %s", c)
	}
}

// loseAnswer sends requests on, and drops the first answer to one that
// match accepts, as if the connection broke on the way back: the server
// acted, the client does not know.
type loseAnswer struct {
	next  http.RoundTripper
	match func(*http.Request) bool
	lost  atomic.Bool
}

func (l *loseAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err == nil && l.match(req) && l.lost.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, errors.New("test: answer lost")
	}
	return resp, err
}

func TestS3ConditionalCreateWithALostAnswer(t *testing.T) {
	g := s3Server(t)
	bucket := g.newBucket(t)
	conditionalPut := func(r *http.Request) bool {
		return r.Method == http.MethodPut && r.Header.Get("If-None-Match") == "*"
	}
	complete := func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
	}
	for _, c := range []struct {
		name  string
		match func(*http.Request) bool
		size  int
		taken bool // another writer created the key first
	}{
		{"SinglePartWins", conditionalPut, 1000, false},
		{"MultipartWins", complete, blob.MinPartSize + 4321, false},
		{"ErrSinglePartTakenByAnother", conditionalPut, 1000, true},
		{"ErrMultipartTakenByAnother", complete, blob.MinPartSize + 4321, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fault := &loseAnswer{match: c.match}
			restore := blob.SetWrapTransport(func(rt http.RoundTripper) http.RoundTripper { fault.next = rt; return fault })
			s := openS3(t, g.url(bucket, c.name), blob.Options{Credentials: &g.creds, PartSize: blob.MinPartSize})
			restore()
			if c.taken {
				other := openS3(t, g.url(bucket, c.name), blob.Options{Credentials: &g.creds})
				if _, err := other.Put(t.Context(), "lease", strings.NewReader("theirs"), blob.PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			data := bytes.Repeat([]byte("m"), c.size)
			info, err := s.Put(t.Context(), "lease", bytes.NewReader(data), blob.PutOptions{IfAbsent: true})
			if !fault.lost.Load() {
				t.Fatal("no answer was lost: the fault did not fire")
			}
			if c.taken {
				if !errors.Is(err, engram.ErrConflict) {
					t.Fatalf("Put over another writer's object: %v, want a conflict", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Put whose first answer was lost: %v, want the success it was", err)
			}
			st, err := s.Stat(t.Context(), "lease")
			if err != nil || st.ETag != info.ETag || st.Size != int64(c.size) {
				t.Fatalf("Stat = %+v, %v; Put said %+v", st, err, info)
			}
			if s.Stats().Retries == 0 {
				t.Fatal("the lost answer was not retried")
			}
		})
	}
}

// countConns counts the requests that did not reuse a kept-alive connection.
type countConns struct {
	next  http.RoundTripper
	fresh atomic.Int64
}

func (c *countConns) RoundTrip(req *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			c.fresh.Add(1)
		}
	}}
	return c.next.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
}

func TestS3GetStreamsKeepTheirConnection(t *testing.T) {
	g := s3Server(t)
	bucket := g.newBucket(t)
	cc := &countConns{}
	restore := blob.SetWrapTransport(func(rt http.RoundTripper) http.RoundTripper { cc.next = rt; return cc })
	s := openS3(t, g.url(bucket, "conns"), blob.Options{Credentials: &g.creds})
	restore()
	data := bytes.Repeat([]byte("c"), 256<<10)
	if _, err := s.Put(t.Context(), "k", bytes.NewReader(data), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	before := cc.fresh.Load()
	for i := range 5 {
		// Whole reads and ranges ending at the object's end alike.
		off := int64(i * 1000)
		rc, err := s.Get(t.Context(), "k", off, int64(len(data))-off)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[off:]) {
			t.Fatalf("Get %d: %d bytes, %v", i, len(got), err)
		}
	}
	if n := cc.fresh.Load() - before; n != 0 {
		t.Fatalf("5 Gets read to the end opened %d new connections, want every one reused", n)
	}
}

// flipByte damages one byte of every GET answer's body, in transit: what a
// bad disk or a broken proxy would serve.
type flipByte struct {
	next    http.RoundTripper
	at      int64
	damaged atomic.Int64
}

func (f *flipByte) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := f.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
		resp.Body = &flipBody{ReadCloser: resp.Body, at: f.at, f: f}
	}
	return resp, err
}

type flipBody struct {
	io.ReadCloser
	at, pos int64
	f       *flipByte
}

func (b *flipBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.at >= b.pos && b.at < b.pos+int64(n) {
		p[b.at-b.pos] ^= 0x20
		b.f.damaged.Add(1)
	}
	b.pos += int64(n)
	return n, err
}

// TestS3GetErrDamagedObject: an object whose bytes arrive damaged is
// ECORRUPT at the end of its stream, whichever way it is read (Read by
// Read, io.ReadAll, io.Copy through WriteTo), small or large; never a
// clean EOF.
func TestS3GetErrDamagedObject(t *testing.T) {
	g := s3Server(t)
	bucket := g.newBucket(t)
	s := openS3(t, g.url(bucket, "damaged"), blob.Options{Credentials: &g.creds})
	for _, size := range []int{100, 300 << 10} {
		data := bytes.Repeat([]byte("d"), size)
		key := fmt.Sprintf("k%d", size)
		if _, err := s.Put(t.Context(), key, bytes.NewReader(data), blob.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		fault := &flipByte{at: int64(size / 2)}
		restore := blob.SetWrapTransport(func(rt http.RoundTripper) http.RoundTripper { fault.next = rt; return fault })
		bad := openS3(t, g.url(bucket, "damaged"), blob.Options{Credentials: &g.creds})
		restore()
		for name, read := range map[string]func(io.Reader) error{
			"ReadAll": func(r io.Reader) error { _, err := io.ReadAll(r); return err },
			"Copy":    func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err },
			"ReadExact": func(r io.Reader) error { // exactly the object's bytes, then one more Read
				if _, err := io.ReadFull(r, make([]byte, size)); err != nil {
					return err
				}
				_, err := r.Read(make([]byte, 1))
				return err
			},
		} {
			before := fault.damaged.Load()
			rc, err := bad.Get(t.Context(), key, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			err = read(rc)
			rc.Close()
			if fault.damaged.Load() == before {
				t.Fatalf("%d bytes, %s: no byte was damaged", size, name)
			}
			if engram.ErrorCode(err) != engram.ECORRUPT {
				t.Fatalf("%d bytes, %s of a damaged object: %v, want ECORRUPT", size, name, err)
			}
		}
		// The good store still reads it whole.
		rc, err := s.Get(t.Context(), key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("undamaged Get: %d bytes, %v", len(got), err)
		}
	}
}

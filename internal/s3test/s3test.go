// Package s3test starts the S3-protocol server engram's tests run against:
// versitygw (real SigV4 signature checks), built into the module's .bin/ by
// `make tools`. One server per test binary (Shared), on a free 127.0.0.1
// port, with a temporary posix root and generated keys passed in its
// environment; it dies with the test binary, even one killed by a timeout.
//
// Without the binary a test is skipped, except under CI=true, where it
// fails: CI must never pass by skipping the object tier.
package s3test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is a running versitygw.
type Server struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string

	root    string
	cmd     *exec.Cmd
	exited  chan error
	buckets atomic.Int64
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns the test binary's server, starting it on first use. Call
// StopShared from TestMain after m.Run.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		if errors.Is(sharedErr, os.ErrNotExist) && os.Getenv("CI") != "true" {
			t.Skipf("no S3 server: %v (run `make tools`)", sharedErr)
		}
		t.Fatalf("S3 server: %v", sharedErr)
	}
	return shared
}

// StopShared stops the server Shared started, if any.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// Start starts a server of its own. The error wraps os.ErrNotExist when the
// binary has not been built.
func Start() (*Server, error) {
	mod, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(mod, ".bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		return nil, err
	}
	tmp := "" // the default temp dir, or /dev/shm where fsync costs nothing
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		tmp = "/dev/shm"
	}
	root, err := os.MkdirTemp(tmp, "engram-versitygw-")
	if err != nil {
		return nil, err
	}
	s := &Server{root: root, AccessKey: "AK" + randomHex(8), SecretKey: randomHex(20)}
	// A free port: bind :0, note it, release it for the server.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s.Endpoint = "http://" + addr
	if err := os.Mkdir(filepath.Join(root, "data"), 0o755); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	ready := make(chan struct{})
	out := &banner{want: []byte(s.Endpoint), ready: ready}
	// Keys go in the environment, not the command line other processes see.
	s.cmd = exec.Command(bin, "--port", addr, "--keep-alive", "posix", filepath.Join(root, "data"))
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }() // owned by Stop, which waits for it
	select {
	case <-ready: // it prints its listen address once bound
	case err := <-s.exited:
		os.RemoveAll(root)
		return nil, fmt.Errorf("versitygw exited at start (%v): %s", err, out.text())
	}
	return s, nil
}

// Stop kills the server, waits for it and removes its files.
func (s *Server) Stop() {
	s.cmd.Process.Kill()
	<-s.exited
	os.RemoveAll(s.root)
}

// NewBucket creates a bucket named after prefix, with the raw SDK.
func (s *Server) NewBucket(t testing.TB, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d-%s", prefix, s.buckets.Add(1), randomHex(4))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections() // no connection outlives the call (goleak)
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true, HTTPClient: &http.Client{Transport: tr},
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// URL is engram's s3:// URL for prefix in bucket on this server.
func (s *Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1", bucket, prefix, s.Endpoint)
}

// SetCredentialEnv points the standard AWS environment at this server's
// keys for the rest of the test (and at no config files).
func (s *Server) SetCredentialEnv(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/engramhq/engram\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no engram go.mod above the test's directory: %w", os.ErrNotExist)
		}
		dir = parent
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// banner discards the server's output after closing ready once it has
// printed want (its listen URL).
type banner struct {
	want  []byte
	ready chan struct{}
	mu    sync.Mutex
	buf   []byte
	done  bool
}

func (b *banner) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.buf = append(b.buf, p...)
		if bytes.Contains(b.buf, b.want) {
			b.done = true
			close(b.ready)
		}
	}
	return len(p), nil
}

func (b *banner) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf[:min(len(b.buf), 2000)])
}

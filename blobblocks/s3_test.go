package blobblocks_test

// A small starter for versitygw (.bin/versitygw, built by `make tools`): one
// server per test binary on a free 127.0.0.1 port, a temporary posix root,
// generated keys passed in its environment, killed with the test binary.

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

type gateway struct {
	endpoint, key, secret, root string
	cmd                         *exec.Cmd
	exited                      chan error
	n                           atomic.Int64
}

var (
	gwOnce sync.Once
	gw     *gateway
	gwErr  error
)

func TestMain(m *testing.M) {
	if url := os.Getenv("BLOBBLOCKS_TEST_WRITER_URL"); url != "" {
		os.Exit(chainWriter(url, os.Getenv("BLOBBLOCKS_TEST_WRITER_NAME")))
	}
	code := m.Run()
	if gw != nil {
		gw.cmd.Process.Kill()
		<-gw.exited
		os.RemoveAll(gw.root)
	}
	os.Exit(code)
}

// s3Server returns the shared server, starting it on first use. Without the
// binary the test is skipped, except under CI=true, where it fails.
func s3Server(t testing.TB) *gateway {
	t.Helper()
	gwOnce.Do(func() { gw, gwErr = startGateway() })
	if gwErr != nil {
		if errors.Is(gwErr, os.ErrNotExist) && os.Getenv("CI") != "true" {
			t.Skipf("no S3 server: %v (run `make tools`)", gwErr)
		}
		t.Fatalf("S3 server: %v", gwErr)
	}
	// Credentials reach blob's s3 store through the standard AWS environment.
	t.Setenv("AWS_ACCESS_KEY_ID", gw.key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.secret)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	return gw
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func startGateway() (*gateway, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(filepath.Dir(wd), ".bin", "versitygw") // the package sits in the module root
	if _, err := os.Stat(bin); err != nil {
		return nil, err
	}
	tmp := "" // the default temp dir, or /dev/shm where fsync costs nothing
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		tmp = "/dev/shm"
	}
	root, err := os.MkdirTemp(tmp, "engram-blobblocks-s3-")
	if err != nil {
		return nil, err
	}
	g := &gateway{key: "AK" + randHex(8), secret: randHex(20), root: root}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	g.endpoint = "http://" + addr
	if err := os.Mkdir(filepath.Join(root, "data"), 0o755); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	out := &banner{want: []byte(g.endpoint), ready: ready}
	g.cmd = exec.Command(bin, "--port", addr, "posix", filepath.Join(root, "data"))
	g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+g.key, "ROOT_SECRET_ACCESS_KEY="+g.secret)
	g.cmd.Stdout, g.cmd.Stderr = out, out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	g.exited = make(chan error, 1)
	go func() { g.exited <- g.cmd.Wait() }() // owned by TestMain, which waits for it
	select {
	case <-ready:
	case err := <-g.exited:
		os.RemoveAll(root)
		return nil, fmt.Errorf("versitygw exited at start (%v): %s", err, out.text())
	}
	return g, nil
}

// newURL creates a bucket and returns an s3:// URL for it.
func (g *gateway) newURL(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("blocks-%d-%s", g.n.Add(1), randHex(3))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(g.endpoint), UsePathStyle: true, HTTPClient: &http.Client{Transport: tr},
		Credentials: credentials.NewStaticCredentialsProvider(g.key, g.secret, ""),
	})
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return fmt.Sprintf("s3://%s/engram?endpoint=%s&region=us-east-1", name, g.endpoint)
}

// banner closes ready once the server has printed want (its listen URL).
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

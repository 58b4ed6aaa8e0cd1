package blobblocks_test

import (
	"os"
	"testing"

	"github.com/engramhq/engram/internal/s3test"
)

// gateway is the shared S3 server (internal/s3test).
type gateway struct{ *s3test.Server }

func TestMain(m *testing.M) {
	if url := os.Getenv("BLOBBLOCKS_TEST_WRITER_URL"); url != "" {
		os.Exit(chainWriter(url, os.Getenv("BLOBBLOCKS_TEST_WRITER_NAME")))
	}
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}

// s3Server returns the shared server, starting it on first use, with its
// credentials in the standard AWS environment (how blob's s3 store finds
// them). Without the binary the test is skipped, except under CI=true.
func s3Server(t testing.TB) *gateway {
	t.Helper()
	s := s3test.Shared(t)
	s.SetCredentialEnv(t)
	return &gateway{s}
}

// newURL creates a bucket and returns an s3:// URL for it.
func (g *gateway) newURL(t testing.TB) string {
	t.Helper()
	return g.URL(g.NewBucket(t, "blocks"), "engram")
}

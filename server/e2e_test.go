package server_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/server"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// openSQL opens a durable store in t's temporary directory, checked for
// consistency and closed when the test ends.
func openSQL(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "engram.db"), Synchronous: sqlstore.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if problems, err := s.Check(context.Background()); err != nil || len(problems) > 0 {
			t.Errorf("consistency check after test: %v %v", problems, err)
		}
		s.Close()
	})
	return s
}

// startServer serves store on 127.0.0.1:0 until the test ends, and returns
// its base URL. The server must shut down cleanly.
func startServer(t testing.TB, store engram.Store, opts server.Options) string {
	t.Helper()
	srv, err := server.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newClient(t testing.TB, url, token string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestStoreOverHTTP runs the durable-store conformance suite against the
// client talking to a real server over loopback: every Store operation, its
// validation, errors and paging, survive the trip through the API.
func TestStoreOverHTTP(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) engram.Store {
		url := startServer(t, openSQL(t), server.Options{MaxBodyBytes: engram.MaxInputBytes})
		return newClient(t, url, "")
	})
}

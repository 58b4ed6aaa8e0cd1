package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/engramhq/engram/server"
)

// TestShutdownDrains cancels Serve while a request is in flight (its body
// half sent): the server stops accepting connections at once, the request
// still completes with 201, and then Serve returns nil.
func TestShutdownDrains(t *testing.T) {
	store := openSQL(t)
	srv, err := server.New(store, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"task_description": "written while shutting down"}`
	fmt.Fprintf(conn, "POST /v1/episodes HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body[:10])
	// The handler is reading the body once the server has the headers; a
	// request on another connection that completes proves the server is up
	// and has dispatched ours (connections are served concurrently, so this
	// only orders the test, it does not wait on time).
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	cancel()
	// Stop accepting: new connections are refused (poll; no sleeping).
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned while a request was in flight: %v", err)
	default:
	}
	fmt.Fprint(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("in-flight request: %d", resp.StatusCode)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	n, err := store.Counts(context.Background(), "default")
	if err != nil || n.Episodes != 1 {
		t.Fatalf("the drained request's episode: %+v %v", n, err)
	}
}

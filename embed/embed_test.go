package embed_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/embed"
	"github.com/engramhq/engram/embed/embedtest"
)

func TestEmbedAgainstServer(t *testing.T) {
	srv := embedtest.Start(t, 16, "sekret")
	c, err := embed.New(embed.Options{URL: srv.URL, Model: "bag", Token: "sekret"})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"fix the parser", "render the page", "parser fix"}
	vs, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	// The server answers in reverse order; the client places them by index.
	for i, s := range texts {
		if !slices.Equal(vs[i], srv.Vector(s)) {
			t.Fatalf("text %d: %v, want %v", i, vs[i], srv.Vector(s))
		}
	}
	if c.Model() != "bag" {
		t.Fatal(c.Model())
	}
	bad, _ := embed.New(embed.Options{URL: srv.URL + "/v1/embeddings", Model: "bag", Token: "wrong"})
	if _, err := bad.Embed(context.Background(), texts); err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "bad token") {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestEmbedUnreachableIsUnavailable(t *testing.T) {
	srv := embedtest.Start(t, 4, "")
	c, _ := embed.New(embed.Options{URL: srv.URL + "/nowhere", Model: "m"})
	if _, err := c.Embed(context.Background(), []string{"x"}); err == nil || engram.ErrorCode(err) == engram.EUNAVAILABLE {
		t.Fatalf("404 is not unavailability: %v", err)
	}
	c, _ = embed.New(embed.Options{URL: "http://127.0.0.1:1", Model: "m"})
	if _, err := c.Embed(context.Background(), []string{"x"}); engram.ErrorCode(err) != engram.EUNAVAILABLE {
		t.Fatalf("refused connection: %v", err)
	}
	if _, err := embed.New(embed.Options{URL: "ftp://x", Model: "m"}); engram.ErrorField(err) != "embed_url" {
		t.Fatalf("bad url: %v", err)
	}
	if _, err := embed.New(embed.Options{URL: "http://x"}); engram.ErrorField(err) != "embed_model" {
		t.Fatalf("no model: %v", err)
	}
}

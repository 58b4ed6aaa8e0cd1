package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/server"
	"github.com/engramhq/engram/sqlstore"
)

// vectorServer serves a Memory on a manual clock (shared with its durable
// store) and returns a client of it and its URL.
func vectorServer(t *testing.T) (*client.Client, string, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	m, err := memory.Open(context.Background(), memory.Config{DataDir: dir, Clock: clk,
		SQL:     sqlstore.Options{Path: filepath.Join(dir, "engram.db"), Now: clk.Now, Synchronous: sqlstore.SyncOff},
		Vectors: memory.VectorTierConfig{Interval: -1, SweepInterval: -1},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	u := startServer(t, m, server.Options{MaxBodyBytes: engram.MaxInputBytes})
	return newClient(t, u, ""), u, clk
}

func testID(ns string, i int) engram.UUID {
	var u engram.UUID
	copy(u[:], fmt.Sprintf("%-8.8s%08d", ns, i))
	return u
}

// exported collects a namespace through the client's streaming export.
func exported(t *testing.T, c *client.Client, ns engram.Namespace) map[string][]float32 {
	t.Helper()
	got := map[string][]float32{}
	err := c.EachEmbedding(context.Background(), ns, engram.EmbeddingFilter{Limit: 300}, func(e *engram.Embedding) error {
		k := e.Key().String()
		if _, dup := got[k]; dup {
			return fmt.Errorf("%s exported twice", k)
		}
		got[k] = e.Vector
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameExport(t *testing.T, what string, got, want map[string][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d embeddings, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Fatalf("%s: %s is %v, want %v", what, k, got[k], v)
		}
	}
}

func TestVectorsOverHTTP(t *testing.T) {
	ctx := context.Background()
	c, u, clk := vectorServer(t)
	put := func(ns engram.Namespace, n, dim int) map[string][]float32 {
		want := map[string][]float32{}
		for start := 0; start < n; start += engram.MaxBatch {
			var batch []*engram.Embedding
			for i := start; i < min(n, start+engram.MaxBatch); i++ {
				v := make([]float32, dim)
				for j := range v {
					v[j] = float32(i) + float32(j)/10
				}
				e := &engram.Embedding{ItemID: testID(string(ns), i), ItemType: engram.ItemPattern, Vector: v}
				batch = append(batch, e)
				want[e.Key().String()] = v // model "": the default
			}
			if err := c.PutEmbeddingsSameDim(ctx, ns, batch); err != nil {
				t.Fatal(err)
			}
		}
		return want
	}
	wantA, wantB := put("a", 2100, 4), put("b", 7, 2)
	sameExport(t, "export a", exported(t, c, "a"), wantA)
	sameExport(t, "export b", exported(t, c, "b"), wantB)

	st, err := c.VectorNamespace(ctx, "a")
	if err != nil || st.Count != 2100 || st.Dimension != 4 {
		t.Fatalf("stats of a: %+v %v", st, err)
	}
	if _, err := c.VectorNamespace(ctx, "nothing"); engram.ErrorCode(err) != engram.ENOTFOUND {
		t.Fatalf("stats of an empty namespace: %v, want ENOTFOUND", err)
	}
	list, err := c.VectorNamespaces(ctx)
	if err != nil || len(list) != 2 || list[0].Namespace != "a" || list[1].Count != 7 {
		t.Fatalf("namespaces: %+v %v", list, err)
	}

	k1 := engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: testID("a", 1), Model: engram.DefaultModel}
	k2 := engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: testID("a", 2)}
	gone := engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: testID("a", 99999)}
	got, err := c.GetEmbeddings(ctx, "a", []engram.EmbeddingKey{k1, gone, k2})
	if err != nil || got[0] == nil || got[1] != nil || got[2] == nil || !slices.Equal(got[2].Vector, wantA[k2.String()]) {
		t.Fatalf("batch get: %v %v", got, err)
	}
	if !slices.Equal(got[0].Vector, wantA[k1.String()]) {
		t.Fatalf("batch get of %s: %v, want %v", k1, got[0].Vector, wantA[k1.String()])
	}
	existed, err := c.DeleteEmbeddings(ctx, "a", []engram.EmbeddingKey{k1, gone})
	if err != nil || !slices.Equal(existed, []bool{true, false}) {
		t.Fatalf("batch delete: %v %v, want [true false]", existed, err)
	}
	delete(wantA, k1.String())

	// Expiry: a TTL put is exported until it expires, then never.
	e := &engram.Embedding{ItemID: testID("b", 100), ItemType: engram.ItemPattern, Vector: []float32{9, 9}, TTL: time.Minute}
	if err := c.PutEmbeddingsSameDim(ctx, "b", []*engram.Embedding{e}); err != nil {
		t.Fatal(err)
	}
	if e.ExpiresAt.IsZero() || e.TTL != 0 {
		t.Fatalf("a TTL put answered expires_at %v ttl %v", e.ExpiresAt, e.TTL)
	}
	if n := len(exported(t, c, "b")); n != 8 {
		t.Fatalf("export of b before the expiry: %d, want 8", n)
	}
	clk.Advance(time.Minute)
	sameExport(t, "export of b after the expiry", exported(t, c, "b"), wantB)
	if got, err := c.GetEmbeddings(ctx, "b", []engram.EmbeddingKey{e.Key()}); err != nil || got[0] != nil {
		t.Fatalf("batch get of the expired: %v %v", got, err)
	}
	if n, err := c.SweepExpired(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v, want 1", n, err)
	}

	// Bad input: coded, naming the field, nothing stored.
	bad := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"ErrNamespaceDotDot", "GET", "/v1/vectors?namespace=" + url.QueryEscape("../etc"), "", 400, "namespace"},
		{"ErrNamespaceSlash", "POST", "/v1/vectors:put?namespace=" + url.QueryEscape("a/b"), `{"embeddings":[]}`, 400, "namespace"},
		{"ErrNamespaceNUL", "DELETE", "/v1/vectors?confirm=x&namespace=" + url.QueryEscape("a\x00b"), "", 400, "namespace"},
		{"ErrNamespaceQuote", "GET", "/v1/vectors:export?namespace=" + url.QueryEscape("'; DROP TABLE embeddings; --"), "", 400, "namespace"},
		{"ErrClearUnconfirmed", "DELETE", "/v1/vectors?namespace=a", "", 400, "confirm"},
		{"ErrClearConfirmOther", "DELETE", "/v1/vectors?namespace=a&confirm=b", "", 400, "confirm"},
		{"ErrWrongDimension", "POST", "/v1/vectors:put?namespace=a", `{"embeddings":[{"item_type":"pattern","item_id":"` + testID("n", 1).String() +
			`","vector":[1,2,3,4]},{"item_type":"pattern","item_id":"` + testID("n", 2).String() + `","vector":[1,2]}]}`, 400, "embeddings[1].vector"},
		{"ErrNaNIsNotJSON", "POST", "/v1/vectors:put?namespace=a", `{"embeddings":[{"item_type":"pattern","item_id":"` + testID("n", 1).String() + `","vector":[NaN,1,2,3]}]}`, 400, ""},
		{"ErrPastExpiry", "POST", "/v1/vectors:put?namespace=a", `{"embeddings":[{"item_type":"pattern","item_id":"` + testID("n", 1).String() +
			`","vector":[1,2,3,4],"expires_at":"2000-01-01T00:00:00Z"}]}`, 400, "expires_at"},
		{"ErrBadKey", "POST", "/v1/vectors:get?namespace=a", `{"keys":["pattern/not-a-uuid/default"]}`, 400, "keys[0]"},
		{"ErrTooManyKeys", "POST", "/v1/vectors:delete?namespace=a", `{"keys":[` + strings.TrimSuffix(strings.Repeat(`"pattern/`+testID("a", 5).String()+`/default",`, engram.MaxBatch+1), ",") + `]}`, 413, "keys"},
		{"ErrExportLimit", "GET", "/v1/vectors:export?namespace=a&limit=0", "", 400, "limit"},
	}
	big := make([]string, engram.MaxBatch+1)
	for i := range big {
		big[i] = `{"item_type":"pattern","item_id":"` + testID("big", i).String() + `","vector":[1,2,3,4]}`
	}
	bad = append(bad, struct {
		name, method, path, body string
		status                   int
		field                    string
	}{"ErrBatchTooLarge", "POST", "/v1/vectors:put?namespace=a", `{"embeddings":[` + strings.Join(big, ",") + `]}`, 413, "embeddings"})
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			var body io.Reader
			if b.body != "" {
				body = strings.NewReader(b.body)
			}
			r := do(t, b.method, u+b.path, body, "Content-Type", "application/json")
			d := r.errorBody(t)
			if r.status != b.status || (b.field != "" && d.Field != b.field) {
				t.Fatalf("%d %+v; want %d naming %q", r.status, d, b.status, b.field)
			}
		})
	}
	sameExport(t, "export a after bad input", exported(t, c, "a"), wantA)

	n, err := c.ClearEmbeddings(ctx, "a")
	if err != nil || n != int64(len(wantA)) {
		t.Fatalf("clear a: %d %v, want %d", n, err, len(wantA))
	}
	sameExport(t, "export a after the clear", exported(t, c, "a"), nil)
	sameExport(t, "export b after clearing a", exported(t, c, "b"), wantB)
	if err := c.FlushVectors(ctx); err != nil {
		t.Fatal(err)
	}
	// The raw stream is NDJSON: one embedding per line.
	r := do(t, "GET", u+"/v1/vectors:export?namespace=b&limit=2", nil)
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" || len(lines) != len(wantB) {
		t.Fatalf("raw export: %d %q %d lines", r.status, r.header.Get("Content-Type"), len(lines))
	}
	for _, l := range lines {
		var e engram.Embedding
		if err := json.Unmarshal([]byte(l), &e); err != nil || !slices.Equal(wantB[e.Key().String()], e.Vector) {
			t.Fatalf("raw export line %s: %v", l, err)
		}
	}
}

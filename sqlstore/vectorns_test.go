package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/sqlstore"
)

// The namespace contract (engram.VectorStore) and embedding expiry, on
// SQLite and PostgreSQL.

func TestVectorNamespacesSQLite(t *testing.T) {
	runVectorStore(t, func(t *testing.T, c *clock.Manual) *sqlstore.Store {
		s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "engram.db"), Now: c.Now})
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
	})
}

func TestVectorNamespacesPostgres(t *testing.T) {
	runVectorStore(t, func(t *testing.T, c *clock.Manual) *sqlstore.Store {
		return openPostgres(t, sqlstore.Options{Now: c.Now})
	})
}

// vecOf is test data: the vector of item i in a namespace, dimension dim.
func vecOf(i, dim int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32(i*dim+j) / 7
	}
	return v
}

func itemID(ns string, i int) engram.UUID {
	var u engram.UUID
	copy(u[:], fmt.Sprintf("%-8.8s%08d", ns, i))
	return u
}

// putNS puts n embeddings (dimension dim, item type pattern, the default
// model) into ns and returns what it put, by key.
func putNS(t *testing.T, s *sqlstore.Store, ns engram.Namespace, n, dim int) map[engram.EmbeddingKey][]float32 {
	t.Helper()
	want := map[engram.EmbeddingKey][]float32{}
	for start := 0; start < n; start += engram.MaxBatch {
		var batch []*engram.Embedding
		for i := start; i < min(n, start+engram.MaxBatch); i++ {
			e := &engram.Embedding{ItemID: itemID(string(ns), i), ItemType: engram.ItemPattern, Vector: vecOf(i, dim)}
			batch = append(batch, e)
			want[engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: e.ItemID, Model: engram.DefaultModel}] = vecOf(i, dim)
		}
		if err := s.PutEmbeddingsSameDim(context.Background(), ns, batch); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// streamAll collects ns's embeddings through EachEmbedding in pages of 100.
func streamAll(t *testing.T, vs engram.VectorStore, ns engram.Namespace) map[engram.EmbeddingKey][]float32 {
	t.Helper()
	got := map[engram.EmbeddingKey][]float32{}
	var last string
	err := vs.EachEmbedding(context.Background(), ns, engram.EmbeddingFilter{Limit: 100}, func(e *engram.Embedding) error {
		k := e.Key()
		if k.String() <= last {
			return fmt.Errorf("key %s after %s: not in key order", k, last)
		}
		last = k.String()
		if _, dup := got[k]; dup {
			return fmt.Errorf("key %s streamed twice", k)
		}
		got[k] = slices.Clone(e.Vector)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameVectors(t *testing.T, what string, got, want map[engram.EmbeddingKey][]float32) {
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

// wantInvalid fails unless err is EINVALID naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var ee *engram.Error
	if !errors.As(err, &ee) || (ee.Code != engram.EINVALID && ee.Code != engram.ETOOLARGE) || ee.Field != field {
		t.Fatalf("got %v; want EINVALID naming %q", err, field)
	}
}

func runVectorStore(t *testing.T, open func(*testing.T, *clock.Manual) *sqlstore.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

	t.Run("StreamBatchGetDeleteClear", func(t *testing.T) {
		s := open(t, clock.NewManual(t0))
		wantA := putNS(t, s, "a", 2500, 8)
		wantB := putNS(t, s, "b", 10, 3)
		sameVectors(t, "stream a", streamAll(t, s, "a"), wantA)
		sameVectors(t, "stream b", streamAll(t, s, "b"), wantB)

		st, err := s.VectorNamespace(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if st.Count != 2500 || st.Dimension != 8 || !slices.Equal(st.Dimensions, []int{8}) || st.Bytes < 2500*8*4 {
			t.Fatalf("stats of a: %+v", st)
		}
		all, err := s.VectorNamespaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0].Namespace != "a" || all[1].Namespace != "b" || all[1].Count != 10 || all[1].Dimension != 3 {
			t.Fatalf("namespaces: %+v", all)
		}

		unknown := engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: itemID("zz", 1)}
		k3 := engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: itemID("a", 3), Model: engram.DefaultModel}
		k7 := engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: itemID("a", 7)} // model "": the default
		got, err := s.GetEmbeddings(ctx, "a", []engram.EmbeddingKey{k3, unknown, k7, k3})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || got[1] != nil || !slices.Equal(got[0].Vector, vecOf(3, 8)) || !slices.Equal(got[2].Vector, vecOf(7, 8)) ||
			!slices.Equal(got[3].Vector, vecOf(3, 8)) {
			t.Fatalf("batch get: %v", got)
		}
		if got, err := s.GetEmbeddings(ctx, "b", []engram.EmbeddingKey{k3}); err != nil || got[0] != nil {
			t.Fatalf("batch get of a's key in b: %v %v", got, err)
		}

		existed, err := s.DeleteEmbeddings(ctx, "a", []engram.EmbeddingKey{k3, unknown})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(existed, []bool{true, false}) {
			t.Fatalf("batch delete reported %v, want [true false]", existed)
		}
		delete(wantA, k3)
		sameVectors(t, "stream a after delete", streamAll(t, s, "a"), wantA)

		before, _ := s.LastSeq(ctx)
		n, err := s.ClearEmbeddings(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if n != 2499 {
			t.Fatalf("clear deleted %d, want 2499", n)
		}
		if _, err := s.VectorNamespace(ctx, "a"); engram.ErrorCode(err) != engram.ENOTFOUND {
			t.Fatalf("namespace a after clear: %v, want ENOTFOUND", err)
		}
		sameVectors(t, "stream a after clear", streamAll(t, s, "a"), nil)
		sameVectors(t, "stream b after clearing a", streamAll(t, s, "b"), wantB)
		changes, err := s.Changes(ctx, before, engram.MaxQueryLimit)
		if err != nil {
			t.Fatal(err)
		}
		deletes := 0
		for _, c := range changes {
			if c.Namespace != "a" || c.Op != engram.OpDelete || c.Kind != engram.KindEmbedding {
				t.Fatalf("clear wrote change %+v", c)
			}
			deletes++
		}
		if deletes != min(2499, engram.MaxQueryLimit) {
			t.Fatalf("clear wrote %d change entries in the first page, want %d", deletes, min(2499, engram.MaxQueryLimit))
		}
	})

	t.Run("ExpiryNeverReturnedThenSwept", func(t *testing.T) {
		c := clock.NewManual(t0)
		s := open(t, c)
		keep := &engram.Embedding{ItemID: itemID("k", 1), ItemType: engram.ItemPattern, Vector: []float32{1, 2}, Metadata: map[string]string{"src": "doc-1"}}
		ttl := &engram.Embedding{ItemID: itemID("t", 1), ItemType: engram.ItemPattern, Vector: []float32{3, 4}, TTL: 10 * time.Second}
		at := &engram.Embedding{ItemID: itemID("t", 2), ItemType: engram.ItemPattern, Vector: []float32{5, 6}, ExpiresAt: t0.Add(20 * time.Second)}
		if err := s.PutEmbeddings(ctx, "x", []*engram.Embedding{keep, ttl, at}); err != nil {
			t.Fatal(err)
		}
		if !ttl.ExpiresAt.Equal(t0.Add(10*time.Second)) || ttl.TTL != 0 {
			t.Fatalf("a TTL put stored expires_at %v ttl %v, want %v and 0", ttl.ExpiresAt, ttl.TTL, t0.Add(10*time.Second))
		}
		e, err := s.GetEmbedding(ctx, "x", ttl.Key())
		if err != nil || !e.ExpiresAt.Equal(t0.Add(10*time.Second)) {
			t.Fatalf("get before expiry: %v %v", e, err)
		}
		e, err = s.GetEmbedding(ctx, "x", keep.Key())
		if err != nil || e.Metadata["src"] != "doc-1" || len(e.Metadata) != 1 || !e.ExpiresAt.IsZero() {
			t.Fatalf("metadata round trip: %+v %v", e, err)
		}

		c.Advance(10 * time.Second) // ttl's expiry: expired from this instant
		if _, err := s.GetEmbedding(ctx, "x", ttl.Key()); engram.ErrorCode(err) != engram.ENOTFOUND {
			t.Fatalf("get of an expired embedding: %v, want ENOTFOUND", err)
		}
		got, err := s.GetEmbeddings(ctx, "x", []engram.EmbeddingKey{ttl.Key(), at.Key()})
		if err != nil || got[0] != nil || got[1] == nil {
			t.Fatalf("batch get at ttl's expiry: %v %v", got, err)
		}
		sameVectors(t, "stream at ttl's expiry", streamAll(t, s, "x"),
			map[engram.EmbeddingKey][]float32{keep.Key(): {1, 2}, at.Key(): {5, 6}})
		st, err := s.VectorNamespace(ctx, "x")
		if err != nil || st.Count != 2 || st.Expiring != 1 {
			t.Fatalf("stats at ttl's expiry: %+v %v", st, err)
		}

		c.Advance(time.Hour)
		sameVectors(t, "stream after both expired, before the sweep", streamAll(t, s, "x"), map[engram.EmbeddingKey][]float32{keep.Key(): {1, 2}})
		swept, err := s.SweepExpiredEmbeddings(ctx, c.Now(), 1)
		if err != nil || len(swept) != 1 || swept[0].Key != ttl.Key() || swept[0].Namespace != "x" {
			t.Fatalf("first sweep batch (limit 1): %+v %v; want ttl's, the soonest", swept, err)
		}
		swept, err = s.SweepExpiredEmbeddings(ctx, c.Now(), engram.MaxBatch)
		if err != nil || len(swept) != 1 || swept[0].Key != at.Key() {
			t.Fatalf("second sweep batch: %+v %v", swept, err)
		}
		if swept, err = s.SweepExpiredEmbeddings(ctx, c.Now(), engram.MaxBatch); err != nil || len(swept) != 0 {
			t.Fatalf("third sweep: %+v %v, want nothing", swept, err)
		}
		if counts, err := s.Counts(ctx, "x"); err != nil || counts.Embeddings != 1 {
			t.Fatalf("rows after the sweep: %+v %v, want 1", counts, err)
		}
		sameVectors(t, "stream after the sweep", streamAll(t, s, "x"), map[engram.EmbeddingKey][]float32{keep.Key(): {1, 2}})

		// Putting again a key that expired (unswept) makes a new embedding.
		again := &engram.Embedding{ItemID: itemID("t", 3), ItemType: engram.ItemPattern, Vector: []float32{7, 8}, TTL: time.Second}
		if err := s.PutEmbeddings(ctx, "x", []*engram.Embedding{again}); err != nil {
			t.Fatal(err)
		}
		c.Advance(2 * time.Second)
		again.TTL, again.ExpiresAt = 0, time.Time{}
		if err := s.PutEmbeddings(ctx, "x", []*engram.Embedding{again}); err != nil {
			t.Fatal(err)
		}
		if e, err := s.GetEmbedding(ctx, "x", again.Key()); err != nil || !e.ExpiresAt.IsZero() || !e.CreatedAt.Equal(c.Now()) {
			t.Fatalf("re-put of an expired key: %+v %v; want no expiry, created now", e, err)
		}
	})

	t.Run("ErrBadInputChangesNothing", func(t *testing.T) {
		c := clock.NewManual(t0)
		s := open(t, c)
		wantA := putNS(t, s, "a", 5, 4)
		seq, _ := s.LastSeq(ctx)
		nan := float32(math.NaN())
		big := make([]*engram.Embedding, engram.MaxBatch+1)
		for i := range big {
			big[i] = &engram.Embedding{ItemID: itemID("big", i), ItemType: engram.ItemPattern, Vector: []float32{1, 2, 3, 4}}
		}
		ok := func(i int) *engram.Embedding {
			return &engram.Embedding{ItemID: itemID("new", i), ItemType: engram.ItemPattern, Vector: []float32{1, 2, 3, 4}}
		}
		withVec := func(v []float32) *engram.Embedding { e := ok(9); e.Vector = v; return e }
		ttlNeg, both, past := ok(5), ok(6), ok(7)
		ttlNeg.TTL = -time.Second
		both.TTL, both.ExpiresAt = time.Second, t0.Add(time.Hour)
		past.ExpiresAt = t0.Add(-time.Second)
		meta := ok(8)
		meta.Metadata = map[string]string{}
		for i := range engram.MaxMetadataEntries + 1 {
			meta.Metadata[fmt.Sprint(i)] = "v"
		}
		cases := []struct {
			name, field string
			put         func() error
		}{
			{"ErrBatchTooLarge", "embeddings", func() error { return s.PutEmbeddingsSameDim(ctx, "a", big) }},
			{"ErrNaN", "embeddings[1].vector[2]", func() error {
				return s.PutEmbeddingsSameDim(ctx, "a", []*engram.Embedding{ok(1), withVec([]float32{1, 2, nan, 4})})
			}},
			{"ErrInf", "embeddings[1].vector[0]", func() error {
				return s.PutEmbeddingsSameDim(ctx, "a", []*engram.Embedding{ok(1), withVec([]float32{float32(math.Inf(1)), 2, 3, 4})})
			}},
			{"ErrDimensionOfNamespace", "embeddings[1].vector", func() error {
				return s.PutEmbeddingsSameDim(ctx, "a", []*engram.Embedding{ok(1), withVec([]float32{1, 2, 3})})
			}},
			{"ErrDimensionInBatch", "embeddings[1].vector", func() error {
				return s.PutEmbeddingsSameDim(ctx, "fresh", []*engram.Embedding{ok(1), withVec([]float32{1, 2})})
			}},
			{"ErrTooManyDimensions", "embeddings[1].vector", func() error {
				return s.PutEmbeddingsSameDim(ctx, "a", []*engram.Embedding{ok(1), withVec(make([]float32, engram.MaxVectorDim+1))})
			}},
			{"ErrTTLNegative", "embeddings[1].ttl_ns", func() error { return s.PutEmbeddings(ctx, "a", []*engram.Embedding{ok(1), ttlNeg}) }},
			{"ErrTTLAndExpiresAt", "embeddings[1].ttl_ns", func() error { return s.PutEmbeddings(ctx, "a", []*engram.Embedding{ok(1), both}) }},
			{"ErrExpiresInThePast", "embeddings[1].expires_at", func() error { return s.PutEmbeddings(ctx, "a", []*engram.Embedding{ok(1), past}) }},
			{"ErrMetadataTooManyKeys", "embeddings[1].metadata", func() error { return s.PutEmbeddings(ctx, "a", []*engram.Embedding{ok(1), meta}) }},
			{"ErrBatchGetTooLarge", "keys", func() error {
				_, err := s.GetEmbeddings(ctx, "a", make([]engram.EmbeddingKey, engram.MaxBatch+1))
				return err
			}},
			{"ErrBatchGetBadKey", "keys[1].item_id", func() error {
				_, err := s.GetEmbeddings(ctx, "a", []engram.EmbeddingKey{ok(1).Key(), {ItemType: engram.ItemPattern}})
				return err
			}},
			{"ErrBatchDeleteTooLarge", "keys", func() error {
				_, err := s.DeleteEmbeddings(ctx, "a", make([]engram.EmbeddingKey, engram.MaxBatch+1))
				return err
			}},
			{"ErrBatchDeleteBadItemType", "keys[0].item_type", func() error {
				_, err := s.DeleteEmbeddings(ctx, "a", []engram.EmbeddingKey{{ItemType: "../x", ItemID: itemID("a", 1)}})
				return err
			}},
			{"ErrSweepLimit", "limit", func() error { _, err := s.SweepExpiredEmbeddings(ctx, c.Now(), engram.MaxBatch+1); return err }},
		}
		for _, ns := range []engram.Namespace{"", "../etc", "a/b", "a\x00b", "a b", engram.Namespace(make([]byte, 300)), "'; DROP TABLE embeddings; --"} {
			cases = append(cases,
				struct {
					name, field string
					put         func() error
				}{fmt.Sprintf("ErrNamespace%q", ns), "namespace", func() error { return s.PutEmbeddingsSameDim(ctx, ns, []*engram.Embedding{ok(1)}) }},
				struct {
					name, field string
					put         func() error
				}{fmt.Sprintf("ErrClearNamespace%q", ns), "namespace", func() error { _, err := s.ClearEmbeddings(ctx, ns); return err }},
				struct {
					name, field string
					put         func() error
				}{fmt.Sprintf("ErrStatsNamespace%q", ns), "namespace", func() error { _, err := s.VectorNamespace(ctx, ns); return err }},
			)
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				wantInvalid(t, tc.put(), tc.field)
			})
		}
		if now, _ := s.LastSeq(ctx); now != seq {
			t.Fatalf("bad input moved the change feed from %d to %d", seq, now)
		}
		sameVectors(t, "stream a after bad input", streamAll(t, s, "a"), wantA)
		if all, err := s.VectorNamespaces(ctx); err != nil || len(all) != 1 {
			t.Fatalf("namespaces after bad input: %+v %v, want a alone", all, err)
		}
	})
}

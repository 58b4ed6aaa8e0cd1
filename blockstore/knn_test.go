package blockstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	bolt "go.etcd.io/bbolt"
)

func uuid(b byte) engram.UUID {
	var u engram.UUID
	u[15] = b
	return u
}

func sampleKNN(root engram.CID) *KNNEdges {
	return &KNNEdges{Root: root, K: 2, Metric: MetricCosine, Edges: []KNNEdge{
		{Src: uuid(1), Dst: uuid(2), Weight: 0.5},
		{Src: uuid(1), Dst: uuid(3), Weight: 0.25},
		{Src: uuid(2), Dst: uuid(1), Weight: 0.5},
		{Src: uuid(3), Dst: uuid(1), Weight: -0},
	}}
}

func txID(t *testing.T, s *Store) (id int) {
	t.Helper()
	_ = s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return id
}

func TestKNNEdges(t *testing.T) {
	s := openTest(t)
	root := rawBlock("graph version")
	put(t, s, root)
	x := sampleKNN(root.CID)

	if _, err := s.LoadKNNEdges(ctx, root.CID); !errors.Is(err, engram.ErrNotFound) || !strings.Contains(err.Error(), root.CID.String()) {
		t.Fatalf("load before store: %v, want ENOTFOUND naming the root", err)
	}
	if err := s.StoreKNNEdges(ctx, x); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadKNNEdges(ctx, root.CID)
	if err != nil || !reflect.DeepEqual(got, x) {
		t.Fatalf("load = %+v, %v; want %+v", got, err, x)
	}

	t.Run("StoreIsIdempotent", func(t *testing.T) {
		before := txID(t, s)
		if err := s.StoreKNNEdges(ctx, sampleKNN(root.CID)); err != nil {
			t.Fatal(err)
		}
		if after := txID(t, s); after != before {
			t.Fatalf("storing the same index again committed a transaction (%d -> %d)", before, after)
		}
	})

	t.Run("StoreReplaces", func(t *testing.T) {
		y := sampleKNN(root.CID)
		y.Metric, y.Edges = MetricL2, y.Edges[:1]
		if err := s.StoreKNNEdges(ctx, y); err != nil {
			t.Fatal(err)
		}
		if got, err := s.LoadKNNEdges(ctx, root.CID); err != nil || !reflect.DeepEqual(got, y) {
			t.Fatalf("load after replace = %+v, %v", got, err)
		}
		if err := s.StoreKNNEdges(ctx, x); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("AddressIsDomainSeparated", func(t *testing.T) {
		plain := sha256.Sum256(root.CID.Bytes())
		k := knnKey(root.CID)
		if bytes.Equal(k, plain[:]) || bytes.Equal(k, root.CID.Digest()) || len(k) != 32 {
			t.Fatalf("knn key %x collides with a plain hash", k)
		}
		if bytes.Equal(k, knnKey(rawBlock("other").CID)) {
			t.Fatal("two roots share a key")
		}
	})

	t.Run("ErrCorruptIndex", func(t *testing.T) {
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketKNN)
			v := bytes.Clone(b.Get(knnKey(root.CID)))
			v[len(v)/2] ^= 1
			return b.Put(knnKey(root.CID), v)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.LoadKNNEdges(ctx, root.CID); !errors.Is(err, engram.ErrCorrupt) {
			t.Fatalf("load of a flipped index: %v, want ECORRUPT", err)
		}
		rep, err := s.Verify(ctx)
		if err != nil || len(rep.Corrupt) != 1 || rep.Corrupt[0].Kind != "knn_edges" {
			t.Fatalf("Verify = %+v, %v; want the index reported", rep, err)
		}
		if err := s.StoreKNNEdges(ctx, x); err != nil { // storing again repairs
			t.Fatal(err)
		}
		if _, err := s.LoadKNNEdges(ctx, root.CID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestKNNEdgesRejects(t *testing.T) {
	s := openTest(t)
	root := rawBlock("root")
	put(t, s, root)
	for _, tc := range []struct {
		name, field string
		edit        func(x *KNNEdges)
	}{
		{"ErrNoRoot", "root", func(x *KNNEdges) { x.Root = engram.CID{} }},
		{"ErrZeroK", "k", func(x *KNNEdges) { x.K = 0 }},
		{"ErrBadMetric", "metric", func(x *KNNEdges) { x.Metric = 9 }},
		{"ErrUnsorted", "edges[1]", func(x *KNNEdges) { x.Edges[0], x.Edges[1] = x.Edges[1], x.Edges[0] }},
		{"ErrDuplicate", "edges[1]", func(x *KNNEdges) { x.Edges[1] = x.Edges[0] }},
		{"ErrSrcOutOfOrder", "edges[3]", func(x *KNNEdges) { x.Edges[3].Src = uuid(0) }},
		{"ErrMoreThanK", "edges[1]", func(x *KNNEdges) { x.K = 1 }},
		{"ErrNaNWeight", "edges[2].weight", func(x *KNNEdges) { x.Edges[2].Weight = float32(math.NaN()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := sampleKNN(root.CID)
			tc.edit(x)
			err := s.StoreKNNEdges(ctx, x)
			if !errors.Is(err, engram.ErrInvalid) || engram.ErrorField(err) != tc.field {
				t.Fatalf("store: %v (field %q), want EINVALID for %s", err, engram.ErrorField(err), tc.field)
			}
		})
	}
	t.Run("ErrRootNotStored", func(t *testing.T) {
		err := s.StoreKNNEdges(ctx, sampleKNN(rawBlock("absent").CID))
		if !errors.Is(err, engram.ErrNotFound) {
			t.Fatalf("store for a missing root: %v, want ENOTFOUND", err)
		}
	})
	if m, err := ParseMetric("l2"); err != nil || m != MetricL2 {
		t.Fatalf("ParseMetric(l2) = %v, %v", m, err)
	}
	if _, err := ParseMetric("manhattan"); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("ParseMetric(manhattan): %v", err)
	}
}

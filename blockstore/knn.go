package blockstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/engramhq/engram"
	bolt "go.etcd.io/bbolt"
)

// Metric is the distance a KNN edge index was built with.
type Metric uint8

const (
	MetricCosine Metric = 1
	MetricL2     Metric = 2
	MetricDot    Metric = 3
)

func (m Metric) String() string {
	switch m {
	case MetricCosine:
		return "cosine"
	case MetricL2:
		return "l2"
	case MetricDot:
		return "dot"
	}
	return fmt.Sprintf("metric(%d)", uint8(m))
}

// ParseMetric parses "cosine", "l2" or "dot"; the error is EINVALID naming "metric".
func ParseMetric(s string) (Metric, error) {
	for _, m := range []Metric{MetricCosine, MetricL2, MetricDot} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, engram.Invalid("metric", "%q is not a metric (want cosine, l2 or dot)", s)
}

// KNNEdge links a node to one of its nearest neighbours.
type KNNEdge struct {
	Src, Dst engram.UUID
	Weight   float32 // the distance or similarity under the index's metric
}

// KNNEdges is a k-nearest-neighbour graph over the nodes of the graph
// version Root names. Edges are sorted by (Src, Dst) with no duplicates, at
// most K per Src.
type KNNEdges struct {
	Root   engram.CID
	K      int
	Metric Metric
	Edges  []KNNEdge
}

// MaxKNNK is the largest K an index may have.
const MaxKNNK = 4096

// maxKNNEdges keeps an encoded index well inside bbolt's value limit.
const maxKNNEdges = (1 << 30) / knnEdgeSize

const knnEdgeSize = 16 + 16 + 4

// knnDomain separates KNN index addresses from every other hash of a CID.
const knnDomain = "engram/blockstore/knn-edges/v1\x00"

var knnMagic = []byte("EKNN\x01")

// knnKey is the address an index for root is stored under:
// SHA2-256(knnDomain || binary root CID).
func knnKey(root engram.CID) []byte {
	h := sha256.New()
	h.Write([]byte(knnDomain))
	h.Write([]byte(root.KeyString()))
	return h.Sum(nil)
}

// Validate checks the index is storable; the error is EINVALID naming the field.
func (x *KNNEdges) Validate() error {
	switch {
	case !x.Root.Defined():
		return engram.Invalid("root", "is undefined")
	case x.K < 1 || x.K > MaxKNNK:
		return engram.Invalid("k", "is %d; want 1 to %d", x.K, MaxKNNK)
	case x.Metric < MetricCosine || x.Metric > MetricDot:
		return engram.Invalid("metric", "is %d; want cosine, l2 or dot", uint8(x.Metric))
	case len(x.Edges) > maxKNNEdges:
		return engram.Invalid("edges", "has %d edges; the limit is %d", len(x.Edges), maxKNNEdges)
	}
	perSrc := 0
	for i, e := range x.Edges {
		if math.IsNaN(float64(e.Weight)) || math.IsInf(float64(e.Weight), 0) {
			return engram.Invalid(fmt.Sprintf("edges[%d].weight", i), "is %v; want a finite number", e.Weight)
		}
		if i > 0 {
			prev := x.Edges[i-1]
			order := bytes.Compare(prev.Src[:], e.Src[:])
			if order == 0 {
				order = bytes.Compare(prev.Dst[:], e.Dst[:])
			}
			if order >= 0 {
				return engram.Invalid(fmt.Sprintf("edges[%d]", i), "(%s, %s) does not come after (%s, %s); edges must be sorted by (src, dst) without duplicates",
					e.Src, e.Dst, prev.Src, prev.Dst)
			}
		}
		if i == 0 || e.Src != x.Edges[i-1].Src {
			perSrc = 0
		}
		perSrc++
		if perSrc > x.K {
			return engram.Invalid(fmt.Sprintf("edges[%d]", i), "src %s has more than k=%d edges", e.Src, x.K)
		}
	}
	return nil
}

// encodeKNN lays the index out as: magic, metric, k, root, edge count,
// edges (src, dst, weight as IEEE 754 big endian), SHA2-256 of all that.
func encodeKNN(x *KNNEdges) []byte {
	root := x.Root.Bytes()
	b := make([]byte, 0, len(knnMagic)+1+3*binary.MaxVarintLen64+len(root)+len(x.Edges)*knnEdgeSize+sha256.Size)
	b = append(b, knnMagic...)
	b = append(b, byte(x.Metric))
	b = binary.AppendUvarint(b, uint64(x.K))
	b = binary.AppendUvarint(b, uint64(len(root)))
	b = append(b, root...)
	b = binary.AppendUvarint(b, uint64(len(x.Edges)))
	for _, e := range x.Edges {
		b = append(b, e.Src[:]...)
		b = append(b, e.Dst[:]...)
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(e.Weight))
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// decodeKNN reverses encodeKNN, checking the checksum and the invariants.
func decodeKNN(b []byte) (*KNNEdges, error) {
	if len(b) < len(knnMagic)+sha256.Size || !bytes.Equal(b[:len(knnMagic)], knnMagic) {
		return nil, fmt.Errorf("not a KNN edge index (bad header)")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("checksum mismatch")
	}
	r := body[len(knnMagic):]
	x := &KNNEdges{Metric: Metric(r[0])}
	r = r[1:]
	next := func() (uint64, error) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, fmt.Errorf("truncated")
		}
		r = r[n:]
		return v, nil
	}
	k, err := next()
	if err != nil || k > MaxKNNK {
		return nil, fmt.Errorf("bad k")
	}
	x.K = int(k)
	rootLen, err := next()
	if err != nil || rootLen > uint64(len(r)) {
		return nil, fmt.Errorf("bad root")
	}
	if x.Root, err = engram.CIDFromBytes(r[:rootLen]); err != nil {
		return nil, fmt.Errorf("bad root: %v", err)
	}
	r = r[rootLen:]
	n, err := next()
	if err != nil || n > maxKNNEdges || uint64(len(r)) != n*knnEdgeSize {
		return nil, fmt.Errorf("bad edge count")
	}
	x.Edges = make([]KNNEdge, n)
	for i := range x.Edges {
		e := &x.Edges[i]
		copy(e.Src[:], r[0:16])
		copy(e.Dst[:], r[16:32])
		e.Weight = math.Float32frombits(binary.BigEndian.Uint32(r[32:36]))
		r = r[knnEdgeSize:]
	}
	if err := x.Validate(); err != nil {
		return nil, err
	}
	return x, nil
}

// StoreKNNEdges persists the index for x.Root, whose block must be stored
// (ENOTFOUND otherwise), under an address derived from the root with domain
// separation. Storing the same index again writes nothing; storing a
// different one for the same root replaces it. GC removes the index when it
// removes the root block.
func (s *Store) StoreKNNEdges(ctx context.Context, x *KNNEdges) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := x.Validate(); err != nil {
		return fmt.Errorf("blockstore: store knn edges for %s: %w", x.Root, err)
	}
	key, val := knnKey(x.Root), encodeKNN(x)
	var same bool
	if err := s.view(func(tx *bolt.Tx) error {
		same = bytes.Equal(tx.Bucket(bucketKNN).Get(key), val)
		return nil
	}); err != nil {
		return fmt.Errorf("blockstore: store knn edges for %s: %w", x.Root, err)
	}
	if same {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBlocks).Get([]byte(x.Root.KeyString())) == nil {
			return notFound(x.Root)
		}
		return tx.Bucket(bucketKNN).Put(key, val)
	})
	if err != nil {
		return fmt.Errorf("blockstore: store knn edges for %s: %w", x.Root, err)
	}
	return nil
}

// LoadKNNEdges returns the index stored for root: ENOTFOUND if there is
// none, ECORRUPT if its bytes fail their checksum.
func (s *Store) LoadKNNEdges(ctx context.Context, root engram.CID) (*KNNEdges, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var val []byte
	if err := s.view(func(tx *bolt.Tx) error {
		val = bytes.Clone(tx.Bucket(bucketKNN).Get(knnKey(root)))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("blockstore: load knn edges for %s: %w", root, err)
	}
	if val == nil {
		return nil, fmt.Errorf("blockstore: load knn edges: %w", engram.NotFound("knn edge index for root", root))
	}
	x, err := decodeKNN(val)
	if err == nil && x.Root != root {
		err = fmt.Errorf("holds the index of %s", x.Root)
	}
	if err != nil {
		return nil, fmt.Errorf("blockstore: load knn edges for %s: %w", root,
			&engram.Error{Code: engram.ECORRUPT, Message: "stored knn edge index is corrupt", Err: err})
	}
	return x, nil
}

// sweepKNN deletes indexes whose root block is gone.
func sweepKNN(tx *bolt.Tx, st *GCStats) error {
	knn, blocks := tx.Bucket(bucketKNN), tx.Bucket(bucketBlocks)
	var dead [][]byte
	err := knn.ForEach(func(k, v []byte) error {
		if root, ok := knnRoot(v); ok && blocks.Get([]byte(root.KeyString())) == nil {
			dead = append(dead, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		if err := knn.Delete(k); err != nil {
			return err
		}
	}
	st.KNNSwept += len(dead)
	return nil
}

// knnRoot reads the root CID from an encoded index's header without checking
// the rest.
func knnRoot(b []byte) (engram.CID, bool) {
	if !bytes.HasPrefix(b, knnMagic) || len(b) < len(knnMagic)+1 {
		return engram.CID{}, false
	}
	r := b[len(knnMagic)+1:]
	if _, n := binary.Uvarint(r); n > 0 {
		r = r[n:]
	} else {
		return engram.CID{}, false
	}
	l, n := binary.Uvarint(r)
	if n <= 0 || l > uint64(len(r)-n) {
		return engram.CID{}, false
	}
	c, err := engram.CIDFromBytes(r[n : n+int(l)])
	return c, err == nil
}

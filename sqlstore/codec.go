package sqlstore

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/engramhq/engram"
)

// Conversions between domain values and column values.

func idBytes(u engram.UUID) []byte { return append([]byte(nil), u[:]...) }

func uuidFrom(b []byte) (engram.UUID, error) {
	var u engram.UUID
	if len(b) != len(u) {
		return u, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("stored id is %d bytes, want 16", len(b))}
	}
	copy(u[:], b)
	return u, nil
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// encodeVector packs float32s little-endian, 4 bytes each.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte, dim int) ([]float32, error) {
	if len(b) != 4*dim {
		return nil, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("stored vector is %d bytes, want %d for dimension %d", len(b), 4*dim, dim)}
	}
	v := make([]float32, dim)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// decodeDoc unmarshals a stored JSON document; a failure means the row is
// damaged, so it is ECORRUPT rather than a user error.
//
// Documents are written by encoding/json and read back with the Go team's
// encoding/json/v2 implementation (github.com/go-json-experiment/json),
// which decodes them about twice as fast: reading is most of the cost of
// listing episodes and of rebuilding a cache. Both agree on every document
// this package writes (TestDocsDecodeAlike). Episodes, the documents read
// most, go through decodeEpisodeDoc first (episodedoc.go), which decodes
// what this package writes several times faster and hands anything else
// back. v must be a zero value.
func decodeDoc(what string, doc []byte, v any) error {
	if ep, ok := v.(*engram.Episode); ok {
		if got, err := decodeEpisodeDoc(doc); err == nil {
			*ep = *got
			return nil
		}
	}
	if err := jsonv2.Unmarshal(doc, v); err != nil {
		return &engram.Error{Code: engram.ECORRUPT, Message: "stored " + what + " is not valid JSON", Err: err}
	}
	return nil
}

// Cursors are opaque to callers: base64url of a JSON array holding a kind tag
// and the sort key of the last row returned.

func encodeCursor(kind string, parts ...any) string {
	b, _ := json.Marshal(append([]any{kind}, parts...))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(kind, s string, dest ...any) error {
	bad := engram.Invalid("cursor", "is not a cursor from a previous page of this listing")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) > 4096 {
		return bad
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) != len(dest)+1 {
		return bad
	}
	var k string
	if json.Unmarshal(parts[0], &k) != nil || k != kind {
		return bad
	}
	for i, d := range dest {
		if json.Unmarshal(parts[i+1], d) != nil {
			return bad
		}
	}
	return nil
}

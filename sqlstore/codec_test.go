package sqlstore

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// TestDocsDecodeAlike: every record type, with every field filled with
// random values, decodes through decodeDoc to what encoding/json decodes.
func TestDocsDecodeAlike(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 200; i++ {
		for _, pair := range []struct{ in, v1, v2 any }{
			{new(engram.Episode), new(engram.Episode), new(engram.Episode)},
			{new(engram.Step), new(engram.Step), new(engram.Step)},
			{new(engram.Pattern), new(engram.Pattern), new(engram.Pattern)},
			{new(engram.Heuristic), new(engram.Heuristic), new(engram.Heuristic)},
		} {
			storetest.FillRandom(pair.in, rng)
			if st, ok := pair.in.(*engram.Step); ok {
				st.Parameters = json.RawMessage(`{"k":[1,"two",{"three":null}]}`)
			}
			if ep, ok := pair.in.(*engram.Episode); ok {
				for j := range ep.Steps {
					ep.Steps[j].Parameters = json.RawMessage(`{"a":1}`)
				}
			}
			doc, err := json.Marshal(pair.in)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(doc, pair.v1); err != nil {
				t.Fatal(err)
			}
			if err := decodeDoc("record", doc, pair.v2); err != nil {
				t.Fatalf("decodeDoc: %v\n%s", err, doc)
			}
			a, _ := json.Marshal(pair.v1)
			b, _ := json.Marshal(pair.v2)
			if string(a) != string(b) {
				t.Fatalf("decoders differ on %T\nv1: %s\nv2: %s", pair.in, a, b)
			}
		}
	}
}

// BenchmarkDocDigest and BenchmarkDocDecode compare what verifying a stored
// episode's digest costs with decoding it (docs/durable.md).
func BenchmarkDocDigest(b *testing.B) {
	doc, _ := json.Marshal(storetest.SampleEpisode(1))
	b.SetBytes(int64(len(doc)))
	for i := 0; i < b.N; i++ {
		docDigest(doc)
	}
}

func BenchmarkDocDecode(b *testing.B) {
	doc, _ := json.Marshal(storetest.SampleEpisode(1))
	b.SetBytes(int64(len(doc)))
	for i := 0; i < b.N; i++ {
		var ep engram.Episode
		if err := decodeDoc("episode", doc, &ep); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDocDecode6 decodes a 6-step storetest.RandomEpisode document
// (about 3.5 KB), the record a rebuild reads, with decodeDoc's strict
// options and with checks a verified digest would make redundant turned off
// (duplicate names, UTF-8): measured no faster, so decodeDoc stays strict.
func BenchmarkDocDecode6(b *testing.B) {
	doc, _ := json.Marshal(storetest.RandomEpisode(rand.New(rand.NewPCG(1, 1)), 6))
	// "decodeDoc" is what reads do: the episode decoder of episodedoc.go.
	b.Run("decodeDoc", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var ep engram.Episode
			if err := decodeDoc("episode", doc, &ep); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mode := range []struct {
		name string
		opts []jsonv2.Options
	}{
		{"strict", nil},
		{"trusted", []jsonv2.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for i := 0; i < b.N; i++ {
				var ep engram.Episode
				if err := jsonv2.Unmarshal(doc, &ep, mode.opts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// awkwardStrings are values encoding/json escapes or that are not ASCII.
var awkwardStrings = []string{
	"", "plain", `quote " and \ backslash`, "<tag> & amp", "tab\tnew\nline\rcr", "\x00\x01\x1f controls",
	"\u2028 line sep \u2029", "héllo wörld", "日本語", "emoji 😀 pair", "\xff\xfe invalid utf-8", "a/b",
}

// randomDoc is a 6-step episode with every field set, some strings
// awkward, encoded as this package stores it.
func randomDoc(t testing.TB, rng *rand.Rand) []byte {
	t.Helper()
	var ep *engram.Episode
	if rng.IntN(2) == 0 {
		ep = storetest.RandomEpisode(rng, rng.IntN(8))
	} else {
		ep = new(engram.Episode)
		storetest.FillRandom(ep, rng)
		for i := range ep.Steps {
			ep.Steps[i].Parameters = json.RawMessage(`{"k":[1,-2.5e3,"two",{"three":true,"four":false}],"s":"\u00e9"}`)
		}
	}
	pick := func() string { return awkwardStrings[rng.IntN(len(awkwardStrings))] }
	ep.TaskDescription = pick() + ep.TaskDescription
	ep.Tags = append(ep.Tags, pick())
	if ep.Metadata == nil {
		ep.Metadata = map[string]string{}
	}
	ep.Metadata[pick()] = pick()
	for i := range ep.Steps {
		ep.Steps[i].Action = pick()
		ep.Steps[i].LatencyMS = rng.Int64N(1<<62) - 1<<61
		ep.Steps[i].Timestamp = time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).UTC()
	}
	if ep.Reward != nil {
		ep.Reward.Total = []float64{0, -1, 1e300, 5e-324, math.Pi, -0.000123}[rng.IntN(6)]
	}
	if rng.IntN(4) == 0 {
		ep.EndTime = nil
		ep.Outcome = nil
	}
	if ep.Steps == nil {
		ep.Steps = []engram.Step{}
	}
	doc, err := json.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestEpisodeDocAcceptsWhatIsStored: every document this package writes
// takes the fast decoder, and decodes to what encoding/json/v2 decodes.
func TestEpisodeDocAcceptsWhatIsStored(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for i := 0; i < 500; i++ {
		doc := randomDoc(t, rng)
		got, err := decodeEpisodeDoc(doc)
		if err != nil {
			t.Fatalf("declined a stored document:\n%s", doc)
		}
		var want engram.Episode
		if err := jsonv2.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("decoders differ on\n%s\nfast: %+v\nv2:   %+v", doc, got, &want)
		}
	}
}

// TestEpisodeDocDeclines: documents not in the stored form go to the
// general decoder, which gives its result (or its error) as before.
func TestEpisodeDocDeclines(t *testing.T) {
	doc := string(randomDoc(t, rand.New(rand.NewPCG(1, 2))))
	for name, in := range map[string]string{
		"Whitespace":      strings.Replace(doc, `,"task_type"`, `, "task_type"`, 1),
		"UnknownMember":   strings.Replace(doc, `{"episode_id"`, `{"extra":1,"episode_id"`, 1),
		"Null":            strings.Replace(doc, `"steps":[`, `"patterns":null,"steps":[`, 1),
		"DuplicateMember": strings.Replace(doc, `"task_type"`, `"task_description":"x","task_type"`, 1),
		"OffsetTime":      strings.Replace(doc, `Z"`, `+02:00"`, 1),
		"FractionInt":     strings.Replace(doc, `"step_number":1,`, `"step_number":1.0,`, 1),
		"Truncated":       doc[:len(doc)-1],
		"Trailing":        doc + " ",
		"NotAnObject":     `[]`,
		"DuplicateMapKey": strings.Replace(doc, `"metadata":{`, `"metadata":{"k":"a","k":"b",`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			if in == doc {
				t.Fatalf("the edit did not apply to %s", doc)
			}
			if _, err := decodeEpisodeDoc([]byte(in)); !errors.Is(err, errDecline) {
				t.Fatalf("accepted %s", in)
			}
			var want, got engram.Episode
			wantErr := jsonv2.Unmarshal([]byte(in), &want)
			err := decodeDoc("episode", []byte(in), &got)
			if (wantErr == nil) != (err == nil) {
				t.Fatalf("decodeDoc: %v; encoding/json/v2: %v", err, wantErr)
			}
			if err != nil {
				var e *engram.Error
				if !errors.As(err, &e) || e.Code != engram.ECORRUPT {
					t.Fatalf("error %v, want ECORRUPT", err)
				}
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decodeDoc differs from encoding/json/v2 on %s", in)
			}
		})
	}
}

// TestEpisodeDocMutations checks FuzzEpisodeDoc's property on stored
// documents with random bytes changed, inserted or removed: the mutations
// most likely to hit a decoder's edge cases, run on every test run.
func TestEpisodeDocMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	const alphabet = "{}[]:,\"0123456789-+.eEZTtrufalsn \\u\xff\xc3\xa9\x00"
	accepted := 0
	for i := 0; i < 4000; i++ {
		doc := randomDoc(t, rng)
		for n := 1 + rng.IntN(3); n > 0; n-- {
			at := rng.IntN(len(doc))
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				doc[at] = c
			case 1:
				doc = append(doc[:at], append([]byte{c}, doc[at:]...)...)
			default:
				doc = append(doc[:at], doc[at+1:]...)
			}
		}
		got, err := decodeEpisodeDoc(doc)
		if err != nil {
			if !errors.Is(err, errDecline) {
				t.Fatalf("error %v, want errDecline", err)
			}
			continue
		}
		accepted++
		var want engram.Episode
		if err := jsonv2.Unmarshal(doc, &want); err != nil {
			t.Fatalf("fast decoder accepted what encoding/json/v2 rejects (%v):\n%q", err, doc)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("decoders differ on %q\nfast: %s\nv2:   %s", doc, dump(got), dump(&want))
		}
	}
	if accepted == 0 {
		t.Fatal("no mutated document was accepted; the property was never checked")
	}
}

// FuzzEpisodeDoc: whatever the fast decoder accepts, encoding/json/v2
// accepts and decodes to the same episode; it never panics.
func FuzzEpisodeDoc(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 8; i++ {
		f.Add(randomDoc(f, rng))
	}
	f.Add([]byte(`{"episode_id":"","steps":[],"start_time":"2024-02-29T23:59:59.123456789Z"}`))
	f.Add([]byte(`{"steps":[{"parameters":{"a":{"b":[1,2,{"c":"\ud83d\ude00"}]}},"latency_ms":-9223372036854775807}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := decodeEpisodeDoc(doc)
		if err != nil {
			if !errors.Is(err, errDecline) {
				t.Fatalf("error %v, want errDecline", err)
			}
			return
		}
		var want engram.Episode
		if err := jsonv2.Unmarshal(doc, &want); err != nil {
			t.Fatalf("fast decoder accepted what encoding/json/v2 rejects (%v):\n%q", err, doc)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("decoders differ on %q\nfast: %s\nv2:   %s", doc, dump(got), dump(&want))
		}
	})
}

func dump(ep *engram.Episode) string { return fmt.Sprintf("%#v", *ep) }

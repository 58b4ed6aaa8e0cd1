package dag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/fxamacker/cbor/v2"
)

// link is the DAG-CBOR encoding of a link to c, for building test blocks.
func link(c engram.CID) cbor.Tag {
	return cbor.Tag{Number: 42, Content: append([]byte{0}, c.Bytes()...)}
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLinks(t *testing.T) {
	a, b, c := SumRaw([]byte("a")), SumRaw([]byte("b")), SumDagCBOR([]byte{0xa0})
	for _, tc := range []struct {
		name string
		v    any
		want []engram.CID
	}{
		{"NoLinks", map[string]any{"x": 1, "y": "text", "z": []byte{42, 0}}, nil},
		{"OneLink", map[string]any{"parent": link(a)}, []engram.CID{a}},
		{"InOrderWithDuplicates", []any{link(b), 1.5, []any{link(a), map[string]any{"k": link(c)}}, link(b)}, []engram.CID{b, a, c, b}},
		{"LinkAfterLongString", []any{strings.Repeat("x", 70_000), link(c)}, []engram.CID{c}},
		{"BareLink", link(a), []engram.CID{a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Links(encode(t, tc.v))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Links = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLinksRejects(t *testing.T) {
	a := SumRaw([]byte("a"))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"ErrEmpty", nil, "not well-formed"},
		{"ErrTruncated", encode(t, []any{1, 2, 3})[:3], "not well-formed"},
		{"ErrTrailingData", append(encode(t, 1), 1), "not well-formed"},
		{"ErrIndefiniteLength", []byte{0x9f, 0x01, 0xff}, "not well-formed"},
		{"ErrOtherTag", encode(t, cbor.Tag{Number: 1, Content: 0}), "tag 1 at offset 0"},
		{"ErrLinkToText", encode(t, cbor.Tag{Number: 42, Content: "bafy"}), "wraps major type 3"},
		{"ErrLinkWithoutPrefix", encode(t, cbor.Tag{Number: 42, Content: a.Bytes()}), "0x00 multibase prefix"},
		{"ErrLinkToGarbage", encode(t, cbor.Tag{Number: 42, Content: []byte{0, 1, 2, 3}}), "link at offset 0"},
		{"ErrTooDeep", bytes.Repeat([]byte{0x81}, MaxNesting+1), "not well-formed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Links(tc.data)
			if err == nil {
				t.Fatalf("Links(%x) = %v, want an error", tc.data, got)
			}
			if !errors.Is(err, engram.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Links(%x): %v; want EINVALID saying %q", tc.data, err, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	a := SumRaw([]byte("a"))
	block := encode(t, map[string]any{"l": link(a)})
	c := SumDagCBOR(block)
	links, err := Check(c, block)
	if err != nil || !slices.Equal(links, []engram.CID{a}) {
		t.Fatalf("Check = %v, %v", links, err)
	}
	bad := []byte{0xc1, 0x00} // tag 1: well-formed CBOR, not DAG-CBOR
	if _, err := Check(SumDagCBOR(bad), bad); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("Check of tag-1 block: %v, want EINVALID", err)
	}
	if links, err := Check(SumRaw(bad), bad); err != nil || links != nil {
		t.Fatalf("Check of the same bytes as raw: %v, %v; want no links", links, err)
	}
}

// oracleLinks decodes data with fxamacker/cbor into generic values and
// collects tag-42 contents in document order.
func oracleLinks(data []byte) ([][]byte, error) {
	var v any
	dm, _ := cbor.DecOptions{IndefLength: cbor.IndefLengthForbidden, MaxNestedLevels: MaxNesting,
		UTF8: cbor.UTF8DecodeInvalid, DupMapKey: cbor.DupMapKeyQuiet}.DecMode()
	if err := dm.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	var out [][]byte
	var visit func(v any) error
	visit = func(v any) error {
		switch x := v.(type) {
		case cbor.Tag:
			if x.Number == 42 {
				b, _ := x.Content.([]byte)
				out = append(out, b)
				return nil
			}
			return visit(x.Content)
		case []any:
			for _, e := range x {
				if err := visit(e); err != nil {
					return err
				}
			}
		case map[any]any:
			// Map order is lost in decoding; the oracle compares sets for maps.
			for k, e := range x {
				if err := visit(k); err != nil {
					return err
				}
				if err := visit(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, visit(v)
}

// FuzzLinks checks link extraction never panics, reports only EINVALID, and
// finds the same links as a full decode with fxamacker/cbor.
func FuzzLinks(f *testing.F) {
	a, b := SumRaw([]byte("a")), SumDagCBOR([]byte{0xa0})
	f.Add(encode(f, map[string]any{"parent": link(a), "n": 1}))
	f.Add(encode(f, []any{link(a), []any{link(b)}, "x", -3, 2.5, true, nil}))
	f.Add(encode(f, link(b)))
	f.Add([]byte{0xd8, 0x2a, 0x41, 0x00})
	f.Add([]byte{0x9f, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		links, err := Links(data)
		if err != nil {
			if !errors.Is(err, engram.ErrInvalid) {
				t.Fatalf("Links(%x): %v is not EINVALID", data, err)
			}
			return
		}
		for _, c := range links {
			if !c.Defined() {
				t.Fatalf("Links(%x) returned the zero CID", data)
			}
		}
		want, err := oracleLinks(data)
		if err != nil {
			return // fxamacker rejects some well-formed items as values (e.g. unhashable map keys)
		}
		got := make([]string, len(links))
		for i, c := range links {
			got[i] = string(append([]byte{0}, c.Bytes()...))
		}
		exp := make([]string, len(want))
		for i, w := range want {
			exp[i] = string(w)
		}
		slices.Sort(got)
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Fatalf("Links(%x) = %q; a full decode finds %q", data, got, exp)
		}
	})
}

// memGetter is a map of verified blocks, enough to walk.
type memGetter map[engram.CID][]byte

func (m memGetter) Get(_ context.Context, c engram.CID) ([]byte, error) {
	d, ok := m[c]
	if !ok {
		return nil, engram.NotFound("block", c)
	}
	return d, nil
}

func (m memGetter) put(t *testing.T, v any) engram.CID {
	t.Helper()
	b := encode(t, v)
	c := SumDagCBOR(b)
	m[c] = b
	return c
}

func TestWalk(t *testing.T) {
	g := memGetter{}
	leaf := SumRaw([]byte("leaf"))
	g[leaf] = []byte("leaf")
	x := g.put(t, map[string]any{"name": "x", "l": link(leaf)})
	y := g.put(t, map[string]any{"name": "y", "l": []any{link(x), link(leaf)}})
	root := g.put(t, []any{link(y), link(x), link(y)})

	var order []engram.CID
	err := Walk(context.Background(), g, root, func(c engram.CID, data []byte) error {
		if !bytes.Equal(data, g[c]) {
			t.Fatalf("fn got wrong bytes for %s", c)
		}
		order = append(order, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []engram.CID{root, y, x, leaf}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}

	t.Run("SkipLinks", func(t *testing.T) {
		var seen []engram.CID
		err := Walk(context.Background(), g, root, func(c engram.CID, _ []byte) error {
			seen = append(seen, c)
			if c == y {
				return SkipLinks
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []engram.CID{root, y, x, leaf}; !slices.Equal(seen, want) {
			t.Fatalf("order %v, want %v (x reached from root directly)", seen, want)
		}
	})

	t.Run("ErrMissingBlockNamesParent", func(t *testing.T) {
		delete(g, leaf)
		err := Walk(context.Background(), g, root, func(engram.CID, []byte) error { return nil })
		if !errors.Is(err, engram.ErrNotFound) {
			t.Fatalf("walk with a missing leaf: %v, want ENOTFOUND", err)
		}
		if want := fmt.Sprintf("block %s (linked from %s)", leaf, x); !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	})

	t.Run("ErrFromCallback", func(t *testing.T) {
		boom := errors.New("boom")
		err := Walk(context.Background(), g, root, func(engram.CID, []byte) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
	})
}

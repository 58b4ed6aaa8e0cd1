package dag

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/engramhq/engram"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	_ "github.com/multiformats/go-multihash/register/blake3" // the oracle for BLAKE3 multihashes
)

func TestSumMatchesGoCid(t *testing.T) {
	inputs := [][]byte{nil, []byte("hello"), make([]byte, 100_000)}
	for _, codec := range []uint64{engram.CodecRaw, engram.CodecDagCBOR} {
		for _, hash := range []uint64{engram.HashSHA2_256, engram.HashBLAKE3} {
			for _, in := range inputs {
				got, err := Sum(codec, hash, in)
				if err != nil {
					t.Fatal(err)
				}
				mh, err := multihash.Sum(in, hash, -1)
				if err != nil {
					t.Fatal(err)
				}
				want := cid.NewCidV1(codec, mh)
				if got.String() != want.String() {
					t.Fatalf("Sum(0x%x, 0x%x, %d bytes) = %s; go-cid says %s", codec, hash, len(in), got, want)
				}
				back, err := ToCid(got)
				if err != nil || !back.Equals(want) {
					t.Fatalf("ToCid = %v, %v", back, err)
				}
			}
		}
	}
}

func TestBLAKE3KnownAnswer(t *testing.T) {
	// BLAKE3 of the empty input, from the BLAKE3 specification's test vectors.
	c, err := Sum(engram.CodecRaw, engram.HashBLAKE3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(c.Digest()); got != "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Fatalf("blake3(\"\") = %s", got)
	}
	if c.HashCode() != 0x1e {
		t.Fatalf("hash code 0x%x, want 0x1e", c.HashCode())
	}
}

func TestSumRejectsUnsupported(t *testing.T) {
	if _, err := Sum(0x70, engram.HashSHA2_256, nil); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("dag-pb codec: %v, want EINVALID", err)
	}
	if _, err := Sum(engram.CodecRaw, 0x13, nil); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("sha2-512: %v, want EINVALID", err)
	}
}

func TestVerify(t *testing.T) {
	data := []byte("some block")
	for _, hash := range []uint64{engram.HashSHA2_256, engram.HashBLAKE3} {
		c, _ := Sum(engram.CodecRaw, hash, data)
		if err := Verify(c, data); err != nil {
			t.Fatalf("Verify of matching bytes: %v", err)
		}
		err := Verify(c, []byte("some blocK"))
		var mm *MismatchError
		if !errors.As(err, &mm) || mm.CID != c {
			t.Fatalf("Verify of other bytes: %v, want *MismatchError for %s", err, c)
		}
		if want, _ := Sum(engram.CodecRaw, hash, []byte("some blocK")); mm.Got != want {
			t.Fatalf("MismatchError.Got = %s, want %s", mm.Got, want)
		}
	}
	// A structurally valid CID with an unsupported hash is invalid, not a mismatch.
	c, _ := engram.CIDFromBytes(append([]byte{1, 0x55, 0x13, 32}, make([]byte, 32)...))
	if err := Verify(c, data); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("Verify with sha2-512 code: %v, want EINVALID", err)
	}
}

func TestParseCIDOtherForms(t *testing.T) {
	v1 := SumRaw([]byte("hello"))
	gc, _ := ToCid(v1)
	b58, _ := gc.StringOfBase('z')
	v0 := cid.NewCidV0(gc.Hash()) // same multihash, dag-pb codec
	for _, tc := range []struct {
		name, in string
		want     engram.CID
	}{
		{"Canonical", v1.String(), v1},
		{"Base58", b58, v1},
		{"CIDv0BecomesV1", v0.String(), must(FromCid(cid.NewCidV1(cid.DagProtobuf, gc.Hash())))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCID(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseCID(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := ParseCID("not-a-cid"); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("ParseCID(garbage): %v, want EINVALID", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzParseCID checks the lenient parser never panics and agrees with the
// canonical one: whatever engram.ParseCID accepts, go-cid accepts as the same
// CID, and a CIDv1 go-cid reads from canonical text engram reads too.
func FuzzParseCID(f *testing.F) {
	f.Add(SumRaw([]byte("hello")).String())
	f.Add("QmaozNR7DZHQK1ZcU9p7QdrshMvXqWK6gpu5rmrkPdT3L4")
	f.Add("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA")
	f.Add("f01551220")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCID(s)
		if err != nil {
			if !errors.Is(err, engram.ErrInvalid) {
				t.Fatalf("ParseCID(%q): %v is not EINVALID", s, err)
			}
		} else if !c.Defined() {
			t.Fatalf("ParseCID(%q) returned the zero CID", s)
		}
		strict, serr := engram.ParseCID(s)
		gc, gerr := cid.Decode(s)
		if serr == nil {
			if gerr != nil {
				t.Fatalf("engram accepts %q, go-cid does not: %v", s, gerr)
			}
			if string(gc.Bytes()) != strict.KeyString() {
				t.Fatalf("%q: engram reads %x, go-cid %x", s, strict.Bytes(), gc.Bytes())
			}
		} else if gerr == nil && gc.Version() == 1 && gc.String() == s && len(gc.Hash()) <= 2+engram.MaxDigestLen+8 {
			if d, derr := multihash.Decode(gc.Hash()); derr == nil && d.Length <= engram.MaxDigestLen {
				t.Fatalf("go-cid reads canonical %q, engram does not: %v", s, serr)
			}
		}
	})
}

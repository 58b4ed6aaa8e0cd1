package engram

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// helloRaw is the SHA2-256 raw-codec CIDv1 of "hello", as other CID
// implementations spell it.
const helloRaw = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"

func TestParseCIDRoundTrip(t *testing.T) {
	c, err := ParseCID(helloRaw)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != helloRaw {
		t.Fatalf("String() = %s, want %s", got, helloRaw)
	}
	if c.Codec() != CodecRaw || c.HashCode() != HashSHA2_256 {
		t.Fatalf("codec 0x%x hash 0x%x, want raw sha2-256", c.Codec(), c.HashCode())
	}
	// sha256("hello")
	if got := hex.EncodeToString(c.Digest()); got != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("digest %s", got)
	}
	d, err := CIDFromBytes(c.Bytes())
	if err != nil || d != c {
		t.Fatalf("CIDFromBytes(Bytes()) = %v, %v; want %v", d, err, c)
	}
	text, err := c.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var u CID
	if err := u.UnmarshalText(text); err != nil || u != c {
		t.Fatalf("UnmarshalText = %v, %v", u, err)
	}
}

func TestZeroCID(t *testing.T) {
	var c CID
	if c.Defined() || c.String() != "undefined" || c.Codec() != 0 || c.Digest() != nil {
		t.Fatalf("zero CID: defined %v string %q codec %d", c.Defined(), c.String(), c.Codec())
	}
	if _, err := c.MarshalText(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MarshalText of zero CID: %v, want EINVALID", err)
	}
}

func TestParseCIDRejects(t *testing.T) {
	valid, _ := ParseCID(helloRaw)
	b := valid.Bytes()
	enc := func(b []byte) string { return "b" + cidBase32.EncodeToString(b) }
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"ErrEmpty", "", "is empty"},
		{"ErrOtherMultibase", "z" + helloRaw[1:], "does not start with"},
		{"ErrUpperCase", "B" + strings.ToUpper(helloRaw[1:]), "does not start with"},
		{"ErrUpperCaseBody", "b" + strings.ToUpper(helloRaw[1:]), "not lower-case base32"},
		{"ErrCIDv0", "QmaozNR7DZHQK1ZcU9p7QdrshMvXqWK6gpu5rmrkPdT3L4", "does not start with"},
		{"ErrBadAlphabet", "bafk1", "not lower-case base32"},
		{"ErrNonCanonical", helloRaw[:len(helloRaw)-1] + "r", "not canonical"},
		{"ErrVersion0", enc(cat([]byte{0}, b[1:])), "version is 0"},
		{"ErrVersion2", enc(cat([]byte{2}, b[1:])), "version is 2"},
		{"ErrTruncatedDigest", enc(b[:len(b)-1]), "digest is 31 bytes"},
		{"ErrTrailingBytes", enc(cat(b, []byte{0})), "1 bytes after"},
		{"ErrNonMinimalVarint", enc(cat([]byte{0x81, 0x00}, b[1:])), "not minimally encoded"},
		{"ErrLongVarint", enc([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), "longer than 9 bytes"},
		{"ErrOnlyVersion", enc([]byte{1}), "codec: missing"},
		{"ErrDigestTooLong", enc([]byte{1, 0x55, 0x12, 65}), "limit is 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCID(tc.in)
			if err == nil {
				t.Fatalf("ParseCID(%q) = %v, want an error", tc.in, c)
			}
			if !errors.Is(err, ErrInvalid) || ErrorField(err) != "cid" {
				t.Fatalf("error %v: code %s field %q, want invalid cid", err, ErrorCode(err), ErrorField(err))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestCIDCompareIsBinaryOrder(t *testing.T) {
	a, _ := CIDFromBytes([]byte{1, 0x55, 0x12, 1, 0x00})
	b, _ := CIDFromBytes([]byte{1, 0x55, 0x12, 1, 0xff})
	if a.Compare(b) >= 0 || b.Compare(a) <= 0 || a.Compare(a) != 0 {
		t.Fatalf("Compare not binary order: %v %v", a, b)
	}
}

func FuzzParseCID(f *testing.F) {
	f.Add(helloRaw)
	f.Add("b")
	f.Add("bafy")
	f.Add("QmaozNR7DZHQK1ZcU9p7QdrshMvXqWK6gpu5rmrkPdT3L4")
	f.Add("baeaqeaq")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseCID(%q) error %v is not EINVALID", s, err)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("ParseCID(%q).String() = %q: text form not unique", s, c.String())
		}
		d, err := CIDFromBytes(c.Bytes())
		if err != nil || d != c {
			t.Fatalf("CIDFromBytes(%x) = %v, %v", c.Bytes(), d, err)
		}
		if len(c.Digest()) > MaxDigestLen {
			t.Fatalf("digest of %d bytes accepted", len(c.Digest()))
		}
	})
}

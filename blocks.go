package engram

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"iter"
	"strings"
)

// Multicodec codes for the block formats engram stores, and the multihash
// codes of the hash functions that name them.
const (
	CodecRaw     = 0x55 // raw bytes; a leaf, no links
	CodecDagCBOR = 0x71 // DAG-CBOR; links are CBOR tag 42
	HashSHA2_256 = 0x12 // SHA2-256, the default
	HashBLAKE3   = 0x1e // BLAKE3 with a 32-byte digest
)

// MaxBlockSize is the largest block a Blockstore accepts, in bytes.
const MaxBlockSize = 4 << 20

// MaxDigestLen is the longest multihash digest a CID may carry.
const MaxDigestLen = 64

// CID names a block by its content: a version-1 content identifier
// (multicodec of the block format, multihash of its bytes). It holds the
// binary form, is comparable and can be a map key. The zero CID is undefined;
// every CID returned by CIDFromBytes or ParseCID is defined.
//
// CID checks structure only (version, varints, digest length). Which codecs
// and hash functions a store accepts is the store's business.
type CID struct{ b string }

// cidBase32 is the multibase "b" alphabet: RFC 4648 base32, lower case, no padding.
var cidBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// CIDFromBytes parses the binary form of a CIDv1. The error is EINVALID
// naming "cid" and says what is wrong; b is not retained.
func CIDFromBytes(b []byte) (CID, error) {
	if _, _, err := splitCID(b); err != nil {
		return CID{}, Invalid("cid", "%v", err)
	}
	return CID{string(b)}, nil
}

// ParseCID parses the text form String returns: "b" then the binary CIDv1 in
// lower-case base32 without padding. It accepts nothing else (no other
// multibase, no CIDv0), so every CID has exactly one text form. The error is
// EINVALID naming "cid".
func ParseCID(s string) (CID, error) {
	if s == "" {
		return CID{}, Invalid("cid", "is empty")
	}
	if s[0] != 'b' {
		return CID{}, Invalid("cid", "%q does not start with %q (base32 CIDv1)", truncate(s, 80), "b")
	}
	b, err := cidBase32.DecodeString(s[1:])
	if err != nil {
		return CID{}, Invalid("cid", "%q is not lower-case base32: %v", truncate(s, 80), err)
	}
	// Base32 leaves spare bits in the last character; demand they are zero
	// so that no two strings name the same CID.
	if cidBase32.EncodeToString(b) != s[1:] {
		return CID{}, Invalid("cid", "%q is not canonical base32", truncate(s, 80))
	}
	return CIDFromBytes(b)
}

// Defined reports whether c names a block (is not the zero CID).
func (c CID) Defined() bool { return c.b != "" }

// Bytes returns the binary form. The caller may modify the result.
func (c CID) Bytes() []byte { return []byte(c.b) }

// KeyString returns the binary form as a string, for map keys and byte-wise
// comparison without allocating.
func (c CID) KeyString() string { return c.b }

// Compare orders CIDs by their binary form, the order Current and AllCIDs use.
func (c CID) Compare(d CID) int { return strings.Compare(c.b, d.b) }

// Codec returns the multicodec of the block format (CodecRaw, CodecDagCBOR,
// ...), or 0 for the zero CID.
func (c CID) Codec() uint64 {
	codec, _, _ := splitCID([]byte(c.b))
	return codec
}

// HashCode returns the multihash function code (HashSHA2_256, ...), and Digest
// the digest. Both are zero for the zero CID.
func (c CID) HashCode() uint64 {
	_, mh, _ := splitCID([]byte(c.b))
	code, _, _ := splitMultihash(mh)
	return code
}

// Digest returns the hash digest c carries.
func (c CID) Digest() []byte {
	_, mh, _ := splitCID([]byte(c.b))
	_, d, _ := splitMultihash(mh)
	return d
}

// String returns the canonical text form ("bafy..."), or "undefined" for the
// zero CID.
func (c CID) String() string {
	if c.b == "" {
		return "undefined"
	}
	return "b" + cidBase32.EncodeToString([]byte(c.b))
}

// MarshalText encodes c as String does; the zero CID is an error.
func (c CID) MarshalText() ([]byte, error) {
	if c.b == "" {
		return nil, Invalid("cid", "is undefined")
	}
	return []byte(c.String()), nil
}

// UnmarshalText parses b as ParseCID does.
func (c *CID) UnmarshalText(b []byte) error {
	v, err := ParseCID(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// splitCID checks b is a CIDv1 and returns its codec and multihash.
func splitCID(b []byte) (codec uint64, mh []byte, err error) {
	if len(b) == 0 {
		return 0, nil, fmt.Errorf("is empty")
	}
	version, n, err := uvarint(b)
	if err != nil {
		return 0, nil, fmt.Errorf("version: %v", err)
	}
	if version != 1 {
		return 0, nil, fmt.Errorf("version is %d; only CIDv1 is supported", version)
	}
	b = b[n:]
	codec, n, err = uvarint(b)
	if err != nil {
		return 0, nil, fmt.Errorf("codec: %v", err)
	}
	mh = b[n:]
	if _, _, err := splitMultihash(mh); err != nil {
		return 0, nil, err
	}
	return codec, mh, nil
}

// splitMultihash checks mh is exactly one multihash and returns its parts.
func splitMultihash(mh []byte) (code uint64, digest []byte, err error) {
	code, n, err := uvarint(mh)
	if err != nil {
		return 0, nil, fmt.Errorf("multihash code: %v", err)
	}
	mh = mh[n:]
	length, n, err := uvarint(mh)
	if err != nil {
		return 0, nil, fmt.Errorf("multihash length: %v", err)
	}
	mh = mh[n:]
	switch {
	case length > MaxDigestLen:
		return 0, nil, fmt.Errorf("digest length is %d; the limit is %d", length, MaxDigestLen)
	case uint64(len(mh)) < length:
		return 0, nil, fmt.Errorf("digest is %d bytes; the multihash says %d", len(mh), length)
	case uint64(len(mh)) > length:
		return 0, nil, fmt.Errorf("%d bytes after the %d-byte digest", uint64(len(mh))-length, length)
	}
	return code, mh, nil
}

// uvarint reads a multiformats unsigned varint: at most 9 bytes, minimally encoded.
func uvarint(b []byte) (uint64, int, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, fmt.Errorf("missing")
	case n < 0 || n > 9:
		return 0, 0, fmt.Errorf("varint longer than 9 bytes")
	case n > 1 && b[n-1] == 0:
		return 0, 0, fmt.Errorf("varint is not minimally encoded")
	}
	return v, n, nil
}

// Block is a block's name and bytes.
type Block struct {
	CID  CID
	Data []byte
}

// Blockstore holds immutable blocks named by the hash of their bytes. Safe
// for concurrent use.
//
// Get never returns bytes that do not hash to the CID asked for: it re-hashes
// what it read and reports a mismatch as ECORRUPT naming the CID. An absent
// block is ENOTFOUND. The returned slice belongs to the caller.
//
// Put stores data under c after checking data hashes to c (EINVALID if not,
// or if c's codec or hash function is not supported, ETOOLARGE over
// MaxBlockSize). Putting a block that is present is a cheap no-op. PutMany
// does the same for many blocks, all or none, in one durable step. When Put or
// PutMany returns nil the blocks are durable.
//
// Delete removes a block; deleting an absent block is not an error.
//
// AllCIDs streams every stored CID in binary order without holding all of
// them in memory. Blocks put or deleted during the iteration may or may not be
// seen; every block present for its whole duration is. Stop early by
// breaking out of the loop; an error ends the iteration.
type Blockstore interface {
	Has(ctx context.Context, c CID) (bool, error)
	Get(ctx context.Context, c CID) ([]byte, error)
	Put(ctx context.Context, c CID, data []byte) error
	PutMany(ctx context.Context, blocks []Block) error
	Delete(ctx context.Context, c CID) error
	AllCIDs(ctx context.Context) iter.Seq2[CID, error]
}

// OpHeads is the small mutable set naming the current operations of a
// versioned graph. Safe for concurrent use, and across processes where the
// implementation shares state between them.
//
// Current returns the set sorted by CID.Compare; an empty set is a nil or
// empty slice and no error.
//
// Update adds add and removes every CID in supersedes, atomically: a
// concurrent Update never loses a head another one added, and a reader sees
// the set before or after, never half of it. add is in the set afterwards
// even if supersedes lists it; superseding a CID that is not a head is not an
// error (a concurrent updater may have superseded it first). An
// implementation that also stores blocks refuses, with ENOTFOUND, a head whose
// block it does not hold, so heads never name a missing block.
type OpHeads interface {
	Current(ctx context.Context) ([]CID, error)
	Update(ctx context.Context, add CID, supersedes []CID) error
}

// TrustedPutter is implemented by Blockstores that can store a block without
// hashing it, for callers that computed c from these very bytes. Get still
// verifies what it reads, so a wrong trusted put surfaces as ECORRUPT, never
// as wrong bytes. Without it, use Put.
type TrustedPutter interface {
	PutTrusted(ctx context.Context, c CID, data []byte) error
}

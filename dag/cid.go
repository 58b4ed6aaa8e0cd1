// Package dag names blocks by their content and follows the links between
// them: it computes and checks CIDs (CIDv1; codecs raw and DAG-CBOR; hashes
// SHA2-256 and BLAKE3-256), extracts the CBOR tag-42 links of DAG-CBOR blocks,
// and walks the graph they form over any engram.Blockstore.
//
// It owns the rules every Blockstore implementation shares, so that an
// embedded store and a blob-backed one accept, verify and traverse exactly the
// same blocks. It stores nothing itself.
package dag

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/engramhq/engram"
	"github.com/ipfs/go-cid"
	"lukechampine.com/blake3"
)

// DigestLen is the digest length of both supported hash functions.
const DigestLen = 32

// Sum returns the CID of data as a block of codec (engram.CodecRaw or
// engram.CodecDagCBOR) hashed with hash (engram.HashSHA2_256 or
// engram.HashBLAKE3). It does not check that data is valid for codec; Check
// does.
func Sum(codec, hash uint64, data []byte) (engram.CID, error) {
	if err := checkPrefix(codec, hash, DigestLen); err != nil {
		return engram.CID{}, err
	}
	var d [DigestLen]byte
	digest(hash, data, &d)
	return cidOf(codec, hash, d[:]), nil
}

// SumRaw returns the SHA2-256 CID of data as a raw block.
func SumRaw(data []byte) engram.CID {
	d := sha256.Sum256(data)
	return cidOf(engram.CodecRaw, engram.HashSHA2_256, d[:])
}

// SumDagCBOR returns the SHA2-256 CID of data as a DAG-CBOR block.
func SumDagCBOR(data []byte) engram.CID {
	d := sha256.Sum256(data)
	return cidOf(engram.CodecDagCBOR, engram.HashSHA2_256, d[:])
}

func digest(hash uint64, data []byte, d *[DigestLen]byte) {
	if hash == engram.HashBLAKE3 {
		*d = blake3.Sum256(data)
		return
	}
	*d = sha256.Sum256(data)
}

// cidOf builds the binary CID; codec and hash are the supported
// one-byte-varint codes, so the layout is fixed.
func cidOf(codec, hash uint64, d []byte) engram.CID {
	var b [4 + DigestLen]byte
	b[0], b[1], b[2], b[3] = 1, byte(codec), byte(hash), byte(len(d))
	copy(b[4:], d)
	c, err := engram.CIDFromBytes(b[:])
	if err != nil {
		panic("dag: built an invalid CID: " + err.Error()) // unreachable: the layout above is a valid CIDv1
	}
	return c
}

// CheckPrefix reports, as an EINVALID error naming "cid", whether c uses a
// codec and hash function this package supports.
func CheckPrefix(c engram.CID) error {
	if !c.Defined() {
		return engram.Invalid("cid", "is undefined")
	}
	return checkPrefix(c.Codec(), c.HashCode(), len(c.Digest()))
}

func checkPrefix(codec, hash uint64, n int) error {
	if codec != engram.CodecRaw && codec != engram.CodecDagCBOR {
		return engram.Invalid("cid", "codec 0x%x is not supported (want raw 0x55 or dag-cbor 0x71)", codec)
	}
	if hash != engram.HashSHA2_256 && hash != engram.HashBLAKE3 {
		return engram.Invalid("cid", "hash function 0x%x is not supported (want sha2-256 0x12 or blake3 0x1e)", hash)
	}
	if n != DigestLen {
		return engram.Invalid("cid", "digest is %d bytes; want %d", n, DigestLen)
	}
	return nil
}

// MismatchError says a block's bytes do not hash to its CID.
type MismatchError struct {
	CID engram.CID // the name the bytes were stored or asked for under
	Got engram.CID // what they hash to
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("bytes hash to %s, not %s", e.Got, e.CID)
}

// Verify re-hashes data and returns nil if it hashes to c, a *MismatchError
// if it does not, and an EINVALID error if c's codec or hash function is not
// supported. It does not look inside data; Check does.
func Verify(c engram.CID, data []byte) error {
	if err := CheckPrefix(c); err != nil {
		return err
	}
	hash := c.HashCode()
	var d [DigestLen]byte
	digest(hash, data, &d)
	if !bytes.Equal(d[:], c.Digest()) {
		return &MismatchError{CID: c, Got: cidOf(c.Codec(), hash, d[:])}
	}
	return nil
}

// ParseCID parses a CID in any text form go-cid accepts (any multibase,
// CIDv0 "Qm..." converted to CIDv1), for people pasting CIDs from other
// tools. engram.ParseCID accepts only the canonical form and is what APIs use.
func ParseCID(s string) (engram.CID, error) {
	if c, err := engram.ParseCID(s); err == nil {
		return c, nil
	}
	c, err := cid.Decode(s)
	if err != nil {
		return engram.CID{}, engram.Invalid("cid", "%q is not a CID: %v", truncate(s, 80), err)
	}
	return FromCid(c)
}

// FromCid converts a go-cid CID (CIDv0 becomes the equivalent CIDv1).
func FromCid(c cid.Cid) (engram.CID, error) {
	if !c.Defined() {
		return engram.CID{}, engram.Invalid("cid", "is undefined")
	}
	if c.Version() == 0 {
		c = cid.NewCidV1(c.Type(), c.Hash())
	}
	return engram.CIDFromBytes(c.Bytes())
}

// ToCid converts c to a go-cid CID.
func ToCid(c engram.CID) (cid.Cid, error) {
	return cid.Cast(c.Bytes())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

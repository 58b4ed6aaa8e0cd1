package dag

import (
	"encoding/binary"
	"fmt"

	"github.com/engramhq/engram"
	"github.com/fxamacker/cbor/v2"
)

// linkTag is the CBOR tag DAG-CBOR uses for a link: its content is a byte
// string holding 0x00 (the identity multibase) and the binary CID.
const linkTag = 42

// MaxNesting is how deeply arrays, maps and tags may nest in a DAG-CBOR block.
const MaxNesting = 256

// wellformed checks CBOR syntax and the structural limits DAG-CBOR needs:
// exactly one data item, definite lengths only.
var wellformed = mustDecMode(cbor.DecOptions{
	IndefLength:      cbor.IndefLengthForbidden,
	MaxNestedLevels:  MaxNesting,
	MaxArrayElements: engram.MaxBlockSize,
	MaxMapPairs:      engram.MaxBlockSize,
})

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	dm, err := o.DecMode()
	if err != nil {
		panic("dag: bad CBOR options: " + err.Error()) // the options above are constants
	}
	return dm
}

// Links returns the CIDs data links to, in the order they appear, if data is
// a well-formed DAG-CBOR block: one definite-length CBOR item whose only tag
// is 42 wrapping a byte string of 0x00 and a CIDv1. Anything else is an
// EINVALID error naming "data" and saying what and where.
func Links(data []byte) ([]engram.CID, error) {
	return AppendLinks(nil, data)
}

// AppendLinks appends the links of DAG-CBOR data to dst, as Links does.
func AppendLinks(dst []engram.CID, data []byte) ([]engram.CID, error) {
	if err := wellformed.Wellformed(data); err != nil {
		return dst, engram.Invalid("data", "is not well-formed DAG-CBOR: %v", err)
	}
	dst, err := scanLinks(dst, data)
	if err != nil {
		return dst, engram.Invalid("data", "is not valid DAG-CBOR: %v", err)
	}
	return dst, nil
}

// scanLinks walks the CBOR item headers of data in order. Definite-length
// CBOR is a pre-order sequence of headers, so containers need no recursion:
// only string payloads are skipped.
func scanLinks(dst []engram.CID, data []byte) ([]engram.CID, error) {
	off := 0
	inLink := false // the previous header was tag 42
	linkAt := 0     // its offset
	for off < len(data) {
		start := off
		ib := data[off]
		off++
		major, ai := ib>>5, ib&0x1f
		var arg uint64
		switch {
		case ai < 24:
			arg = uint64(ai)
		case ai <= 27:
			n := 1 << (ai - 24)
			if len(data)-off < n {
				return dst, fmt.Errorf("header at offset %d is truncated", start)
			}
			var b [8]byte
			copy(b[8-n:], data[off:off+n])
			arg = binary.BigEndian.Uint64(b[:])
			off += n
		default:
			return dst, fmt.Errorf("additional information %d at offset %d (indefinite length or reserved)", ai, start)
		}
		if inLink && major != 2 {
			return dst, fmt.Errorf("tag 42 at offset %d wraps major type %d, not a byte string", linkAt, major)
		}
		switch major {
		case 2, 3: // byte and text strings
			if arg > uint64(len(data)-off) {
				return dst, fmt.Errorf("string at offset %d is truncated", start)
			}
			payload := data[off : off+int(arg)]
			off += int(arg)
			if inLink {
				c, err := linkCID(payload)
				if err != nil {
					return dst, fmt.Errorf("link at offset %d: %v", linkAt, err)
				}
				dst = append(dst, c)
				inLink = false
			}
		case 6:
			if arg != linkTag {
				return dst, fmt.Errorf("tag %d at offset %d (DAG-CBOR allows only tag 42)", arg, start)
			}
			inLink, linkAt = true, start
		}
	}
	if inLink {
		return dst, fmt.Errorf("tag 42 at the end wraps nothing")
	}
	return dst, nil
}

func linkCID(b []byte) (engram.CID, error) {
	if len(b) == 0 || b[0] != 0 {
		return engram.CID{}, fmt.Errorf("does not start with the 0x00 multibase prefix")
	}
	return engram.CIDFromBytes(b[1:])
}

// BlockLinks returns the links of a block by its codec: none for raw, Links
// for DAG-CBOR, and an EINVALID error for any other codec.
func BlockLinks(c engram.CID, data []byte) ([]engram.CID, error) {
	return AppendBlockLinks(nil, c, data)
}

// AppendBlockLinks appends the links of a block to dst, as BlockLinks does.
func AppendBlockLinks(dst []engram.CID, c engram.CID, data []byte) ([]engram.CID, error) {
	switch c.Codec() {
	case engram.CodecRaw:
		return dst, nil
	case engram.CodecDagCBOR:
		return AppendLinks(dst, data)
	}
	return dst, engram.Invalid("cid", "codec 0x%x is not supported (want raw 0x55 or dag-cbor 0x71)", c.Codec())
}

// Check verifies a block completely: data hashes to c, c's codec and hash
// are supported, and a DAG-CBOR block is valid DAG-CBOR. It returns the
// block's links. Hash mismatches are *MismatchError; the rest are EINVALID.
func Check(c engram.CID, data []byte) ([]engram.CID, error) {
	if err := Verify(c, data); err != nil {
		return nil, err
	}
	return BlockLinks(c, data)
}

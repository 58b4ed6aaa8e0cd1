package boltcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/engramhq/engram"
	"github.com/klauspost/compress/zstd"
)

// The record format. Every value in a record table is
//
//	offset  size  field
//	0       2     magic 0xEC 0x9A
//	2       1     record format version (recordVersion)
//	3       1     flags: bit 0 payload is a zstd frame; bits 4-7 record kind (1-4)
//	4       8     expiry: Unix nanoseconds, big-endian; 0 never expires
//	12      8     write tick: the cache's logical clock when the record was put
//	20      n     payload: the record in the codec of codec.go, maybe compressed
//	20+n    4     CRC-32C (Castagnoli), big-endian, of the key, then bytes 0..20+n
//
// The write tick orders records for LRU eviction after a reopen, together
// with the read ticks the cache persists lazily in its recency table.
// The checksum covers the key as well, so a record that a damaged index
// places under another key fails verification instead of answering for it.
const (
	recordMagic0  = 0xEC
	recordMagic1  = 0x9A
	recordVersion = 1
	headerSize    = 20
	trailerSize   = 4
	minRecordSize = headerSize + trailerSize

	flagZstd = 1 << 0

	// maxPayload bounds a decompressed payload. The largest valid record, an
	// episode at MaxEpisodeBytes as JSON, is smaller in this codec.
	maxPayload = 4 * engram.MaxEpisodeBytes
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// kind codes in the flags byte and the tables they live in.
type kindCode uint8

const (
	codeEpisode kindCode = iota + 1
	codePattern
	codeHeuristic
	codeEmbedding
	numKinds = int(codeEmbedding)
)

func kindOf(k engram.RecordKind) kindCode {
	switch k {
	case engram.KindEpisode:
		return codeEpisode
	case engram.KindPattern:
		return codePattern
	case engram.KindHeuristic:
		return codeHeuristic
	case engram.KindEmbedding:
		return codeEmbedding
	}
	return 0
}

func (c kindCode) String() string {
	switch c {
	case codeEpisode:
		return string(engram.KindEpisode)
	case codePattern:
		return string(engram.KindPattern)
	case codeHeuristic:
		return string(engram.KindHeuristic)
	case codeEmbedding:
		return string(engram.KindEmbedding)
	}
	return fmt.Sprintf("kind(%d)", uint8(c))
}

// record is a decoded record: exactly one of the pointers is set.
type record struct {
	kind    kindCode
	expires int64 // Unix nanoseconds; 0: never
	ep      *engram.Episode
	pat     *engram.Pattern
	heu     *engram.Heuristic
	emb     *engram.Embedding
}

// errBadRecord is the cause of every verification failure; the message says which check failed.
var errBadRecord = errors.New("bad record")

func badRecord(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRecord}, args...)...)
}

// codecs holds the compression state one cache shares between goroutines:
// zstd's EncodeAll and DecodeAll are safe for concurrent use.
type codecs struct {
	threshold int // compress payloads of at least this many bytes; < 0: never
	enc       *zstd.Encoder
	dec       *zstd.Decoder
}

func newCodecs(threshold, level int) (*codecs, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxPayload),
		zstd.IgnoreChecksum(true))
	if err != nil {
		return nil, err
	}
	return &codecs{threshold: threshold, enc: enc, dec: dec}, nil
}

func (c *codecs) close() { c.dec.Close() }

// encodeRecord appends the record of w (a put) under key to dst.
func (c *codecs) encodeRecord(dst, key []byte, w *engram.CacheWrite, expires int64, tick uint64) []byte {
	start := len(dst)
	dst = append(dst, recordMagic0, recordMagic1, recordVersion, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(expires))
	dst = binary.BigEndian.AppendUint64(dst, tick)
	e := encoder{b: dst}
	code := kindOf(w.Key.Kind)
	switch code {
	case codeEpisode:
		encodeEpisode(&e, w.Episode)
	case codePattern:
		encodePattern(&e, w.Pattern)
	case codeHeuristic:
		encodeHeuristic(&e, w.Heuristic)
	case codeEmbedding:
		encodeEmbedding(&e, w.Embedding)
	}
	dst = e.b
	flags := byte(code) << 4
	if payload := dst[start+headerSize:]; c.threshold >= 0 && len(payload) >= c.threshold {
		z := c.enc.EncodeAll(payload, make([]byte, 0, len(payload)/2))
		if len(z) < len(payload) {
			dst = append(dst[:start+headerSize], z...)
			flags |= flagZstd
		}
	}
	dst[start+3] = flags
	sum := crc32.Update(crc32.Update(0, castagnoli, key), castagnoli, dst[start:])
	return binary.BigEndian.AppendUint32(dst, sum)
}

// recordExpiry returns the expiry of an encoded record without verifying
// it. A damaged expiry can only make a record look expired, which is a miss.
func recordExpiry(val []byte) int64 {
	if len(val) < headerSize {
		return 0
	}
	return int64(binary.BigEndian.Uint64(val[4:12]))
}

// recordTick returns the write tick of an encoded record without verifying it.
func recordTick(val []byte) uint64 {
	if len(val) < headerSize {
		return 0
	}
	return binary.BigEndian.Uint64(val[12:20])
}

// verifyRecord checks the envelope of val under key: size, magic, version,
// kind and checksum. It does not decode the payload.
func verifyRecord(key, val []byte, want kindCode) error {
	if len(val) < minRecordSize {
		return badRecord("%d bytes is shorter than a record", len(val))
	}
	if val[0] != recordMagic0 || val[1] != recordMagic1 {
		return badRecord("bad magic %x", val[:2])
	}
	if val[2] != recordVersion {
		return badRecord("format version %d, want %d", val[2], recordVersion)
	}
	flags := val[3]
	if flags&^(flagZstd|0xF0) != 0 {
		return badRecord("unknown flags %#x", flags)
	}
	if got := kindCode(flags >> 4); got != want {
		return badRecord("holds a %s, want %s", got, want)
	}
	n := len(val) - trailerSize
	sum := crc32.Update(crc32.Update(0, castagnoli, key), castagnoli, val[:n])
	if got := binary.BigEndian.Uint32(val[n:]); got != sum {
		return badRecord("checksum %08x, want %08x", got, sum)
	}
	return nil
}

// decodeRecord verifies val under key and decodes it. Any failure is an
// errBadRecord; it never panics, whatever val holds.
func (c *codecs) decodeRecord(key, val []byte, want kindCode) (record, error) {
	if err := verifyRecord(key, val, want); err != nil {
		return record{}, err
	}
	payload := val[headerSize : len(val)-trailerSize]
	if val[3]&flagZstd != 0 {
		var err error
		payload, err = c.dec.DecodeAll(payload, nil)
		if err != nil {
			return record{}, badRecord("decompress: %v", err)
		}
		return decodePayload(payload, true, want, recordExpiry(val))
	}
	return decodePayload(payload, false, want, recordExpiry(val))
}

// decodePayload decodes payload, which it copies unless owned: the decoded
// record then shares the payload's memory.
func decodePayload(payload []byte, owned bool, kind kindCode, expires int64) (record, error) {
	if !owned {
		payload = bytes.Clone(payload)
	}
	d := decoder{s: payload}
	r := record{kind: kind, expires: expires}
	switch kind {
	case codeEpisode:
		r.ep = decodeEpisode(&d)
	case codePattern:
		r.pat = decodePattern(&d)
	case codeHeuristic:
		r.heu = decodeHeuristic(&d)
	case codeEmbedding:
		r.emb = decodeEmbedding(&d)
	default:
		return record{}, badRecord("unknown kind %d", kind)
	}
	if d.err != nil {
		return record{}, badRecord("payload: %v", d.err)
	}
	if d.i != len(d.s) {
		return record{}, badRecord("%d bytes after the payload", len(d.s)-d.i)
	}
	return r, nil
}

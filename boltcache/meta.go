package boltcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The meta table's values are verified like records. Every value is
//
//	offset  size  field
//	0       1     meta value format version (metaVersion)
//	1       n     the value
//	1+n     4     CRC-32C (Castagnoli), big-endian, of the key, then bytes 0..1+n
//
// Open verifies every meta value and discards a file with one that fails
// (see Open): a damaged watermark would otherwise make the cache serve
// records that were since updated or deleted in the durable store.
const metaVersion = 1

// errBadMeta is the cause of every meta value that fails verification.
var errBadMeta = errors.New("bad meta value")

// appendMeta appends the stored form of the meta value val of key.
func appendMeta(dst, key, val []byte) []byte {
	start := len(dst)
	dst = append(dst, metaVersion)
	dst = append(dst, val...)
	sum := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, dst[start:])
	return binary.BigEndian.AppendUint32(dst, sum)
}

// decodeMeta verifies the stored meta value v of key and returns its value
// (a slice of v).
func decodeMeta(key, v []byte) ([]byte, error) {
	if len(v) < 1+trailerSize {
		return nil, fmt.Errorf("%w %s: %d bytes", errBadMeta, key, len(v))
	}
	if v[0] != metaVersion {
		return nil, fmt.Errorf("%w %s: format version %d, want %d", errBadMeta, key, v[0], metaVersion)
	}
	body := v[:len(v)-trailerSize]
	want := binary.BigEndian.Uint32(v[len(body):])
	if got := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body); got != want {
		return nil, fmt.Errorf("%w %s: checksum %08x, want %08x", errBadMeta, key, got, want)
	}
	return body[1:], nil
}

func putMeta(meta *bolt.Bucket, key, val []byte) error {
	return meta.Put(key, appendMeta(nil, key, val))
}

func putMetaUint64(meta *bolt.Bucket, key []byte, n uint64) error {
	return putMeta(meta, key, binary.BigEndian.AppendUint64(nil, n))
}

// getMeta returns the verified meta value of key; ok is false when it is absent.
func getMeta(meta *bolt.Bucket, key []byte) (val []byte, ok bool, err error) {
	v := meta.Get(key)
	if v == nil {
		return nil, false, nil
	}
	val, err = decodeMeta(key, v)
	return val, err == nil, err
}

// getMetaUint64 returns the verified 8-byte meta value of key, 0 when absent.
func getMetaUint64(meta *bolt.Bucket, key []byte) (uint64, error) {
	v, ok, err := getMeta(meta, key)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w %s: %d bytes, want 8", errBadMeta, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// checkMetaTx verifies every value of the meta table, and the length of the
// fixed-size ones. The error names the first that fails.
func checkMetaTx(tx *bolt.Tx) error {
	meta := tx.Bucket(metaTable)
	if meta == nil {
		return fmt.Errorf("%w: the meta table is missing", errBadMeta)
	}
	if err := meta.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("%w %s: a table, not a value", errBadMeta, k)
		}
		_, err := decodeMeta(k, v)
		return err
	}); err != nil {
		return err
	}
	for _, k := range [][]byte{keyWatermark, keyTick} {
		if _, err := getMetaUint64(meta, k); err != nil {
			return err
		}
	}
	if _, _, err := getRecreation(meta); err != nil {
		return err
	}
	return nil
}

// Recreation is the record of the last time Open discarded a file it found
// at the path and started an empty one: kept in the new file, so a later
// process (engram cache stats) can still tell.
type Recreation struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	// Damaged: the file failed a check (structure, a meta value), as opposed
	// to being of another format version or left unclean across a restart.
	Damaged bool `json:"damaged"`
}

func encodeRecreation(r Recreation) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(r.At.UnixNano()))
	if r.Damaged {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return append(b, r.Reason...)
}

func getRecreation(meta *bolt.Bucket) (Recreation, bool, error) {
	v, ok, err := getMeta(meta, keyRecreated)
	if err != nil || !ok {
		return Recreation{}, false, err
	}
	if len(v) < 9 || v[8] > 1 {
		return Recreation{}, false, fmt.Errorf("%w %s: malformed", errBadMeta, keyRecreated)
	}
	return Recreation{At: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), Damaged: v[8] == 1, Reason: string(v[9:])}, true, nil
}

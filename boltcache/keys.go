package boltcache

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/engramhq/engram"
)

// Keys calls fn with the key of every record in the file, table by table in
// key order, inside one read transaction (so fn sees one snapshot and must
// not write to this cache). It reads keys only: it neither verifies nor
// touches records, and lists expired ones that a sweep has not removed yet.
// A key the file holds in a form no put could write is skipped. An error
// from fn stops the walk and is returned.
func (c *Cache) Keys(ctx context.Context, fn func(engram.CacheKey) error) error {
	return c.view(func(tx *bolt.Tx) error {
		for code := kindCode(1); int(code) <= numKinds; code++ {
			cur := tx.Bucket(tableNames[code]).Cursor()
			for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
				if err := ctx.Err(); err != nil {
					return err
				}
				key, ok := parseKey(code, k)
				if !ok {
					continue
				}
				if err := fn(key); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// parseKey is the inverse of a record table's key layout (see tableNames).
func parseKey(code kindCode, k []byte) (engram.CacheKey, bool) {
	ns, rest, ok := bytes.Cut(k, []byte{0})
	if !ok {
		return engram.CacheKey{}, false
	}
	key := engram.CacheKey{Namespace: engram.Namespace(ns)}
	switch code {
	case codeEpisode:
		key.Kind = engram.KindEpisode
	case codePattern:
		key.Kind = engram.KindPattern
	case codeHeuristic:
		key.Kind = engram.KindHeuristic
	case codeEmbedding:
		key.Kind = engram.KindEmbedding
		typ, idModel, ok := bytes.Cut(rest, []byte{0})
		if !ok || len(idModel) <= 16 {
			return engram.CacheKey{}, false
		}
		key.ItemType = engram.ItemType(typ)
		copy(key.ID[:], idModel[:16])
		key.Model = string(idModel[16:])
		return key, key.Validate() == nil
	default:
		return engram.CacheKey{}, false
	}
	if len(rest) != 16 {
		return engram.CacheKey{}, false
	}
	copy(key.ID[:], rest)
	return key, key.Validate() == nil
}

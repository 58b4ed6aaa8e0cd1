// Package engram holds the domain of agent memory: episodes and their steps,
// patterns, heuristics, embeddings and relationships; their validation and
// limits; the coded errors every layer returns; and the interfaces the storage
// tiers implement. It imports only the standard library and the strict JSON
// decoder (github.com/go-json-experiment/json).
//
// The tiers live in subpackages (sqlstore, boltcache, ramcache, blockstore, ...)
// and meet only in package memory and in cmd/engram.
package engram

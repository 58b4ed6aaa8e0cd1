package vector

import (
	"encoding/binary"

	"github.com/engramhq/engram"
)

// keyTable maps keys to node ids: open addressing with linear probing over
// id+1 (0: empty), the keys themselves read from the nodes. Four bytes a
// slot at a load factor of at most 1/2: a quarter of a Go map's memory,
// and built without allocation per key. Guarded by store.mu.
type keyTable struct {
	slots []uint32
	n     int
}

func hashKey(k engram.UUID) uint64 {
	// Version-7 UUIDs start with a timestamp: mix both halves.
	return splitmix(binary.LittleEndian.Uint64(k[:8]) ^ splitmix(binary.LittleEndian.Uint64(k[8:])))
}

func newKeyTable(capacity int) keyTable {
	size := 16
	for size < 2*capacity {
		size *= 2
	}
	return keyTable{slots: make([]uint32, size)}
}

// find returns the slot holding k, or the empty slot where it would go.
func (t *keyTable) find(s *store, k engram.UUID) (pos int, found bool) {
	mask := len(t.slots) - 1
	for p := int(hashKey(k)) & mask; ; p = (p + 1) & mask {
		v := t.slots[p]
		if v == 0 {
			return p, false
		}
		if s.key(v-1) == k {
			return p, true
		}
	}
}

func (t *keyTable) get(s *store, k engram.UUID) (uint32, bool) {
	p, ok := t.find(s, k)
	if !ok {
		return 0, false
	}
	return t.slots[p] - 1, true
}

// put maps k (the key of node id) to id and returns the id it replaced.
func (t *keyTable) put(s *store, k engram.UUID, id uint32) (old uint32, replaced bool) {
	p, ok := t.find(s, k)
	if ok {
		old = t.slots[p] - 1
		t.slots[p] = id + 1
		return old, true
	}
	t.slots[p] = id + 1
	t.n++
	if 2*t.n > len(t.slots) {
		t.grow(s)
	}
	return 0, false
}

func (t *keyTable) grow(s *store) {
	old := t.slots
	t.slots = make([]uint32, 2*len(old))
	mask := len(t.slots) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		p := int(hashKey(s.key(v-1))) & mask
		for t.slots[p] != 0 {
			p = (p + 1) & mask
		}
		t.slots[p] = v
	}
}

// del removes k, shifting later entries of its probe run back so lookups
// need no tombstones.
func (t *keyTable) del(s *store, k engram.UUID) (uint32, bool) {
	p, ok := t.find(s, k)
	if !ok {
		return 0, false
	}
	id := t.slots[p] - 1
	mask := len(t.slots) - 1
	t.slots[p] = 0
	t.n--
	for q := (p + 1) & mask; t.slots[q] != 0; q = (q + 1) & mask {
		home := int(hashKey(s.key(t.slots[q]-1))) & mask
		// Move the entry at q into the hole at p unless its home lies
		// cyclically in (p, q].
		if (q > p && (home <= p || home > q)) || (q < p && home <= p && home > q) {
			t.slots[p], t.slots[q] = t.slots[q], 0
			p = q
		}
	}
	return id, true
}

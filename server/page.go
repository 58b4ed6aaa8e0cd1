package server

import (
	"encoding/json"
)

// fitPage bounds a list response by bytes: it returns how many of items
// fit in budget bytes of JSON (at least one, so paging always advances), or
// len(items) when all do. A caller whose page is cut asks the store again
// for that many records from the same cursor, which answers them with the
// cursor that follows them; the store's cursors stay opaque.
func fitPage[T any](items []T, budget int) int {
	total := 0
	for i, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return len(items) // the encoder reports it when the answer is written
		}
		total += len(b) + 1
		if total > budget && i > 0 {
			return i
		}
	}
	return len(items)
}

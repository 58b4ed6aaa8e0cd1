package memory

// HonoursIdempotencyKeys reports that writes carrying an idempotency key
// (engram.WithIdempotencyKey) are applied once: the key travels in the
// context to the durable store, which records it with the write.
func (m *Memory) HonoursIdempotencyKeys() bool { return true }

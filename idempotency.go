package engram

import "context"

// MaxIdempotencyKeyLen bounds an idempotency key, in bytes.
const MaxIdempotencyKeyLen = 255

type idempotencyKey struct{}

// WithIdempotencyKey returns a context whose write carries key: a retry of the
// same write with the same key is applied once (see Store). The key is scoped
// to the namespace of the write and is kept at least as long as the change
// feed's retention horizon.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// IdempotencyKey returns the key attached by WithIdempotencyKey, or "".
func IdempotencyKey(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKey{}).(string)
	return k
}

// ValidateIdempotencyKey checks a key is 1-255 bytes of printable ASCII (what
// an HTTP header carries without escaping).
func ValidateIdempotencyKey(key string) error {
	if key == "" {
		return Invalid("idempotency_key", "must not be empty")
	}
	if len(key) > MaxIdempotencyKeyLen {
		return TooLarge("idempotency_key", len(key), MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return Invalid("idempotency_key", "has byte 0x%02x at offset %d; keys are printable ASCII without spaces", c, i)
		}
	}
	return nil
}

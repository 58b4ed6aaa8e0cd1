package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/engramhq/engram"
)

// Idempotency keys. A write whose context carries a key (engram.
// WithIdempotencyKey) records, in its own transaction, the key, the digest
// of the request and what the write filled into the records passed in. A
// repeat of the same request with the same key changes nothing and fills
// the passed records from that stored outcome; a different request with the
// key is ECONFLICT naming the key. So a write that failed with EUNKNOWN, or
// whose answer was lost, is settled by repeating it.
//
// The request digest is the SHA-256 of the operation's name, the namespace
// and the request as the caller passed it, before the store filled
// anything in, except the ids of records a create or put may assign: a
// repeat whose id was assigned afresh (by the store, or by a tier in front
// of it) is the same request, and gets the original id back.
//
// Keys are kept at least as long as the change feed's time horizon
// (Options.FeedRetention), and dropped after it (see prune).

// idemKey is one keyed write, prepared before the request is touched.
type idemKey struct {
	key    string
	op     string
	digest []byte
	// orig is the JSON of the records the write may fill, as passed, so a
	// failed write can give them back unfilled: a retry of the same value
	// is then the same request.
	orig    []byte
	records []any
}

// idem prepares ctx's idempotency key for op, or returns nil when ctx has
// none. request identifies the request (copies with assignable ids zeroed);
// records are the values the write fills in.
func (s *Store) idem(ctx context.Context, ns engram.Namespace, op string, request any, records ...any) (*idemKey, error) {
	key := engram.IdempotencyKey(ctx)
	if key == "" {
		return nil, nil
	}
	if err := engram.ValidateIdempotencyKey(key); err != nil {
		return nil, err
	}
	req, err := json.Marshal(request)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: digest %s request: %w", op, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", op, ns)
	h.Write(req)
	orig, err := json.Marshal(records)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: keep %s request: %w", op, err)
	}
	return &idemKey{key: key, op: op, digest: h.Sum(nil), orig: orig, records: records}, nil
}

// restore gives the records back as they were passed.
func (k *idemKey) restore() {
	if k != nil {
		fillFrom(k.orig, k.records)
	}
}

// fillFrom decodes a JSON array into the pointers of records, zeroing each
// first. The arrays come from json.Marshal of the same records.
func fillFrom(data []byte, records []any) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return err
	}
	if len(parts) != len(records) {
		return fmt.Errorf("stored outcome has %d records, want %d", len(parts), len(records))
	}
	for i, r := range records {
		v := reflect.ValueOf(r)
		if v.Kind() != reflect.Pointer || v.IsNil() {
			continue
		}
		v.Elem().SetZero()
		if err := json.Unmarshal(parts[i], r); err != nil {
			return err
		}
	}
	return nil
}

// writeKeyed runs fn like write. With a key (k != nil) it first looks the
// key up: a repeat of the same request commits nothing and fills k's
// records from the stored outcome; otherwise fn runs and the outcome is
// recorded under the key in the same transaction. outcome lists what to
// store and hand back: k's records and anything else the write returns.
// kind and recordKey name the record written, for ECONFLICT messages; fn
// may set them through the pointers.
func (s *Store) writeKeyed(ctx context.Context, k *idemKey, ns engram.Namespace, what string, kind engram.RecordKind, recordKey *string, outcome []any, fn func(t *tx) error) error {
	if k == nil {
		return s.write(ctx, what, fn)
	}
	if ok, err := s.retryKeyedWrite(ctx, func(ctx context.Context) error {
		return s.writeKeyed(ctx, k, ns, what, kind, recordKey, outcome, fn)
	}); ok {
		// The records are put back as the caller passed them only once
		// every attempt has failed: between attempts they keep what the
		// caller filled in (id, timestamps), which fn and the document it
		// encoded both rely on.
		if err != nil {
			k.restore()
		}
		return err
	}
	var stored []byte
	err := s.write(ctx, what, func(t *tx) error {
		var digest, result []byte
		var op, rkind, rkey string
		err := t.queryRow(`SELECT op, request_digest, record_kind, record_key, result FROM idempotency_keys WHERE namespace = ? AND key = ?`,
			string(ns), k.key).Scan(&op, &digest, &rkind, &rkey, &result)
		switch {
		case err == nil:
			if op != k.op || !bytes.Equal(digest, k.digest) {
				return &engram.Error{Code: engram.ECONFLICT, Field: "idempotency_key", Message: fmt.Sprintf(
					"%q was used for a different request (%s of %s %s)", k.key, op, rkind, rkey)}
			}
			stored = result
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
		result, err = json.Marshal(outcome)
		if err != nil {
			return fmt.Errorf("encode the outcome of %s: %w", k.op, err)
		}
		_, err = t.exec(`INSERT INTO idempotency_keys (namespace, key, op, request_digest, record_kind, record_key, result, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, string(ns), k.key, k.op, k.digest, string(kind), *recordKey, result, t.now.UnixNano())
		return err
	})
	if err != nil {
		if !retrying(ctx) {
			k.restore()
		}
		return err
	}
	if stored != nil {
		if err := fillFrom(stored, outcome); err != nil {
			return fmt.Errorf("sqlstore: %s: %w", what, s.corrupt("idempotency key", k.key, "has an unreadable outcome", err))
		}
	}
	return nil
}

// HonoursIdempotencyKeys reports that writes carrying an idempotency key are
// applied once (the conformance suite's capability check).
func (s *Store) HonoursIdempotencyKeys() bool { return true }

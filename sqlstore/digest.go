package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/engramhq/engram"
)

// Record digests. SQLite keeps no checksum of its pages, so a byte flipped
// inside a stored document on disk would otherwise be read back as a
// different, perfectly valid record. Every document row (episodes with
// their steps, patterns, heuristics) stores the SHA-256 of its document's bytes beside
// it, and every embedding row the SHA-256 of its canonical encoding (see
// embeddingDigest). Reads verify the digest before decoding: a mismatch is
// ECORRUPT naming the record and the file, never a wrong read.
//
// SHA-256 rather than a CRC or xxhash: hashing a stored episode costs a
// tenth or less of decoding its JSON (BenchmarkDocDigest against
// BenchmarkDocDecode), so the stronger hash is cheap where it is used; and
// a collision-resistant digest of the canonical encoded document (one row
// per record: an episode's document holds its steps, see encodeEpisode)
// can serve as the record's content identity, which a 32- or 64-bit
// checksum could not.

// digestSize is the length of a stored digest.
const digestSize = sha256.Size

// docDigest is the digest stored with a document.
func docDigest(doc []byte) []byte {
	d := sha256.Sum256(doc)
	return d[:]
}

// embeddingDigest covers everything an embedding read returns: its key,
// created_at and vector. The encoding is fixed: item type, NUL, the 16-byte
// item id, model, NUL, created_at (int64 little-endian), dimension (uint32
// little-endian), the vector's bytes.
// embeddingDigest covers an embedding's row. Its expiry (Unix nanoseconds,
// 0: none) and metadata (JSON, nil: none) are covered only when set, so
// rows written before they existed keep their digests.
func embeddingDigest(itemType string, itemID []byte, model string, created int64, dim int, vector []byte, expires int64, meta []byte) []byte {
	h := sha256.New()
	h.Write([]byte(itemType))
	h.Write([]byte{0})
	h.Write(itemID)
	h.Write([]byte(model))
	h.Write([]byte{0})
	var n [12]byte
	binary.LittleEndian.PutUint64(n[:8], uint64(created))
	binary.LittleEndian.PutUint32(n[8:], uint32(dim))
	h.Write(n[:])
	h.Write(vector)
	if expires != 0 || meta != nil {
		var x [9]byte
		x[0] = 1
		binary.LittleEndian.PutUint64(x[1:], uint64(expires))
		h.Write(x[:])
		h.Write(meta)
	}
	return h.Sum(nil)
}

// corrupt is the ECORRUPT error for one damaged record of s's file.
func (s *Store) corrupt(kind, key, what string, cause error) error {
	return &engram.Error{Code: engram.ECORRUPT,
		Message: fmt.Sprintf("stored %s %s in %s %s; the row is damaged (run engram db check)", kind, key, s.opts.Path, what), Err: cause}
}

// verify checks a stored document (or encoding) against its digest.
func (s *Store) verify(kind, key string, data, digest []byte) error {
	if len(digest) != digestSize {
		return s.corrupt(kind, key, fmt.Sprintf("has a %d-byte digest, want %d", len(digest), digestSize), nil)
	}
	d := sha256.Sum256(data)
	if !bytes.Equal(d[:], digest) {
		return s.corrupt(kind, key, "does not match its digest", nil)
	}
	return nil
}

// decodeVerified checks doc against digest and decodes it into v.
func (s *Store) decodeVerified(kind, key string, doc, digest []byte, v any) error {
	if err := s.verify(kind, key, doc, digest); err != nil {
		return err
	}
	if err := decodeDoc(kind, doc, v); err != nil {
		return s.corrupt(kind, key, "is not valid JSON", err)
	}
	return nil
}

// verifyEmbedding checks an embedding row against its digest.
func (s *Store) verifyEmbedding(key string, itemType string, itemID []byte, model string, created int64, dim int, vector, digest []byte, expires int64, meta []byte) error {
	want := embeddingDigest(itemType, itemID, model, created, dim, vector, expires, meta)
	if !bytes.Equal(want, digest) {
		if len(digest) != digestSize {
			return s.corrupt("embedding", key, fmt.Sprintf("has a %d-byte digest, want %d", len(digest), digestSize), nil)
		}
		return s.corrupt("embedding", key, "does not match its digest", nil)
	}
	return nil
}

// fillDigests is migration 0002's Go step (when steps still had documents
// of their own): it stores the digest of every row written before digests
// existed, a batch at a time so no more than a
// batch of documents is in memory at once.
func fillDigests(t *tx) error {
	const batch = 512
	for _, table := range []string{"episodes", "steps", "patterns", "heuristics"} {
		for {
			rows, err := t.query(`SELECT rowid, doc FROM `+table+` WHERE digest IS NULL LIMIT ?`, batch)
			if err != nil {
				return fmt.Errorf("fill digests of %s: %w", table, err)
			}
			type row struct {
				id  int64
				doc []byte
			}
			var todo []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.doc); err != nil {
					rows.Close()
					return err
				}
				todo = append(todo, r)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return err
			}
			for _, r := range todo {
				if _, err := t.exec(`UPDATE `+table+` SET digest = ? WHERE rowid = ?`, docDigest(r.doc), r.id); err != nil {
					return fmt.Errorf("fill digests of %s: %w", table, err)
				}
			}
			if len(todo) < batch {
				break
			}
		}
	}
	for {
		rows, err := t.query(`SELECT rowid, item_type, item_id, model, created_at, dimension, vector FROM embeddings WHERE digest IS NULL LIMIT ?`, batch)
		if err != nil {
			return fmt.Errorf("fill digests of embeddings: %w", err)
		}
		type row struct {
			id     int64
			digest []byte
		}
		var todo []row
		for rows.Next() {
			var id, created int64
			var typ, model string
			var item, vec []byte
			var dim int
			if err := rows.Scan(&id, &typ, &item, &model, &created, &dim, &vec); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, row{id, embeddingDigest(typ, item, model, created, dim, vec, 0, nil)})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, r := range todo {
			if _, err := t.exec(`UPDATE embeddings SET digest = ? WHERE rowid = ?`, r.digest, r.id); err != nil {
				return fmt.Errorf("fill digests of embeddings: %w", err)
			}
		}
		if len(todo) < batch {
			return nil
		}
	}
}

// maxRecordProblems bounds how many damaged records Check lists one by one;
// past it, it counts the rest.
const maxRecordProblems = 1000

// checkRecords verifies the digest of every stored record and decodes every
// document, returning one problem per damaged record.
func (s *Store) checkRecords(ctx context.Context) ([]string, error) {
	var problems []string
	var more int
	report := func(err error) {
		if len(problems) < maxRecordProblems {
			var ee *engram.Error
			if errors.As(err, &ee) {
				problems = append(problems, ee.Message)
				return
			}
			problems = append(problems, err.Error())
			return
		}
		more++
	}
	err := s.read(ctx, "check records", func(q *sql.Tx) error {
		problems, more = nil, 0 // a retried read starts again
		// n is a step count for episodes: the document must hold as many
		// steps as the episode's step rows say.
		docs := []struct {
			kind, query string
			v           func() any
			steps       func(v any) int
		}{
			{"episode", `SELECT namespace, episode_id, step_count, doc, digest FROM episodes`,
				func() any { return new(engram.Episode) }, func(v any) int { return len(v.(*engram.Episode).Steps) }},
			{"pattern", `SELECT namespace, pattern_id, 0, doc, digest FROM patterns`, func() any { return new(engram.Pattern) }, nil},
			{"heuristic", `SELECT namespace, heuristic_id, 0, doc, digest FROM heuristics`, func() any { return new(engram.Heuristic) }, nil},
		}
		for _, d := range docs {
			rows, err := q.QueryContext(ctx, d.query)
			if err != nil {
				return err
			}
			for rows.Next() {
				var ns string
				var id, doc, digest []byte
				var n int
				if err := rows.Scan(&ns, &id, &n, &doc, &digest); err != nil {
					rows.Close()
					return err
				}
				key := ns + "/" + fmtID(id)
				v := d.v()
				if err := s.decodeVerified(d.kind, key, doc, digest, v); err != nil {
					report(err)
				} else if d.steps != nil && d.steps(v) != n {
					report(s.corrupt(d.kind, key, fmt.Sprintf("holds %d steps where its row counts %d", d.steps(v), n), nil))
				}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return err
			}
		}
		rows, err := q.QueryContext(ctx, `SELECT namespace, item_type, item_id, model, created_at, dimension, vector, digest, expires_at, metadata FROM embeddings`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ns, typ, model string
			var id, vec, digest []byte
			var created int64
			var dim int
			var expires sql.NullInt64
			var meta sql.NullString
			if err := rows.Scan(&ns, &typ, &id, &model, &created, &dim, &vec, &digest, &expires, &meta); err != nil {
				return err
			}
			var metaBytes []byte
			if meta.Valid {
				metaBytes = []byte(s.unescape(meta.String))
			}
			key := ns + "/" + typ + "/" + fmtID(id) + "/" + model
			if err := s.verifyEmbedding(key, typ, id, model, created, dim, vec, digest, expires.Int64, metaBytes); err != nil {
				report(err)
			} else if _, err := decodeVector(vec, dim); err != nil {
				report(s.corrupt("embedding", key, "has a vector of the wrong length", err))
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if more > 0 {
		problems = append(problems, fmt.Sprintf("%d more damaged records", more))
	}
	return problems, nil
}

// fmtID renders a stored id column, which may itself be damaged.
func fmtID(b []byte) string {
	u, err := uuidFrom(b)
	if err != nil {
		return fmt.Sprintf("(id %x)", b)
	}
	return u.String()
}

// errText is the reason inside a path error ("read-only file system").
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

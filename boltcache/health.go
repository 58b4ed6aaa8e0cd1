package boltcache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/boltfile"
	bolt "go.etcd.io/bbolt"
)

// MinDiskFree is the free space below which Health reports the cache unhealthy.
const MinDiskFree = 64 << 20

// Health is the state of the cache file.
type Health struct {
	Healthy  bool     `json:"healthy"`
	Problems []string `json:"problems,omitempty"` // why it is not healthy
	Path     string   `json:"path"`
	FileSize int64    `json:"file_size"`
	DiskFree uint64   `json:"disk_free"` // bytes available on the file's file system
	Entries  int64    `json:"entries"`
	// Check is "ok" or the first inconsistency the structural check found.
	Check       string     `json:"check"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Recreated says why Open discarded the file it found, if it did;
	// LastRecreation is the file's record of the last time that happened
	// (this open or an earlier one).
	Recreated      string      `json:"recreated,omitempty"`
	LastRecreation *Recreation `json:"last_recreation,omitempty"`
	// UncleanShutdown: the previous session did not close the file.
	UncleanShutdown bool `json:"unclean_shutdown"`
}

// Health checks the file's structure (in a write transaction, so writes wait
// for it; it reads the whole file) and reports sizes, free disk space and
// the last error a read or write met.
func (c *Cache) Health(ctx context.Context) (Health, error) { return c.health(ctx, true) }

// QuickHealth is Health without the structural check, which reads the whole
// file and holds up writes meanwhile: for status pages and metrics, asked
// often. Check reads "not run".
func (c *Cache) QuickHealth(ctx context.Context) (Health, error) { return c.health(ctx, false) }

func (c *Cache) health(ctx context.Context, check bool) (Health, error) {
	h := Health{Path: c.path, Recreated: c.recreated, LastRecreation: c.lastRecreation, UncleanShutdown: c.unclean, Check: "not run"}
	if check {
		h.Check = "ok"
		if err := c.submit(ctx, &writeReq{special: specialCheck}, true); err != nil {
			if !errors.Is(err, engram.ErrCorrupt) {
				return h, err
			}
			h.Check = err.Error()
			h.Problems = append(h.Problems, "structural check failed: "+err.Error())
		}
	}
	if st, err := os.Stat(c.path); err == nil {
		h.FileSize = st.Size()
	}
	if free, err := boltfile.DiskFree(filepath.Dir(c.path)); err == nil {
		h.DiskFree = free
		if free < MinDiskFree {
			h.Problems = append(h.Problems, fmt.Sprintf("only %d bytes free on disk", free))
		}
	}
	c.mu.Lock()
	h.Entries = int64(len(c.mu.index))
	c.mu.Unlock()
	c.errMu.Lock()
	if c.lastErr != nil {
		h.LastError = c.lastErr.Error()
		at := c.lastErrAt
		h.LastErrorAt = &at
		h.Problems = append(h.Problems, "last error: "+h.LastError)
	}
	c.errMu.Unlock()
	h.Healthy = len(h.Problems) == 0
	return h, nil
}

// checkTx runs this package's structural check and then bbolt's own on the
// file as committed. Either failing is an ECORRUPT error.
func (c *Cache) checkTx(tx *bolt.Tx) error {
	f, err := os.Open(c.path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := boltfile.Check(f, st.Size()); err != nil {
		return &engram.Error{Code: engram.ECORRUPT, Message: err.Error()}
	}
	if err := checkMetaTx(tx); err != nil {
		return &engram.Error{Code: engram.ECORRUPT, Message: err.Error()}
	}
	var msgs []string
	for err := range tx.Check() {
		msgs = append(msgs, err.Error())
	}
	if len(msgs) > 0 {
		return &engram.Error{Code: engram.ECORRUPT, Message: strings.Join(msgs, "; ")}
	}
	return nil
}

// CheckReport is what Check found.
type CheckReport struct {
	Records   int         `json:"records"` // records examined
	OK        int         `json:"ok"`
	Expired   int         `json:"expired"` // intact but past their expiry
	Bad       []BadRecord `json:"bad,omitempty"`
	Removed   int         `json:"removed"`   // bad records deleted
	Structure string      `json:"structure"` // "ok" or the first inconsistency (of the structure or a meta value)
	// Recreated says why Open discarded the file it found, if it did (the
	// check then ran on the new, empty file); RecreatedDamaged, whether it
	// was because the file failed a check.
	Recreated        string `json:"recreated,omitempty"`
	RecreatedDamaged bool   `json:"recreated_damaged,omitempty"`
}

// BadRecord is a record that failed verification.
type BadRecord struct {
	Table  string `json:"table"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// Check verifies the file's structure, every meta value (checksum; the
// watermark among them) and every record in it: envelope, checksum and
// payload. With remove, bad records are deleted (unless
// rewritten meanwhile). Use it to validate a freshly built cache before
// swapping it in: a file whose report has no Bad records and Structure "ok"
// holds exactly what was put into it.
func (c *Cache) Check(ctx context.Context, remove bool) (CheckReport, error) {
	rep := CheckReport{Structure: "ok", Recreated: c.recreated, RecreatedDamaged: c.recreated != "" && c.damaged}
	if err := c.submit(ctx, &writeReq{special: specialCheck}, true); err != nil {
		if !errors.Is(err, engram.ErrCorrupt) {
			return rep, err
		}
		rep.Structure = err.Error()
	}
	now := c.clock.Now().UnixNano()
	var bad []op
	err := c.view(func(tx *bolt.Tx) error {
		for code := kindCode(1); int(code) <= numKinds; code++ {
			err := tx.Bucket(tableNames[code]).ForEach(func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				rep.Records++
				_, err := c.codecs.decodeRecord(k, v, code)
				switch {
				case err != nil:
					ik := append([]byte{byte(code)}, k...)
					rep.Bad = append(rep.Bad, BadRecord{Table: code.String(), Key: describeKey(ik), Reason: err.Error()})
					bad = append(bad, op{key: ik, cond: condBytes, old: append([]byte(nil), v...), why: removeCorrupt})
				case recordExpiry(v) != 0 && recordExpiry(v) <= now:
					rep.Expired++
				default:
					rep.OK++
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	c.ctr.corrupt.Add(uint64(len(bad)))
	if remove && len(bad) > 0 {
		req := &writeReq{ops: bad}
		if err := c.submit(ctx, req, true); err != nil {
			return rep, err
		}
		rep.Removed = req.removed
	}
	return rep, nil
}

// describeKey renders an index key for people: namespace/id, or for an
// embedding namespace/item_type/item_id/model.
func describeKey(ik []byte) string {
	k := ik[1:]
	ns, rest, ok := strings.Cut(string(k), "\x00")
	if !ok {
		return fmt.Sprintf("%x", k)
	}
	if kindCode(ik[0]) == codeEmbedding {
		typ, rest2, ok := strings.Cut(rest, "\x00")
		if !ok || len(rest2) < 16 {
			return fmt.Sprintf("%x", k)
		}
		var id engram.UUID
		copy(id[:], rest2)
		return fmt.Sprintf("%s/%s/%s/%s", ns, typ, id, rest2[16:])
	}
	if len(rest) != 16 {
		return fmt.Sprintf("%x", k)
	}
	var id engram.UUID
	copy(id[:], rest)
	return ns + "/" + id.String()
}

// CheckFile checks the cache file at path as a consistency check after a
// test: this package's structural check and bbolt's own, every meta value,
// and every record's checksum and encoding. The file must not be open (it
// takes the file's lock, shared, waiting up to a second). nil means the file
// is sound; an error lists what is wrong and names the file. Nothing is
// changed.
func CheckFile(path string) error {
	f, err := boltfile.Lock(path, boltfile.LockOptions{Flag: os.O_RDONLY, Shared: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("boltcache: check %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("boltcache: check %s: %w", path, err)
	}
	if err := boltfile.Check(f, st.Size()); err != nil {
		_ = f.Close()
		return fmt.Errorf("boltcache: check %s: structure: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second,
		OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil }})
	if err != nil {
		return fmt.Errorf("boltcache: check %s: %w", path, err)
	}
	defer db.Close()
	cd, err := newCodecs(DefaultCompressThreshold, DefaultCompressLevel)
	if err != nil {
		return err
	}
	defer cd.close()
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, "bbolt: "+err.Error())
		}
		if err := checkMetaTx(tx); err != nil {
			problems = append(problems, err.Error())
			return nil
		}
		if got, _, _ := getMeta(tx.Bucket(metaTable), keyFormat); string(got) != formatName {
			problems = append(problems, fmt.Sprintf("file format %q, want %q", got, formatName))
		}
		for code := kindCode(1); int(code) <= numKinds; code++ {
			b := tx.Bucket(tableNames[code])
			if b == nil {
				problems = append(problems, fmt.Sprintf("table %s is missing", tableNames[code]))
				continue
			}
			_ = b.ForEach(func(k, v []byte) error {
				if _, err := cd.decodeRecord(k, v, code); err != nil {
					problems = append(problems, fmt.Sprintf("%s %s: %v", code, describeKey(append([]byte{byte(code)}, k...)), err))
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("boltcache: check %s: %s", path, strings.Join(problems, "; "))}
	}
	return nil
}

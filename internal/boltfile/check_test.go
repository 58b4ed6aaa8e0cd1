package boltfile

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckCatchesALoweredElementCount lowers the element count in the
// header of a leaf page of a real file. The page stays well-formed (its
// remaining keys are in order and inside it), so only the packing rule
// (each element's bytes start where the previous one's end) shows that
// records were lost.
func TestCheckCatchesALoweredElementCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var leaf uint64
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("t"))
		if err != nil {
			return err
		}
		for i := range 40 {
			if err := b.Put([]byte(fmt.Sprintf("key%03d", i)), []byte(strings.Repeat("v", 40))); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error { leaf = uint64(tx.Bucket([]byte("t")).Root()); return nil })
	}
	ps := db.Info().PageSize
	db.Close()
	if err != nil || leaf < 2 {
		t.Fatalf("leaf page %d, %v", leaf, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(strings.NewReader(string(data)), int64(len(data))); err != nil {
		t.Fatalf("the intact file fails: %v", err)
	}
	hdr := data[int(leaf)*ps:]
	if n := binary.NativeEndian.Uint16(hdr[10:]); n != 40 {
		t.Fatalf("leaf page %d holds %d elements, want 40", leaf, n)
	}
	binary.NativeEndian.PutUint16(hdr[10:], 38)
	err = Check(strings.NewReader(string(data)), int64(len(data)))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("page %d", leaf)) {
		t.Fatalf("Check of a page with two elements dropped: %v; want an error naming page %d", err, leaf)
	}
	if err := Check(strings.NewReader(string(data[:len(data)-ps])), int64(len(data)-ps)); err == nil {
		t.Fatal("Check of a file one page short of its high-water mark passed")
	}
}

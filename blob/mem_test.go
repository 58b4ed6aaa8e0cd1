package blob_test

import (
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/storetest"
)

func TestMem(t *testing.T) {
	storetest.RunBlob(t, func(t *testing.T) engram.BlobStore {
		s, err := blob.Open(t.Context(), "mem://", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

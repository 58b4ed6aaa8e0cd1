package blob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "blob-example-")
	defer os.RemoveAll(dir)

	s, err := blob.Open(ctx, "file://"+dir, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	s.Put(ctx, "notes/b", strings.NewReader("second"), blob.PutOptions{})
	s.Put(ctx, "notes/a", strings.NewReader("first note"), blob.PutOptions{})

	// A conditional create loses to the existing object.
	_, err = s.Put(ctx, "notes/a", strings.NewReader("other"), blob.PutOptions{IfAbsent: true})
	fmt.Println("conflict:", errors.Is(err, engram.ErrConflict), engram.ErrorField(err))

	// A range read: 4 bytes from offset 6.
	rc, _ := s.Get(ctx, "notes/a", 6, 4)
	b, _ := io.ReadAll(rc)
	rc.Close()
	fmt.Printf("range: %q\n", b)

	page, _ := s.List(ctx, blob.ListOptions{Prefix: "notes/"})
	for _, it := range page.Items {
		fmt.Println(it.Key, it.Size)
	}
	// Output:
	// conflict: true key
	// range: "note"
	// notes/a 10
	// notes/b 6
}

package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/engramhq/engram"
)

// BlobLargeSize is the size of the suite's large object: over two 5 MiB
// parts, so a store opened with the smallest S3 part size uploads it in
// three parts.
const BlobLargeSize = 11<<20 + 12345

// RunBlob runs the object-store conformance suite. open returns a new,
// empty store and registers its cleanup (Close, removing its files) with t.
// An s3 store should be opened with the smallest part size (5 MiB) so that
// the large-object tests go multipart.
func RunBlob(t *testing.T, open func(t *testing.T) engram.BlobStore) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		objs := map[string][]byte{
			"a":                     []byte("alpha"),
			"dir/sub/b.bin":         {0, 1, 2, 0xff, 0xfe},
			"unicode/é/🙂 space+x":   []byte("unicode key"),
			"odd/%2e%2e/..a/b../.h": []byte("dots that are not segments"),
			"odd/?q=1&x#frag\\back": []byte("url syntax in a key"),
		}
		infos := map[string]engram.BlobInfo{}
		for k, v := range objs {
			infos[k] = blobPut(t, s, k, v)
			if infos[k].Key != k || infos[k].Size != int64(len(v)) || infos[k].ETag == "" {
				t.Fatalf("Put(%q) = %+v, want key, size %d and an etag", k, infos[k], len(v))
			}
		}
		for k, v := range objs {
			if got := blobGet(t, s, k, 0, -1); !bytes.Equal(got, v) {
				t.Fatalf("Get(%q) = %q, want %q", k, got, v)
			}
			st, err := s.Stat(ctx, k)
			if err != nil {
				t.Fatalf("Stat(%q): %v", k, err)
			}
			if st.Key != k || st.Size != int64(len(v)) || st.ETag != infos[k].ETag || st.ModTime.IsZero() {
				t.Fatalf("Stat(%q) = %+v, want size %d, etag %q, a mod time", k, st, len(v), infos[k].ETag)
			}
		}
	})

	t.Run("EmptyObject", func(t *testing.T) {
		s := open(t)
		blobPut(t, s, "empty", nil)
		if got := blobGet(t, s, "empty", 0, -1); len(got) != 0 {
			t.Fatalf("Get(empty) = %d bytes", len(got))
		}
		if got := blobGet(t, s, "empty", 0, 10); len(got) != 0 {
			t.Fatalf("Get(empty, 0, 10) = %d bytes", len(got))
		}
		if st := blobStat(t, s, "empty"); st.Size != 0 {
			t.Fatalf("Stat(empty).Size = %d", st.Size)
		}
	})

	t.Run("LargeObjectStreams", func(t *testing.T) {
		s := open(t)
		want := sha256.New()
		info, err := s.Put(ctx, "large", io.TeeReader(blobNewPattern(1, BlobLargeSize), want), engram.BlobPutOptions{})
		if err != nil {
			t.Fatalf("Put(large): %v", err)
		}
		if info.Size != BlobLargeSize {
			t.Fatalf("Put(large).Size = %d, want %d", info.Size, BlobLargeSize)
		}
		rc, err := s.Get(ctx, "large", 0, -1)
		if err != nil {
			t.Fatalf("Get(large): %v", err)
		}
		got := sha256.New()
		n, err := io.Copy(got, rc)
		rc.Close()
		if err != nil || n != BlobLargeSize || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatalf("Get(large): %d bytes, err %v, digest match %v", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
		}
		// A range across the 5 MiB part boundaries.
		whole := blobReadAll(t, blobNewPattern(1, BlobLargeSize))
		for _, off := range []int64{5<<20 - 7, 10<<20 - 1, BlobLargeSize - 3} {
			if got := blobGet(t, s, "large", off, 20); !bytes.Equal(got, whole[off:min(off+20, BlobLargeSize)]) {
				t.Fatalf("Get(large, %d, 20) = %x, want %x", off, got, whole[off:min(off+20, BlobLargeSize)])
			}
		}
	})

	t.Run("OverwriteReplacesWhole", func(t *testing.T) {
		s := open(t)
		a := blobPut(t, s, "k", []byte("first version, longer"))
		b := blobPut(t, s, "k", []byte("second"))
		if got := blobGet(t, s, "k", 0, -1); string(got) != "second" {
			t.Fatalf("after overwrite Get = %q", got)
		}
		if a.ETag == b.ETag {
			t.Fatalf("etag %q unchanged by an overwrite with other content", a.ETag)
		}
		if st := blobStat(t, s, "k"); st.ETag != b.ETag || st.Size != 6 {
			t.Fatalf("Stat after overwrite = %+v, want etag %q size 6", st, b.ETag)
		}
	})

	t.Run("RangeReads", func(t *testing.T) {
		s := open(t)
		data := blobReadAll(t, blobNewPattern(2, 1000))
		blobPut(t, s, "r", data)
		for _, c := range []struct{ off, n, from, to int64 }{
			{0, -1, 0, 1000}, {0, 10, 0, 10}, {990, 10, 990, 1000}, {995, 10, 995, 1000},
			{10, -1, 10, 1000}, {500, 1, 500, 501}, {0, 0, 0, 0}, {999, 1, 999, 1000},
			{1000, 10, 0, 0}, {1000, -1, 0, 0}, {2000, -1, 0, 0}, {2000, 5, 0, 0},
		} {
			if got := blobGet(t, s, "r", c.off, c.n); !bytes.Equal(got, data[c.from:c.to]) {
				t.Errorf("Get(r, %d, %d) = %d bytes, want bytes [%d, %d)", c.off, c.n, len(got), c.from, c.to)
			}
		}
		_, err := s.Get(ctx, "r", -1, 10)
		blobWantError(t, err, engram.EINVALID, "offset")
	})

	t.Run("ErrMissing", func(t *testing.T) {
		s := open(t)
		_, err := s.Get(ctx, "nope", 0, -1)
		blobWantError(t, err, engram.ENOTFOUND, "key")
		_, err = s.Get(ctx, "nope", 0, 0)
		blobWantError(t, err, engram.ENOTFOUND, "key")
		_, err = s.Stat(ctx, "nope")
		blobWantError(t, err, engram.ENOTFOUND, "key")
	})

	t.Run("ConditionalCreate", func(t *testing.T) {
		s := open(t)
		first, err := s.Put(ctx, "head", strings.NewReader("one"), engram.BlobPutOptions{IfAbsent: true})
		if err != nil {
			t.Fatalf("first conditional Put: %v", err)
		}
		_, err = s.Put(ctx, "head", strings.NewReader("two"), engram.BlobPutOptions{IfAbsent: true})
		blobWantError(t, err, engram.ECONFLICT, "key")
		if got := blobGet(t, s, "head", 0, -1); string(got) != "one" {
			t.Fatalf("after a lost conditional Put: %q", got)
		}
		if st := blobStat(t, s, "head"); st.ETag != first.ETag {
			t.Fatalf("lost conditional Put changed the etag: %q -> %q", first.ETag, st.ETag)
		}
		if err := s.Delete(ctx, "head"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "head", strings.NewReader("three"), engram.BlobPutOptions{IfAbsent: true}); err != nil {
			t.Fatalf("conditional Put after Delete: %v", err)
		}
		if got := blobGet(t, s, "head", 0, -1); string(got) != "three" {
			t.Fatalf("after re-create: %q", got)
		}
	})

	t.Run("ConditionalCreateRaceHasOneWinner", func(t *testing.T) {
		s := open(t)
		const n = 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = s.Put(ctx, "lease", strings.NewReader(fmt.Sprintf("holder-%02d", i)), engram.BlobPutOptions{IfAbsent: true})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("holders %d and %d both won", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, engram.ErrConflict):
				t.Fatalf("holder %d: %v, want a conflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("nobody won the race")
		}
		if got := blobGet(t, s, "lease", 0, -1); string(got) != fmt.Sprintf("holder-%02d", winner) {
			t.Fatalf("lease holds %q, the winner was %d", got, winner)
		}
	})

	t.Run("ListPagesInKeyOrder", func(t *testing.T) {
		s := open(t)
		var keys []string
		for i := range 120 {
			keys = append(keys, fmt.Sprintf("p/a/%03d", i))
		}
		// Names around '/' (0x2f) in byte order: '-' and '.' sort before it,
		// '0' and 'b' after; a store walking directories must still list
		// in key order.
		keys = append(keys, "p/a-1", "p/a.b", "p/a0", "p/ab/x", "p/b", "q/1", "q/2/deep/er", "r")
		for _, k := range keys {
			blobPut(t, s, k, []byte(k))
		}
		slices.Sort(keys)
		for _, c := range []struct {
			prefix string
			limit  int
		}{{"", 7}, {"", 0}, {"p/", 50}, {"p/a", 13}, {"p/a/", 1000}, {"p/a/1", 3}, {"q", 1}, {"zzz", 5}} {
			var want []string
			for _, k := range keys {
				if strings.HasPrefix(k, c.prefix) {
					want = append(want, k)
				}
			}
			if got := blobListAll(t, s, c.prefix, c.limit); !slices.Equal(got, want) {
				t.Fatalf("List(prefix %q, limit %d) =\n%v\nwant\n%v", c.prefix, c.limit, got, want)
			}
		}
		// After starts inside the listing, at keys that exist and that do not.
		page, err := s.List(ctx, engram.BlobListOptions{Prefix: "p/", After: "p/a/119", Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if got := blobInfoKeys(page.Items); !slices.Equal(got, []string{"p/a0", "p/ab/x", "p/b"}) || page.Next != "" {
			t.Fatalf("List(After p/a/119) = %v next %q", got, page.Next)
		}
		page, err = s.List(ctx, engram.BlobListOptions{After: "p/a/0995"})
		if err != nil {
			t.Fatal(err)
		}
		if got := blobInfoKeys(page.Items); len(got) == 0 || got[0] != "p/a/100" {
			t.Fatalf("List(After p/a/0995) starts at %v", got[:min(len(got), 1)])
		}
		_, err = s.List(ctx, engram.BlobListOptions{Limit: engram.MaxBlobListLimit + 1})
		blobWantError(t, err, engram.ETOOLARGE, "limit")
		_, err = s.List(ctx, engram.BlobListOptions{Prefix: "/abs"})
		blobWantError(t, err, engram.EINVALID, "prefix")
	})

	t.Run("ListCarriesInfo", func(t *testing.T) {
		s := open(t)
		blobPut(t, s, "i/x", []byte("12345"))
		blobPut(t, s, "i/y", nil)
		page, err := s.List(ctx, engram.BlobListOptions{Prefix: "i/"})
		if err != nil || len(page.Items) != 2 {
			t.Fatalf("List = %+v, %v", page, err)
		}
		for _, it := range page.Items {
			st := blobStat(t, s, it.Key)
			if it.Size != st.Size || it.ETag != st.ETag {
				t.Fatalf("listed %+v, Stat %+v", it, st)
			}
		}
		if page.Items[0].Size != 5 || page.Items[1].Size != 0 {
			t.Fatalf("sizes %d, %d, want 5, 0", page.Items[0].Size, page.Items[1].Size)
		}
	})

	t.Run("ReadAndListAfterWrite", func(t *testing.T) {
		s := open(t)
		for i := range 20 {
			k := fmt.Sprintf("raw/%02d", i)
			blobPut(t, s, k, []byte(k))
			if got := blobListAll(t, s, "raw/", 0); len(got) != i+1 || got[i] != k {
				t.Fatalf("after Put(%s) List = %v", k, got)
			}
			if got := blobGet(t, s, k, 0, -1); string(got) != k {
				t.Fatalf("Get(%s) = %q", k, got)
			}
		}
		for i := range 20 {
			k := fmt.Sprintf("raw/%02d", i)
			if err := s.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
			if got := blobListAll(t, s, "raw/", 0); len(got) != 19-i {
				t.Fatalf("after Delete(%s) List = %v", k, got)
			}
			_, err := s.Stat(ctx, k)
			blobWantError(t, err, engram.ENOTFOUND, "key")
		}
	})

	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		s := open(t)
		if err := s.Delete(ctx, "never/was"); err != nil {
			t.Fatalf("Delete(missing): %v", err)
		}
		blobPut(t, s, "d/x", []byte("x"))
		blobPut(t, s, "d/y", []byte("y"))
		for range 2 {
			if err := s.Delete(ctx, "d/x"); err != nil {
				t.Fatalf("Delete(d/x): %v", err)
			}
		}
		// "d" names no object, only a prefix of some.
		if err := s.Delete(ctx, "d"); err != nil {
			t.Fatalf("Delete(d): %v", err)
		}
		if got := blobListAll(t, s, "", 0); !slices.Equal(got, []string{"d/y"}) {
			t.Fatalf("after deletes: %v", got)
		}
		if got := blobGet(t, s, "d/y", 0, -1); string(got) != "y" {
			t.Fatalf("d/y = %q", got)
		}
	})

	t.Run("ErrHostileKeys", func(t *testing.T) {
		s := open(t)
		for _, c := range []struct{ key, code string }{
			{"", engram.EINVALID}, {"/abs", engram.EINVALID}, {"..", engram.EINVALID}, {".", engram.EINVALID},
			{"a/../b", engram.EINVALID}, {"../escape", engram.EINVALID}, {"a/./b", engram.EINVALID},
			{"a//b", engram.EINVALID}, {"trailing/", engram.EINVALID}, {"nul\x00byte", engram.EINVALID},
			{"ctl\x01", engram.EINVALID}, {"del\x7f", engram.EINVALID}, {"bad\xff\xfeutf8", engram.EINVALID},
			{strings.Repeat("k", engram.MaxBlobKeyBytes+1), engram.ETOOLARGE},
			{"seg/" + strings.Repeat("s", engram.MaxBlobSegmentBytes+1), engram.ETOOLARGE},
		} {
			_, err := s.Put(ctx, c.key, strings.NewReader("x"), engram.BlobPutOptions{})
			blobWantError(t, err, c.code, "key")
			_, err = s.Put(ctx, c.key, strings.NewReader("x"), engram.BlobPutOptions{IfAbsent: true})
			blobWantError(t, err, c.code, "key")
			_, err = s.Get(ctx, c.key, 0, -1)
			blobWantError(t, err, c.code, "key")
			_, err = s.Stat(ctx, c.key)
			blobWantError(t, err, c.code, "key")
			blobWantError(t, s.Delete(ctx, c.key), c.code, "key")
		}
		if got := blobListAll(t, s, "", 0); len(got) != 0 {
			t.Fatalf("hostile keys stored %q", got)
		}
		// The longest keys that are valid round-trip.
		seg := strings.Repeat("l", engram.MaxBlobSegmentBytes)
		long := seg + "/" + seg + "/" + seg + "/" + strings.Repeat("m", 100) // 868 bytes: room for an s3 prefix
		blobPut(t, s, long, []byte("long"))
		if got := blobListAll(t, s, "", 0); !slices.Equal(got, []string{long}) {
			t.Fatalf("long key listed as %q", got)
		}
	})

	t.Run("KeyAndItsPrefixDirectory", func(t *testing.T) {
		// "x" and "x/y" together are not portable (see engram.BlobStore):
		// a store either keeps both or refuses the second with ECONFLICT,
		// and never damages the first.
		s := open(t)
		blobPut(t, s, "x/y", []byte("child"))
		_, err := s.Put(ctx, "x", strings.NewReader("parent"), engram.BlobPutOptions{})
		if err != nil {
			blobWantError(t, err, engram.ECONFLICT, "key")
		} else if got := blobGet(t, s, "x", 0, -1); string(got) != "parent" {
			t.Fatalf("x = %q", got)
		}
		if got := blobGet(t, s, "x/y", 0, -1); string(got) != "child" {
			t.Fatalf("x/y = %q", got)
		}
		blobPut(t, s, "f", []byte("file"))
		_, err = s.Put(ctx, "f/g", strings.NewReader("below a file"), engram.BlobPutOptions{IfAbsent: true})
		if err != nil {
			blobWantError(t, err, engram.ECONFLICT, "key")
		}
		if got := blobGet(t, s, "f", 0, -1); string(got) != "file" {
			t.Fatalf("f = %q", got)
		}
	})

	t.Run("ErrPutReaderFailsStoresNothing", func(t *testing.T) {
		s := open(t)
		blobPut(t, s, "keep", []byte("old"))
		boom := errors.New("reader broke")
		for _, size := range []int64{100, 6 << 20} {
			r := io.MultiReader(blobNewPattern(3, size), blobFailingReader{boom})
			_, err := s.Put(ctx, "keep", r, engram.BlobPutOptions{})
			if !errors.Is(err, boom) {
				t.Fatalf("Put with a failing reader after %d bytes: %v, want it to wrap the reader's error", size, err)
			}
			_, err = s.Put(ctx, "fresh", io.MultiReader(blobNewPattern(3, size), blobFailingReader{boom}), engram.BlobPutOptions{})
			if !errors.Is(err, boom) {
				t.Fatalf("Put(fresh) with a failing reader: %v", err)
			}
		}
		if got := blobGet(t, s, "keep", 0, -1); string(got) != "old" {
			t.Fatalf("failed Puts changed keep to %d bytes", len(got))
		}
		_, err := s.Stat(ctx, "fresh")
		blobWantError(t, err, engram.ENOTFOUND, "key")
	})

	t.Run("ContextCancelledMidStream", func(t *testing.T) {
		s := open(t)
		const size = 4 << 20
		blobPut(t, s, "stream", blobReadAll(t, blobNewPattern(4, size)))
		gctx, cancel := context.WithCancel(ctx)
		defer cancel()
		rc, err := s.Get(gctx, "stream", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 64<<10)); err != nil {
			t.Fatalf("first read: %v", err)
		}
		cancel()
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("reading on after cancel: %d more bytes, err %v, want context.Canceled", n, err)
		}

		// A Put whose context ends mid-stream stores nothing.
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		r := &blobCancelAfter{r: blobNewPattern(5, 8<<20), n: 1 << 20, cancel: pcancel}
		_, err = s.Put(pctx, "cut", r, engram.BlobPutOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put cancelled mid-stream: %v, want context.Canceled", err)
		}
		_, err = s.Stat(ctx, "cut")
		blobWantError(t, err, engram.ENOTFOUND, "key")

		done, dcancel := context.WithCancel(ctx)
		dcancel()
		if _, err := s.Stat(done, "stream"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Stat with a done context: %v", err)
		}
		if _, err := s.List(done, engram.BlobListOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("List with a done context: %v", err)
		}
	})

	t.Run("ReadersSeeWholeVersions", func(t *testing.T) {
		s := open(t)
		a, b := bytes.Repeat([]byte("A"), 3000), bytes.Repeat([]byte("b"), 1000)
		blobPut(t, s, "v", a)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			defer close(stop)
			for i := range 30 {
				v := a
				if i%2 == 0 {
					v = b
				}
				if _, err := s.Put(ctx, "v", bytes.NewReader(v), engram.BlobPutOptions{}); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					rc, err := s.Get(ctx, "v", 0, -1)
					if err != nil {
						t.Errorf("Get: %v", err)
						return
					}
					got, err := io.ReadAll(rc)
					rc.Close()
					if err != nil || !(bytes.Equal(got, a) || bytes.Equal(got, b)) {
						t.Errorf("read %d bytes (err %v): a mixture or a partial object", len(got), err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

func blobPut(t *testing.T, s engram.BlobStore, key string, data []byte) engram.BlobInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(data), engram.BlobPutOptions{})
	if err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
	return info
}

func blobGet(t *testing.T, s engram.BlobStore, key string, off, n int64) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading Get(%q, %d, %d): %v", key, off, n, err)
	}
	return b
}

func blobStat(t *testing.T, s engram.BlobStore, key string) engram.BlobInfo {
	t.Helper()
	info, err := s.Stat(context.Background(), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	return info
}

// blobListAll pages through a listing and checks each page's shape.
func blobListAll(t *testing.T, s engram.BlobStore, prefix string, limit int) []string {
	t.Helper()
	var keys []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("listing does not end")
		}
		page, err := s.List(context.Background(), engram.BlobListOptions{Prefix: prefix, After: after, Limit: limit})
		if err != nil {
			t.Fatalf("List(%q, after %q): %v", prefix, after, err)
		}
		if limit > 0 && len(page.Items) > limit {
			t.Fatalf("List(limit %d) returned %d items", limit, len(page.Items))
		}
		keys = append(keys, blobInfoKeys(page.Items)...)
		if page.Next == "" {
			return keys
		}
		if len(page.Items) == 0 || page.Next != page.Items[len(page.Items)-1].Key {
			t.Fatalf("page Next %q is not its last key (%d items)", page.Next, len(page.Items))
		}
		after = page.Next
	}
}

func blobInfoKeys(items []engram.BlobInfo) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return keys
}

func blobWantError(t *testing.T, err error, code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s naming %q", code, field)
	}
	if engram.ErrorCode(err) != code || engram.ErrorField(err) != field {
		t.Fatalf("got %v (code %s, field %q), want %s naming %q", err, engram.ErrorCode(err), engram.ErrorField(err), code, field)
	}
}

func blobReadAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blobNewPattern yields n pseudo-random bytes from seed; it is not
// seekable, so a store cannot rewind or size it without reading.
func blobNewPattern(seed byte, n int64) io.Reader {
	var key [32]byte
	key[0] = seed
	return io.LimitReader(rand.NewChaCha8(key), n)
}

type blobFailingReader struct{ err error }

func (f blobFailingReader) Read([]byte) (int, error) { return 0, f.err }

// blobCancelAfter cancels its context once n bytes were read, and keeps reading.
type blobCancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *blobCancelAfter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n -= int64(n)
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

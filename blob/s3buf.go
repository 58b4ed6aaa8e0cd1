package blob

import (
	"io"
	"math/bits"
	"sync"
)

// Part buffers: an upload reads its body into a buffer of a power-of-two
// size class, taken from that class's pool and given back when the server
// has acknowledged the bytes, so a Put neither zeroes fresh memory nor
// regrows a slice per call.
const (
	minBufClass = 15 // 32 KiB
	maxBufClass = 30 // 1 GiB; larger buffers are not pooled
)

var bufPools [maxBufClass + 1]sync.Pool

// bufClass is the smallest class holding n bytes.
func bufClass(n int) int {
	if n <= 1<<minBufClass {
		return minBufClass
	}
	return bits.Len(uint(n - 1))
}

// getBuf returns a buffer whose length is its class's size, at least n.
func getBuf(n int) *[]byte {
	c := bufClass(n)
	if c <= maxBufClass {
		if b, ok := bufPools[c].Get().(*[]byte); ok {
			return b
		}
	}
	b := make([]byte, 1<<c)
	return &b
}

// putBuf gives b back to its class's pool. Only a buffer no request can
// still read goes back: after a success, whose answer says the server had
// every byte.
func putBuf(b *[]byte) {
	c := bufClass(len(*b))
	if c <= maxBufClass && len(*b) == 1<<c {
		bufPools[c].Put(b)
	}
}

// readPart reads src until EOF or limit bytes into a pooled buffer; hint
// (0: unknown) is the number of bytes src is expected to hold, so that the
// first buffer is the right size. It returns the buffer and the bytes read
// (a full part when n == limit: src may hold more). On an error of src the
// buffer is already given back.
func readPart(src io.Reader, limit int64, hint int64) (buf *[]byte, n int, err error) {
	size := int64(64 << 10)
	if hint > 0 {
		size = hint + 1 // room to see EOF without growing
	}
	size = min(size, limit)
	buf = getBuf(int(size))
	for {
		end := int(min(int64(len(*buf)), limit))
		m, err := io.ReadFull(src, (*buf)[n:end])
		n += m
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return buf, n, nil
		case err != nil:
			putBuf(buf)
			return nil, 0, err
		case int64(n) == limit:
			return buf, n, nil
		}
		// Full below the limit: the next class up, keeping what was read.
		next := getBuf(int(min(int64(2*len(*buf)), limit)))
		copy(*next, (*buf)[:n])
		putBuf(buf)
		buf = next
	}
}

// sizeHint is the number of unread bytes of r when r says (bytes.Reader,
// strings.Reader, bytes.Buffer and the like), else 0.
func sizeHint(r io.Reader) int64 {
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(max(l.Len(), 0))
	}
	return 0
}

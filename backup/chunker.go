package backup

import (
	"errors"
	"io"
	"math/bits"

	"github.com/engramhq/engram"
)

// Default chunk sizes: 16 KiB to 1 MiB, 64 KiB on average. Smaller than
// restic's 512 KiB / 1 MiB / 8 MiB because engram's files are databases
// whose changes land on pages spread over the file: after 1% more records
// in a 43 MB store, restic's sizes uploaded 9% of the bytes again, these
// 1.8% (BenchmarkBackup, docs/backup.md). The manifest costs about 100
// bytes a chunk (1.5 MB per GB backed up, before compression).
const (
	DefaultMinChunk = 16 << 10
	DefaultAvgChunk = 64 << 10
	DefaultMaxChunk = 1 << 20

	// MaxChunkLimit bounds MaxChunk (and so the memory a chunk takes).
	MaxChunkLimit = 64 << 20
)

// ChunkSizes are the content-defined chunker's bounds, in bytes. The zero
// value of a field means its default.
type ChunkSizes struct {
	Min int `json:"min"`
	Avg int `json:"avg"` // a power of two
	Max int `json:"max"`
}

func (c *ChunkSizes) ensureDefaults() {
	if c.Min == 0 {
		c.Min = DefaultMinChunk
	}
	if c.Avg == 0 {
		c.Avg = DefaultAvgChunk
	}
	if c.Max == 0 {
		c.Max = DefaultMaxChunk
	}
}

func (c ChunkSizes) validate() error {
	switch {
	case c.Min < 64:
		return engram.Invalid("min_chunk", "%d is below 64 bytes", c.Min)
	case c.Avg <= c.Min || c.Avg&(c.Avg-1) != 0:
		return engram.Invalid("avg_chunk", "%d must be a power of two above min_chunk (%d)", c.Avg, c.Min)
	case c.Max <= c.Avg:
		return engram.Invalid("max_chunk", "%d must be above avg_chunk (%d)", c.Max, c.Avg)
	case c.Max > MaxChunkLimit:
		return engram.TooLarge("max_chunk", c.Max, MaxChunkLimit)
	}
	return nil
}

// gear is the rolling hash's table: 256 pseudo-random words from a fixed
// seed (splitmix64), so chunk boundaries are the same in every build.
var gear = func() (t [256]uint64) {
	x := uint64(0x656e6772616d) // "engram"
	for i := range t {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		t[i] = z ^ (z >> 31)
	}
	return t
}()

// Chunker cuts a stream into content-defined chunks (FastCDC: a gear hash,
// with normalized chunking). A boundary depends only on the 64 bytes before
// it, so an insertion or deletion changes the chunks around it and leaves
// the others as they were: that is what makes backups of a file that
// changed a little share most of their chunks with the last one.
type Chunker struct {
	r            io.Reader
	sizes        ChunkSizes
	maskS, maskL uint64 // before and after the average size
	buf          []byte
	start, end   int // buf[start:end] is read and not yet returned
	eof          bool
}

// NewChunker returns a chunker reading r. sizes must be valid (zero fields
// take the defaults).
func NewChunker(r io.Reader, sizes ChunkSizes) (*Chunker, error) {
	sizes.ensureDefaults()
	if err := sizes.validate(); err != nil {
		return nil, err
	}
	k := bits.TrailingZeros(uint(sizes.Avg))
	// Normalization level 2: harder to cut before the average, easier
	// after, which narrows the spread of sizes. The gear hash's high bits
	// depend on the most bytes, so the masks take those.
	maskS := ^uint64(0) << (64 - min(k+2, 63))
	maskL := ^uint64(0) << (64 - max(k-2, 1))
	return &Chunker{r: r, sizes: sizes, maskS: maskS, maskL: maskL, buf: make([]byte, 2*sizes.Max)}, nil
}

// Next returns the next chunk, or io.EOF after the last. The slice is valid
// until the next call.
func (c *Chunker) Next() ([]byte, error) {
	if c.end-c.start < c.sizes.Max && !c.eof {
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
	if c.start == c.end {
		return nil, io.EOF
	}
	n := c.cut(c.buf[c.start:c.end])
	chunk := c.buf[c.start : c.start+n]
	c.start += n
	return chunk, nil
}

func (c *Chunker) fill() error {
	copy(c.buf, c.buf[c.start:c.end])
	c.end -= c.start
	c.start = 0
	for c.end < len(c.buf) && !c.eof {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if errors.Is(err, io.EOF) {
			c.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// cut returns the length of the chunk at the start of data.
func (c *Chunker) cut(data []byte) int {
	n := len(data)
	if n <= c.sizes.Min {
		return n
	}
	n = min(n, c.sizes.Max)
	normal := min(c.sizes.Avg, n)
	var h uint64
	i := c.sizes.Min - 64 // the hash covers 64 bytes: start so that it is full at Min
	for ; i < c.sizes.Min; i++ {
		h = h<<1 + gear[data[i]]
	}
	for ; i < normal; i++ {
		h = h<<1 + gear[data[i]]
		if h&c.maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		h = h<<1 + gear[data[i]]
		if h&c.maskL == 0 {
			return i + 1
		}
	}
	return n
}

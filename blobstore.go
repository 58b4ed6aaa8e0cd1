package engram

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on object keys and listings. They are the strictest common subset of
// S3 (1,024-byte keys, 1,000-key pages) and POSIX file systems (255-byte names).
const (
	MaxBlobKeyBytes     = 1024 // whole key, in bytes
	MaxBlobSegmentBytes = 255  // one '/'-separated segment, in bytes
	MaxBlobListLimit    = 1000 // keys per List page
)

// BlobInfo describes one stored object.
type BlobInfo struct {
	Key  string
	Size int64 // bytes
	// ETag is an opaque version tag: it is the same in the Info Put returned and
	// in every later Stat and List until the object is replaced or deleted, and
	// it differs after a replacement with different content. Stores say how
	// they make it (S3: the server's ETag, mem: a content hash); callers compare
	// it, never parse it.
	ETag    string
	ModTime time.Time // when the object was last written, as the store records it
}

// BlobPutOptions modify a Put. The zero value is an unconditional write.
type BlobPutOptions struct {
	// IfAbsent makes the Put a conditional create (S3's If-None-Match: *): it
	// succeeds only if no object has the key, and otherwise fails with
	// ECONFLICT naming "key" and leaves the existing object untouched. Among
	// concurrent conditional creates of one key, exactly one succeeds. Heads
	// and leases are written this way.
	IfAbsent bool
}

// BlobListOptions select one page of a listing.
type BlobListOptions struct {
	Prefix string // only keys starting with Prefix (a plain string prefix, not a directory)
	After  string // only keys sorting after After; pass the previous page's Next
	Limit  int    // keys per page; 0 means MaxBlobListLimit, more is ETOOLARGE
}

// BlobPage is one page of a listing, in ascending byte order of key.
type BlobPage struct {
	Items []BlobInfo
	// Next is "" on the last page; otherwise it is the After of the next page.
	Next string
}

// BlobStore is object storage: whole objects named by key, written at once and
// read as streams. Implementations live in package blob (file://, s3://,
// mem://). Safe for concurrent use.
//
// Keys obey ValidateBlobKey in every store, so a key that works in one works
// in all. Keys are names, not paths: "a/b" and "a/c" share nothing but a
// prefix. One portability rule is not checked up front: a key that is another
// key followed by "/..." ("a" and "a/b") can be stored by some servers (AWS S3)
// and not by those that keep objects as files (file://, mem://, which models
// them, and versitygw's posix backend); those refuse the second Put with
// ECONFLICT naming "key" and keep the first object intact. Portable callers
// never create both.
//
// Consistency: a Put, once it returns nil, is visible to every later Get, Stat
// and List from any client (read-after-write, list-after-write), and a Delete,
// once it returns, to every later call. Objects are replaced whole: a reader
// sees the old object or the new one, never a mixture or a partial object.
//
// Errors are *Error values: EINVALID or ETOOLARGE naming "key" (or "prefix",
// "after", "limit", "offset") for bad input, ENOTFOUND naming "key" for a
// missing object, ECONFLICT naming "key" for a lost conditional create,
// EUNAVAILABLE when the store cannot be reached (after the retries the store
// makes on its own), ENOSPACE when a local disk is full. A call whose context
// ends returns an error matching ctx.Err() with errors.Is.
type BlobStore interface {
	// Put stores the bytes r yields until io.EOF under key, replacing any
	// object there (unless opts.IfAbsent). It streams: memory use is bounded
	// by the store's part size, not by the object's size. It reads r to the
	// end on success. On failure the old object, if any, remains and nothing
	// is stored, with one exception: a Put to a remote store that fails as
	// EUNAVAILABLE (a timeout, a lost connection) may have landed after all,
	// as with any request whose answer was lost (ctx ending during the last
	// request is such a case); repeat it to settle it. An error from r, or
	// ctx ending while r is read, is returned wrapped and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, opts BlobPutOptions) (BlobInfo, error)

	// Get returns a stream of n bytes of key's object starting at byte off;
	// n < 0 means to the end. A range reaching past the end is cut short at
	// the end, and one starting at or past it yields no bytes (like
	// io.ReaderAt, but without an error). off < 0 is EINVALID naming "offset".
	// The stream reads from the store as it is consumed (it never holds the
	// whole object) and ends with io.EOF; a read after ctx ends fails with an
	// error matching ctx.Err(). The caller must Close it.
	Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)

	// Stat describes key's object, or fails with ENOTFOUND.
	Stat(ctx context.Context, key string) (BlobInfo, error)

	// List returns one page of the objects whose keys start with
	// opts.Prefix, in ascending byte order of key. Paging with Next visits
	// every object that existed for the whole walk exactly once.
	List(ctx context.Context, opts BlobListOptions) (BlobPage, error)

	// Delete removes key's object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// Close releases the store's resources. Calls after Close fail.
	Close() error
}

// ValidateBlobKey checks a key against the rules every BlobStore applies: 1 to
// MaxBlobKeyBytes bytes of valid UTF-8; '/'-separated segments of 1 to
// MaxBlobSegmentBytes bytes, none "." or ".."; no leading, trailing or
// doubled '/'; no NUL or other control character (S3 listings are XML, which
// cannot carry them). The error is EINVALID or ETOOLARGE naming "key".
func ValidateBlobKey(key string) error {
	if key == "" {
		return Invalid("key", "is empty")
	}
	return validateBlobName("key", key, false)
}

// ValidateBlobPrefix checks a List prefix: empty, or a key that may end with
// '/' or inside a segment. The error names "prefix".
func ValidateBlobPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validateBlobName("prefix", prefix, true)
}

func validateBlobName(field, s string, prefix bool) error {
	if len(s) > MaxBlobKeyBytes {
		return TooLarge(field, len(s), MaxBlobKeyBytes)
	}
	if !utf8.ValidString(s) {
		return Invalid(field, "%q is not valid UTF-8", truncate(s, 80))
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return Invalid(field, "%q has control character %U at byte %d", truncate(s, 80), r, i)
		}
	}
	if s[0] == '/' {
		return Invalid(field, "%q starts with '/'", truncate(s, 80))
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && last && prefix:
			// "a/" as a prefix
		case seg == "" && last:
			return Invalid(field, "%q ends with '/'", truncate(s, 80))
		case seg == "":
			return Invalid(field, "%q has an empty segment (\"//\")", truncate(s, 80))
		case (seg == "." || seg == "..") && !(last && prefix):
			return Invalid(field, "%q has a %q segment", truncate(s, 80), seg)
		case len(seg) > MaxBlobSegmentBytes:
			return &Error{Code: ETOOLARGE, Field: field,
				Message: fmt.Sprintf("segment %d of %q is %d bytes; the limit is %d", i, truncate(s, 80), len(seg), MaxBlobSegmentBytes)}
		}
	}
	return nil
}

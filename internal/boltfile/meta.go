package boltfile

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Meta is one of a bbolt file's two meta pages, as stored. bbolt writes the
// meta of transaction t to page t%2 and opens a file from the valid meta of
// the highest transaction id, so a newer meta that fails its checksum makes
// bbolt silently open the file as it was one transaction earlier.
type Meta struct {
	Page    int    // 0 or 1
	Valid   bool   // magic, version and checksum hold
	TxID    uint64 // the transaction id as stored (when !Valid, possibly damaged)
	Root    uint64 // the root bucket's page as stored (likewise)
	Problem string // why it is not valid
	// PageSize is the file's page size, found from a valid meta page (the
	// same for both).
	PageSize int
}

// Metas reads both meta pages of a bbolt file of size bytes. It fails only
// when no page size can be found (neither meta page is valid at any size
// bbolt uses) or the file cannot be read.
func Metas(r io.ReaderAt, size int64) ([2]Meta, error) {
	c := &structCheck{r: r, size: size}
	var out [2]Meta
	ps, err := c.pageSizeOf()
	if err != nil {
		return out, err
	}
	for i := range out {
		out[i].Page, out[i].PageSize = i, ps
		b, err := c.read(int64(i)*int64(ps)+pageHeaderSize, metaSize)
		if err != nil {
			out[i].Problem = err.Error()
			continue
		}
		out[i].TxID = binary.NativeEndian.Uint64(b[48:])
		out[i].Root = binary.NativeEndian.Uint64(b[16:])
		if _, why := parseMeta(b); why != "" {
			out[i].Problem = why
			continue
		}
		out[i].Valid = true
	}
	return out, nil
}

// MetaProblems describes the meta pages that fail their checks, worst
// first: nil when both are valid. A failing meta whose transaction id is
// newer than the valid one's, or is unreadable, means bbolt opens the file
// without the last committed transaction.
func MetaProblems(ms [2]Meta) []string {
	var out []string
	for i, m := range ms {
		o := ms[1-i]
		if m.Valid {
			continue
		}
		switch {
		case !o.Valid:
			out = append(out, fmt.Sprintf("meta page %d: %s (and the other meta page is damaged too)", m.Page, m.Problem))
		case m.TxID == o.TxID+1:
			out = append(out, fmt.Sprintf("meta page %d: %s; it names transaction %d, newer than the %d in use: the last committed transaction is lost (rolled back)", m.Page, m.Problem, m.TxID, o.TxID))
		case m.TxID+1 == o.TxID:
			out = append(out, fmt.Sprintf("meta page %d: %s; it names transaction %d, older than the %d in use: nothing is lost, the next commit rewrites it", m.Page, m.Problem, m.TxID, o.TxID))
		default:
			out = append(out, fmt.Sprintf("meta page %d: %s; its transaction id is damaged too: the last committed transaction may be lost (the file opens at transaction %d)", m.Page, m.Problem, o.TxID))
		}
	}
	return out
}

package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
)

// MemStore keeps objects in memory, for tests. It models a file-backed
// store exactly, including its one portability limit: a key that is another
// key followed by "/..." is refused with ECONFLICT. ETag is the hex SHA-256
// of the content. Each NewMem (and each Open of mem://) is a new, empty store.
type MemStore struct {
	clock clock.Clock

	mu struct {
		sync.Mutex
		closed  bool
		objects map[string]memObject
		keys    []string // sorted keys of objects
	}
}

type memObject struct {
	data    []byte // never modified after the Put that stored it
	etag    string
	modTime time.Time
}

var _ Store = (*MemStore)(nil)

// NewMem returns an empty in-memory store. opts may be nil.
func NewMem(opts *Options) *MemStore {
	var o Options
	if opts != nil {
		o = *opts
	}
	m := &MemStore{clock: clock.OrReal(o.Clock)}
	m.mu.objects = map[string]memObject{}
	return m
}

func (m *MemStore) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Info, error) {
	if err := engram.ValidateBlobKey(key); err != nil {
		return Info{}, err
	}
	// Read outside the lock: r may be slow.
	src := &source{ctx: ctx, r: r}
	data, err := io.ReadAll(src)
	if err != nil {
		return Info{}, fmt.Errorf("blob: mem put %q: %w", key, src.failure())
	}
	sum := sha256.Sum256(data)
	obj := memObject{data: data, etag: hex.EncodeToString(sum[:]), modTime: m.clock.Now()}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return Info{}, fmt.Errorf("blob: mem put %q: %w", key, ErrClosed)
	}
	if _, ok := m.mu.objects[key]; ok {
		if opts.IfAbsent {
			return Info{}, keyExists(key)
		}
	} else {
		if m.clashesLocked(key) {
			return Info{}, keyClashes(key, nil)
		}
		i, _ := slices.BinarySearch(m.mu.keys, key)
		m.mu.keys = slices.Insert(m.mu.keys, i, key)
	}
	m.mu.objects[key] = obj
	return Info{Key: key, Size: int64(len(data)), ETag: obj.etag, ModTime: obj.modTime}, nil
}

// clashesLocked reports whether key is a '/'-prefix of a stored key or a
// stored key is one of key.
func (m *MemStore) clashesLocked(key string) bool {
	i, _ := slices.BinarySearch(m.mu.keys, key+"/")
	if i < len(m.mu.keys) && strings.HasPrefix(m.mu.keys[i], key+"/") {
		return true
	}
	for j := strings.IndexByte(key, '/'); j >= 0; j = nextSlash(key, j) {
		if _, ok := m.mu.objects[key[:j]]; ok {
			return true
		}
	}
	return false
}

func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func (m *MemStore) get(key string) (memObject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return memObject{}, ErrClosed
	}
	obj, ok := m.mu.objects[key]
	if !ok {
		return memObject{}, keyNotFound(key)
	}
	return obj, nil
}

func (m *MemStore) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := checkGet(key, off); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: mem get %q: %w", key, err)
	}
	obj, err := m.get(key)
	if err != nil {
		return nil, fmt.Errorf("blob: mem get %q: %w", key, err)
	}
	start, length := rangeOf(int64(len(obj.data)), off, n)
	return io.NopCloser(ctxReader{ctx, bytes.NewReader(obj.data[start : start+length])}), nil
}

func (m *MemStore) Stat(ctx context.Context, key string) (Info, error) {
	if err := engram.ValidateBlobKey(key); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: mem stat %q: %w", key, err)
	}
	obj, err := m.get(key)
	if err != nil {
		return Info{}, fmt.Errorf("blob: mem stat %q: %w", key, err)
	}
	return Info{Key: key, Size: int64(len(obj.data)), ETag: obj.etag, ModTime: obj.modTime}, nil
}

func (m *MemStore) List(ctx context.Context, opts ListOptions) (Page, error) {
	limit, err := checkList(opts)
	if err != nil {
		return Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return Page{}, fmt.Errorf("blob: mem list %q: %w", opts.Prefix, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return Page{}, fmt.Errorf("blob: mem list %q: %w", opts.Prefix, ErrClosed)
	}
	from := max(opts.Prefix, opts.After)
	i, found := slices.BinarySearch(m.mu.keys, from)
	if found && from == opts.After {
		i++
	}
	var page Page
	for ; i < len(m.mu.keys) && strings.HasPrefix(m.mu.keys[i], opts.Prefix); i++ {
		if len(page.Items) == limit {
			page.Next = page.Items[len(page.Items)-1].Key
			break
		}
		k := m.mu.keys[i]
		obj := m.mu.objects[k]
		page.Items = append(page.Items, Info{Key: k, Size: int64(len(obj.data)), ETag: obj.etag, ModTime: obj.modTime})
	}
	return page, nil
}

func (m *MemStore) Delete(ctx context.Context, key string) error {
	if err := engram.ValidateBlobKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: mem delete %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return fmt.Errorf("blob: mem delete %q: %w", key, ErrClosed)
	}
	if _, ok := m.mu.objects[key]; !ok {
		return nil
	}
	delete(m.mu.objects, key)
	i, _ := slices.BinarySearch(m.mu.keys, key)
	m.mu.keys = slices.Delete(m.mu.keys, i, i+1)
	return nil
}

// Close drops every object.
func (m *MemStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.closed = true
	m.mu.objects = nil
	m.mu.keys = nil
	return nil
}

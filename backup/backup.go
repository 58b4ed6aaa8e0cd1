// Package backup keeps backups of engram's files in object storage
// (engram.BlobStore): each file is cut into content-defined chunks, stored
// once by SHA-256 (compressed with zstd), so backups share what did not
// change, like restic's. A backup is a manifest naming its files and their
// chunks, written last: a backup without a manifest does not exist, and the
// chunks a killed backup left are reused by the next one.
//
// Layout under the store (keys):
//
//	chunks/<h[0:2]>/<h>        one chunk; h is the hex SHA-256 of its bytes
//	manifests/<id>             a backup's manifest (JSON, stored as chunks are); ids sort by time
//	locks/create-<id>          a create in progress (its lease)
//	locks/prune                a prune in progress
//
// The package copies files; what makes them consistent is the caller's:
// engram's CLI backs up a SQLite snapshot (VACUUM INTO) and the blockstore
// under its shared lock.
package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/engramhq/engram"
)

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// Key prefixes in the store.
const (
	chunkPrefix    = "chunks/"
	manifestPrefix = "manifests/"
	lockPrefix     = "locks/"
	createLockPre  = lockPrefix + "create-"
	pruneLock      = lockPrefix + "prune"
)

// DefaultStaleAfter is how old a lock must be before another process takes
// it for one left by a killed process.
const DefaultStaleAfter = time.Hour

// Manifest describes one backup.
type Manifest struct {
	Format        int        `json:"format"`
	ID            string     `json:"id"`
	Time          time.Time  `json:"time"`
	Source        string     `json:"source"`
	EngramVersion string     `json:"engram_version"`
	Chunker       ChunkSizes `json:"chunker"`
	Files         []File     `json:"files"`
}

// Size is the total size of the backup's files.
func (m *Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// File is one backed-up file: its chunks, in order, make its bytes.
type File struct {
	Name   string  `json:"name"` // a plain file name, no directories
	Size   int64   `json:"size"`
	SHA256 string  `json:"sha256"` // of the whole file, hex
	Chunks []Chunk `json:"chunks"`
}

// Chunk names one chunk of a file.
type Chunk struct {
	SHA256 string `json:"sha256"` // of the chunk's bytes (uncompressed), hex
	Size   int    `json:"size"`
}

// ChunkKey is the store key of the chunk whose SHA-256 is hash (hex).
func ChunkKey(hash string) string { return chunkPrefix + hash[:2] + "/" + hash }

// ManifestKey is the store key of backup id's manifest.
func ManifestKey(id string) string { return manifestPrefix + id }

// Source is one file to back up.
type Source struct {
	Name string // name in the backup and on restore: a plain file name
	Path string // where to read it
}

// Progress reports how far an operation is, in bytes of file content.
type Progress struct {
	Phase string // "create", "verify", "restore"
	Done  int64
	Total int64
}

// Options configure the operations. The zero value means the defaults.
type Options struct {
	Chunks ChunkSizes // create only
	// Source and EngramVersion are recorded in the manifest (create).
	Source        string
	EngramVersion string
	// Workers upload or compress chunks in parallel; 0: 4.
	Workers int
	// StaleAfter: a lock older than this was left by a killed process.
	// 0: DefaultStaleAfter. A create refreshes its lock while it runs.
	StaleAfter time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Progress, if set, is called as bytes are processed (from one goroutine).
	Progress func(Progress)
}

func (o *Options) ensureDefaults() {
	o.Chunks.ensureDefaults()
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) progress(phase string, done, total int64) {
	if o.Progress != nil {
		o.Progress(Progress{Phase: phase, Done: done, Total: total})
	}
}

// CreateStats count what a create did.
type CreateStats struct {
	Files       int
	Bytes       int64 // file bytes read
	Chunks      int   // chunks in the backup
	NewChunks   int   // chunks uploaded by this create
	NewBytes    int64 // uncompressed bytes of the new chunks
	Uploaded    int64 // bytes put to the store: new chunks (compressed) and the manifest
	ReusedBytes int64 // bytes of chunks already stored
}

var (
	// EncodeAll runs at most "concurrency" encodes at once: one per CPU, so
	// the upload workers compress in parallel.
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxChunkLimit+1))
)

// Chunk objects start with one byte saying how the rest is stored.
const (
	chunkRaw  = 'r'
	chunkZstd = 'z'
)

func encodeChunk(data []byte) []byte {
	out := encoder.EncodeAll(data, []byte{chunkZstd})
	if len(out) >= len(data)+1 {
		out = append(append(out[:0], chunkRaw), data...)
	}
	return out
}

// decodeChunk decodes a chunk object and checks it against its name.
func decodeChunk(obj []byte, c Chunk) ([]byte, error) {
	var data []byte
	switch {
	case len(obj) > 0 && obj[0] == chunkRaw:
		data = obj[1:]
	case len(obj) > 0 && obj[0] == chunkZstd:
		var err error
		if data, err = decoder.DecodeAll(obj[1:], make([]byte, 0, c.Size)); err != nil {
			return nil, fmt.Errorf("does not decompress: %v", err)
		}
	default:
		return nil, errors.New("has no valid header")
	}
	if len(data) != c.Size {
		return nil, fmt.Errorf("holds %d bytes; the manifest says %d", len(data), c.Size)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != c.SHA256 {
		return nil, fmt.Errorf("hashes to %x", sum[:8])
	}
	return data, nil
}

func chunkDamaged(c Chunk, what string) error {
	return &engram.Error{Code: engram.ECORRUPT, Field: "chunk",
		Message: fmt.Sprintf("chunk %s %s", ChunkKey(c.SHA256), what)}
}

// readChunk fetches and verifies one chunk.
func readChunk(ctx context.Context, st engram.BlobStore, c Chunk) ([]byte, error) {
	rc, err := st.Get(ctx, ChunkKey(c.SHA256), 0, -1)
	if errors.Is(err, engram.ErrNotFound) {
		return nil, chunkDamaged(c, "is missing")
	}
	if err != nil {
		return nil, fmt.Errorf("backup: read chunk %s: %w", ChunkKey(c.SHA256), err)
	}
	defer rc.Close()
	obj, err := io.ReadAll(io.LimitReader(rc, int64(MaxChunkLimit)+2))
	if err != nil {
		return nil, fmt.Errorf("backup: read chunk %s: %w", ChunkKey(c.SHA256), err)
	}
	data, err := decodeChunk(obj, c)
	if err != nil {
		return nil, chunkDamaged(c, err.Error())
	}
	return data, nil
}

// newID returns a backup id: the UTC time (so ids sort by time) and 32
// random bits.
func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// ValidateID checks a backup id as Create makes them.
func ValidateID(id string) error {
	if len(id) != 29 || id[8] != 'T' || id[19] != 'Z' || id[20] != '-' {
		return engram.Invalid("id", "%q is not a backup id (like 20260301T120000.000Z-0a1b2c3d)", id)
	}
	if _, err := time.Parse("20060102T150405.000Z", id[:20]); err != nil {
		return engram.Invalid("id", "%q is not a backup id: %v", id, err)
	}
	if _, err := hex.DecodeString(id[21:]); err != nil {
		return engram.Invalid("id", "%q is not a backup id: %v", id, err)
	}
	return nil
}

func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || len(name) > 255 {
		return engram.Invalid("name", "%q is not a plain file name", name)
	}
	return nil
}

type lockInfo struct {
	What string    `json:"what"`
	Host string    `json:"host"`
	PID  int       `json:"pid"`
	Time time.Time `json:"time"`
}

func putLock(ctx context.Context, st engram.BlobStore, key, what string, now time.Time, ifAbsent bool) error {
	host, _ := os.Hostname()
	b, _ := json.Marshal(lockInfo{What: what, Host: host, PID: os.Getpid(), Time: now.UTC()})
	_, err := st.Put(ctx, key, bytes.NewReader(b), engram.BlobPutOptions{IfAbsent: ifAbsent})
	return err
}

// liveLock reports whether the lock at key exists and is not stale.
func liveLock(ctx context.Context, st engram.BlobStore, key string, o *Options) (bool, time.Time, error) {
	info, err := st.Stat(ctx, key)
	if errors.Is(err, engram.ErrNotFound) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, err
	}
	return o.Now().Sub(info.ModTime) < o.StaleAfter, info.ModTime, nil
}

// listAll returns every object under prefix.
func listAll(ctx context.Context, st engram.BlobStore, prefix string) ([]engram.BlobInfo, error) {
	var out []engram.BlobInfo
	after := ""
	for {
		page, err := st.List(ctx, engram.BlobListOptions{Prefix: prefix, After: after})
		if err != nil {
			return nil, fmt.Errorf("backup: list %s: %w", prefix, err)
		}
		out = append(out, page.Items...)
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}

// Create backs up the files in srcs and returns the new backup's manifest.
// Chunks already in the store are not uploaded again. The manifest is
// written last, with a conditional create: if Create fails or is killed,
// there is no backup, and the chunks it stored are reused by the next one.
// While it runs it holds the lock locks/create-<id>, which keeps a
// concurrent Prune from deleting chunks (see Prune); it fails with ELOCKED
// if a prune is running.
func Create(ctx context.Context, st engram.BlobStore, srcs []Source, opts *Options) (*Manifest, CreateStats, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ensureDefaults()
	var stats CreateStats
	if err := o.Chunks.validate(); err != nil {
		return nil, stats, err
	}
	if len(srcs) == 0 {
		return nil, stats, engram.Invalid("sources", "no files to back up")
	}
	var total int64
	seen := map[string]bool{}
	for _, s := range srcs {
		if err := validName(s.Name); err != nil {
			return nil, stats, err
		}
		if seen[s.Name] {
			return nil, stats, engram.Invalid("name", "%q appears twice", s.Name)
		}
		seen[s.Name] = true
		fi, err := os.Stat(s.Path)
		if err != nil {
			return nil, stats, fmt.Errorf("backup: %w", err)
		}
		total += fi.Size()
	}

	now := o.Now()
	m := &Manifest{Format: FormatVersion, ID: newID(now), Time: now.UTC(), Source: o.Source,
		EngramVersion: o.EngramVersion, Chunker: o.Chunks}
	lock := createLockPre + m.ID
	if err := putLock(ctx, st, lock, "create "+m.ID, now, true); err != nil {
		return nil, stats, fmt.Errorf("backup: take lock %s: %w", lock, err)
	}
	defer func() { _ = st.Delete(context.WithoutCancel(ctx), lock) }()
	// Written our lock first, then look for a prune's: a prune does the
	// same the other way round, so at least one of us sees the other.
	if live, since, err := liveLock(ctx, st, pruneLock, &o); err != nil {
		return nil, stats, fmt.Errorf("backup: check %s: %w", pruneLock, err)
	} else if live {
		return nil, stats, &engram.Error{Code: engram.ELOCKED, Message: fmt.Sprintf(
			"a prune is running (%s, since %s); try again when it is done", pruneLock, since.UTC().Format(time.RFC3339))}
	}
	stored, err := listAll(ctx, st, chunkPrefix)
	if err != nil {
		return nil, stats, err
	}
	have := make(map[string]bool, len(stored))
	for _, it := range stored {
		have[strings.TrimPrefix(it.Key[strings.LastIndexByte(it.Key, '/'):], "/")] = true
	}

	c := &creator{st: st, o: &o, have: have, lock: lock, lockedAt: now, total: total}
	for _, s := range srcs {
		f, err := c.file(ctx, s)
		if err != nil {
			return nil, c.stats, err
		}
		m.Files = append(m.Files, f)
	}
	js, err := json.Marshal(m)
	if err != nil {
		return nil, c.stats, err
	}
	b := encodeChunk(js)
	if _, err := st.Put(ctx, ManifestKey(m.ID), bytes.NewReader(b), engram.BlobPutOptions{IfAbsent: true}); err != nil {
		return nil, c.stats, fmt.Errorf("backup: write manifest %s: %w", ManifestKey(m.ID), err)
	}
	c.stats.Uploaded += int64(len(b))
	c.stats.Files = len(m.Files)
	return m, c.stats, nil
}

type creator struct {
	st       engram.BlobStore
	o        *Options
	lock     string
	lockedAt time.Time
	total    int64

	mu struct {
		sync.Mutex
		stats CreateStats // the counters workers add to
	}
	have  map[string]bool // chunks stored or being stored; guarded by mu
	stats CreateStats     // owned by the goroutine running file
}

type job struct {
	data []byte
	slot *Chunk
}

// file backs up one file: the calling goroutine reads and chunks it,
// workers hash, compress and upload.
func (c *creator) file(ctx context.Context, s Source) (File, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return File{}, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	ch, err := NewChunker(f, c.o.Chunks)
	if err != nil {
		return File{}, err
	}
	out := File{Name: s.Name}
	whole := sha256.New()
	var slots []*Chunk
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan job, c.o.Workers)
	for range c.o.Workers {
		g.Go(func() error {
			for j := range jobs {
				if err := c.upload(gctx, j); err != nil {
					return err
				}
			}
			return nil
		})
	}
	readErr := func() error {
		defer close(jobs)
		for {
			chunk, err := ch.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("backup: read %s: %w", s.Path, err)
			}
			whole.Write(chunk)
			out.Size += int64(len(chunk))
			c.stats.Bytes += int64(len(chunk))
			slot := &Chunk{Size: len(chunk)}
			slots = append(slots, slot)
			if err := c.refreshLock(ctx); err != nil {
				return err
			}
			select {
			case jobs <- job{data: bytes.Clone(chunk), slot: slot}:
			case <-gctx.Done():
				return nil // the worker's error is returned by Wait
			}
			c.o.progress("create", c.stats.Bytes, c.total)
		}
	}()
	werr := g.Wait()
	if err := errors.Join(readErr, werr); err != nil {
		return File{}, err
	}
	if err := ctx.Err(); err != nil {
		return File{}, err
	}
	c.mu.Lock()
	c.stats.NewChunks += c.mu.stats.NewChunks
	c.stats.NewBytes += c.mu.stats.NewBytes
	c.stats.Uploaded += c.mu.stats.Uploaded
	c.stats.ReusedBytes += c.mu.stats.ReusedBytes
	c.mu.stats = CreateStats{}
	c.mu.Unlock()
	for _, sl := range slots {
		out.Chunks = append(out.Chunks, *sl)
		c.stats.Chunks++
	}
	out.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return out, nil
}

// refreshLock rewrites the create lock when a quarter of StaleAfter has
// passed, so a long create's lock never looks stale.
func (c *creator) refreshLock(ctx context.Context) error {
	now := c.o.Now()
	if now.Sub(c.lockedAt) < c.o.StaleAfter/4 {
		return nil
	}
	if err := putLock(ctx, c.st, c.lock, "create", now, false); err != nil {
		return fmt.Errorf("backup: refresh lock %s: %w", c.lock, err)
	}
	c.lockedAt = now
	return nil
}

// upload hashes a chunk and stores it unless the store has it.
func (c *creator) upload(ctx context.Context, j job) error {
	sum := sha256.Sum256(j.data)
	h := hex.EncodeToString(sum[:])
	j.slot.SHA256 = h
	c.mu.Lock()
	dup := c.have[h]
	c.have[h] = true
	if dup {
		c.mu.stats.ReusedBytes += int64(len(j.data))
	}
	c.mu.Unlock()
	if dup {
		return nil
	}
	obj := encodeChunk(j.data)
	if _, err := c.st.Put(ctx, ChunkKey(h), bytes.NewReader(obj), engram.BlobPutOptions{}); err != nil {
		c.mu.Lock()
		delete(c.have, h)
		c.mu.Unlock()
		return fmt.Errorf("backup: store chunk %s: %w", ChunkKey(h), err)
	}
	c.mu.Lock()
	c.mu.stats.NewChunks++
	c.mu.stats.NewBytes += int64(len(j.data))
	c.mu.stats.Uploaded += int64(len(obj))
	c.mu.Unlock()
	return nil
}

// ReadManifest reads and checks backup id's manifest.
func ReadManifest(ctx context.Context, st engram.BlobStore, id string) (*Manifest, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	key := ManifestKey(id)
	rc, err := st.Get(ctx, key, 0, -1)
	if errors.Is(err, engram.ErrNotFound) {
		return nil, engram.NotFound("backup", id)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("backup: read %s: %w", key, err)
	}
	var m Manifest
	if len(b) > 0 && b[0] == chunkZstd {
		b, err = decoder.DecodeAll(b[1:], nil)
	} else if len(b) > 0 && b[0] == chunkRaw {
		b = b[1:]
	} else {
		err = errors.New("no valid header")
	}
	if err != nil {
		return nil, &engram.Error{Code: engram.ECORRUPT, Field: "manifest", Message: fmt.Sprintf("manifest %s is damaged: %v", key, err)}
	}
	bad := func(format string, args ...any) error {
		return &engram.Error{Code: engram.ECORRUPT, Field: "manifest", Message: fmt.Sprintf("manifest %s "+format, append([]any{key}, args...)...)}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, bad("is damaged: %v", err)
	}
	if m.Format != FormatVersion {
		return nil, bad("has format %d; this engram reads format %d", m.Format, FormatVersion)
	}
	if m.ID != id {
		return nil, bad("names backup %q", m.ID)
	}
	for _, f := range m.Files {
		if err := validName(f.Name); err != nil {
			return nil, bad("has a bad file name: %v", err)
		}
		var n int64
		for _, c := range f.Chunks {
			if _, err := hex.DecodeString(c.SHA256); err != nil || len(c.SHA256) != 64 || c.Size < 0 || c.Size > MaxChunkLimit {
				return nil, bad("has a bad chunk in %s: %q (%d bytes)", f.Name, c.SHA256, c.Size)
			}
			n += int64(c.Size)
		}
		if n != f.Size || len(f.SHA256) != 64 {
			return nil, bad("file %s: chunks add up to %d bytes; the file is %d", f.Name, n, f.Size)
		}
	}
	return &m, nil
}

// List returns every backup's manifest, oldest first.
func List(ctx context.Context, st engram.BlobStore) ([]*Manifest, error) {
	items, err := listAll(ctx, st, manifestPrefix)
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, it := range items {
		m, err := ReadManifest(ctx, st, strings.TrimPrefix(it.Key, manifestPrefix))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

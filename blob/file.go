package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/fsync"
)

// FileStore keeps objects as files in a local directory: key "a/b/c" is the
// file DIR/objects/a/b/c, and DIR/tmp holds the temp files of Puts in flight.
//
// A Put writes a temp file, fsyncs it, then renames it into place (or, for a
// conditional create, hard-links it, which fails atomically if the name is
// taken) and fsyncs the directory, so an acknowledged Put survives a crash
// and a crash mid-Put leaves the old object or none, never a partial one.
// Several processes may share a directory. Open removes temp files older
// than Options.StaleTempAge (left by a crash).
//
// ETag is the file's inode, size and modification time: it changes whenever
// a Put replaces the file. A key that is another key followed by "/..." is
// refused with ECONFLICT (a name cannot be a file and a directory). List
// walks the directories in key order, reading only those that can hold the
// page. Files under objects/ that are not valid keys are not listed.
type FileStore struct {
	dir     string // absolute
	objects string // dir/objects
	tmp     string // dir/tmp
	closed  atomic.Bool
}

var _ Store = (*FileStore)(nil)

// OpenFile opens (creating it if needed) the store in dir. opts may be nil.
func OpenFile(dir string, opts *Options) (*FileStore, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", dir, err)
	}
	f := &FileStore{dir: abs, objects: filepath.Join(abs, "objects"), tmp: filepath.Join(abs, "tmp")}
	for _, d := range []string{f.objects, f.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fileError("open", d, err)
		}
	}
	// Remove the temp files crashed Puts left. A live Put's temp file is
	// younger than StaleTempAge; a removal that races it makes that Put
	// fail, never store a wrong object.
	entries, err := os.ReadDir(f.tmp)
	if err != nil {
		return nil, fileError("open", f.tmp, err)
	}
	cutoff := o.Clock.Now().Add(-o.StaleTempAge)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		p := filepath.Join(f.tmp, e.Name())
		if err := os.Remove(p); err == nil {
			o.Logger.Info("blob: removed a stale temp file", "file", p)
		}
	}
	return f, nil
}

// Dir returns the store's directory.
func (f *FileStore) Dir() string { return f.dir }

func (f *FileStore) path(key string) string {
	return filepath.Join(f.objects, filepath.FromSlash(key))
}

// fileError maps a file system error to engram's codes, naming the file.
func fileError(op, path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &engram.Error{Code: engram.ENOSPACE, Message: fmt.Sprintf("blob: %s %s: file system full", op, path), Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("blob: %s %s: %w", op, path, err)
	}
	return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("blob: %s %s", op, path), Err: err}
}

func (f *FileStore) checkOpen() error {
	if f.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (f *FileStore) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Info, error) {
	if err := checkPut(key, r); err != nil {
		return Info{}, err
	}
	if err := f.checkOpen(); err != nil {
		return Info{}, fmt.Errorf("blob: put %q: %w", key, err)
	}
	tmp, err := os.CreateTemp(f.tmp, "put-*")
	if err != nil {
		return Info{}, fileError("put", f.tmp, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a rename or link, removes the temp name only
	info, err := fillTemp(ctx, tmp, r)
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %q: %w", key, err)
	}
	final := f.path(key)
	// A concurrent Delete may remove an emptied parent directory between our
	// mkdir and the rename; then the rename fails with ENOENT and we retry.
	for attempt := 0; ; attempt++ {
		if err := f.mkdirs(filepath.Dir(final)); err != nil {
			if errors.Is(err, fs.ErrNotExist) && attempt < 8 {
				continue // a parent was pruned under our mkdir
			}
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) {
				return Info{}, keyClashes(key, err)
			}
			return Info{}, fileError("put", final, err)
		}
		if opts.IfAbsent {
			err = os.Link(tmpName, final)
		} else {
			err = os.Rename(tmpName, final)
		}
		if err == nil {
			break
		}
		switch {
		case errors.Is(err, fs.ErrNotExist) && attempt < 8:
			continue
		case errors.Is(err, syscall.EISDIR) && attempt < 8 && os.Remove(final) == nil:
			continue // an empty directory a racing Delete had not pruned yet
		case opts.IfAbsent && errors.Is(err, fs.ErrExist):
			if st, serr := os.Lstat(final); serr == nil && st.IsDir() {
				return Info{}, keyClashes(key, err)
			}
			return Info{}, keyExists(key)
		case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, fs.ErrExist):
			return Info{}, keyClashes(key, err)
		}
		return Info{}, fileError("put", final, err)
	}
	if err := fsync.Dir(filepath.Dir(final)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// (ENOENT: a later Delete removed the object and pruned the
		// directory; that Delete's sync covers it.)
		// The object is in place but its name may not survive a crash.
		return Info{}, &engram.Error{Code: engram.EUNKNOWN, Message: fmt.Sprintf("blob: put %q: sync directory", key), Err: err}
	}
	info.Key = key
	return info, nil
}

// fillTemp copies r into tmp, fsyncs and closes it, and describes it.
func fillTemp(ctx context.Context, tmp *os.File, r io.Reader) (Info, error) {
	src := &source{ctx: ctx, r: r}
	_, err := io.Copy(tmp, src)
	if err == nil {
		err = tmp.Sync()
	}
	var st os.FileInfo
	if err == nil {
		st, err = tmp.Stat()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if serr := src.failure(); serr != nil {
			return Info{}, serr
		}
		return Info{}, fileError("write", tmp.Name(), err)
	}
	return infoOf(st), nil
}

func infoOf(st os.FileInfo) Info {
	var ino uint64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = sys.Ino
	}
	return Info{
		Size:    st.Size(),
		ETag:    fmt.Sprintf("%x-%x-%x", ino, st.Size(), st.ModTime().UnixNano()),
		ModTime: st.ModTime(),
	}
}

// mkdirs creates dir and its missing parents under objects/, fsyncing the
// parent of each directory it creates so the new names survive a crash.
func (f *FileStore) mkdirs(dir string) error {
	if dir == f.objects {
		return nil
	}
	st, err := os.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := f.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return fsync.Dir(filepath.Dir(dir))
}

// open opens key's file for reading; a directory is no object.
func (f *FileStore) open(key string) (*os.File, os.FileInfo, error) {
	p := f.path(key)
	fh, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil, keyNotFound(key)
		}
		return nil, nil, fileError("open", p, err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, nil, fileError("stat", p, err)
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, nil, keyNotFound(key)
	}
	return fh, st, nil
}

func (f *FileStore) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := checkGet(key, off); err != nil {
		return nil, err
	}
	if err := f.checkOpen(); err != nil {
		return nil, fmt.Errorf("blob: get %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: get %q: %w", key, err)
	}
	fh, st, err := f.open(key)
	if err != nil {
		return nil, fmt.Errorf("blob: get %q: %w", key, err)
	}
	start, length := rangeOf(st.Size(), off, n)
	return &fileReader{ctx: ctx, f: fh, r: io.NewSectionReader(fh, start, length)}, nil
}

// fileReader streams a section of a file, failing reads once ctx is done and
// naming the file in read errors.
type fileReader struct {
	ctx context.Context
	f   *os.File
	r   io.Reader
}

func (r *fileReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fileError("read", r.f.Name(), err)
	}
	return n, err
}

func (r *fileReader) Close() error { return r.f.Close() }

func (f *FileStore) Stat(ctx context.Context, key string) (Info, error) {
	if err := engram.ValidateBlobKey(key); err != nil {
		return Info{}, err
	}
	if err := f.checkOpen(); err != nil {
		return Info{}, fmt.Errorf("blob: stat %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: stat %q: %w", key, err)
	}
	p := f.path(key)
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return Info{}, fmt.Errorf("blob: stat %q: %w", key, keyNotFound(key))
		}
		return Info{}, fileError("stat", p, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("blob: stat %q: %w", key, keyNotFound(key))
	}
	info := infoOf(st)
	info.Key = key
	return info, nil
}

func (f *FileStore) List(ctx context.Context, opts ListOptions) (Page, error) {
	limit, err := checkList(opts)
	if err != nil {
		return Page{}, err
	}
	if err := f.checkOpen(); err != nil {
		return Page{}, fmt.Errorf("blob: list %q: %w", opts.Prefix, err)
	}
	w := lister{ctx: ctx, prefix: opts.Prefix, after: opts.After, want: limit + 1}
	// Start at the deepest directory the prefix names whole.
	base := ""
	if i := strings.LastIndexByte(opts.Prefix, '/'); i >= 0 {
		base = opts.Prefix[:i+1]
	}
	if err := w.walk(filepath.Join(f.objects, filepath.FromSlash(base)), base); err != nil {
		return Page{}, err
	}
	page := Page{Items: w.items}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.Next = page.Items[limit-1].Key
	}
	return page, nil
}

// lister walks directories in key order: the entries of a directory sorted
// with '/' appended to the names of subdirectories, which is the byte order
// of the keys beneath them (a name cannot be both a file and a directory).
type lister struct {
	ctx           context.Context
	prefix, after string
	want          int
	items         []Info
}

func (w *lister) walk(dir, keyPrefix string) error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("blob: list %q: %w", w.prefix, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fileError("list", dir, err)
	}
	type entry struct {
		name string // with '/' for a directory
		de   fs.DirEntry
	}
	sorted := make([]entry, 0, len(entries))
	for _, de := range entries {
		name := de.Name()
		if de.IsDir() {
			name += "/"
		}
		sorted = append(sorted, entry{name, de})
	}
	slices.SortFunc(sorted, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for _, e := range sorted {
		if len(w.items) >= w.want {
			return nil
		}
		key := keyPrefix + e.name
		if e.de.IsDir() {
			// The subtree holds keys starting with key: skip it unless some
			// of them can match the prefix and sort after After.
			if !strings.HasPrefix(key, w.prefix) && !strings.HasPrefix(w.prefix, key) {
				continue
			}
			if w.after >= key && !strings.HasPrefix(w.after, key) {
				continue
			}
			if err := w.walk(filepath.Join(dir, e.de.Name()), key); err != nil {
				return err
			}
			continue
		}
		if !e.de.Type().IsRegular() || !strings.HasPrefix(key, w.prefix) || key <= w.after {
			continue
		}
		if engram.ValidateBlobKey(key) != nil {
			continue // not ours
		}
		st, err := e.de.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since ReadDir
			}
			return fileError("list", filepath.Join(dir, e.de.Name()), err)
		}
		info := infoOf(st)
		info.Key = key
		w.items = append(w.items, info)
	}
	return nil
}

func (f *FileStore) Delete(ctx context.Context, key string) error {
	if err := engram.ValidateBlobKey(key); err != nil {
		return err
	}
	if err := f.checkOpen(); err != nil {
		return fmt.Errorf("blob: delete %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete %q: %w", key, err)
	}
	p := f.path(key)
	st, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fileError("delete", p, err)
	}
	if st.IsDir() {
		return nil // no object has this key; keys below it do
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fileError("delete", p, err)
	}
	if err := fsync.Dir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fileError("delete", p, err)
	}
	// Prune emptied parents so listings do not walk dead directories. A
	// Put racing this retries its mkdir (see Put).
	for d := filepath.Dir(p); d != f.objects && strings.HasPrefix(d, f.objects); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return nil
}

// Close marks the store closed; later calls fail with ErrClosed. Open
// streams stay readable until closed.
func (f *FileStore) Close() error {
	f.closed.Store(true)
	return nil
}

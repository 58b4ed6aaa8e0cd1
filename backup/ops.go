package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/fsync"
)

// VerifyReport is what Verify found in one backup.
type VerifyReport struct {
	ID       string
	Files    int
	Chunks   int   // chunk references read and re-hashed
	Bytes    int64 // file bytes checked
	Problems []string
}

// Verify reads every chunk of backup id, re-hashes it, and re-hashes every
// file from its chunks. Damage (a missing chunk, one whose hash, size or
// compression is wrong, a file whose hash does not match) is listed in
// Problems by chunk key and file name, each chunk once; the error is for
// what stopped the check (an unreadable manifest, an unreachable store).
func Verify(ctx context.Context, st engram.BlobStore, id string, opts *Options) (*VerifyReport, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ensureDefaults()
	m, err := ReadManifest(ctx, st, id)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{ID: id, Files: len(m.Files)}
	reported := map[string]bool{}
	total := m.Size()
	for _, f := range m.Files {
		h := sha256.New()
		fileOK := true
		for _, c := range f.Chunks {
			data, err := readChunk(ctx, st, c)
			rep.Chunks++
			rep.Bytes += int64(c.Size)
			o.progress("verify", rep.Bytes, total)
			var e *engram.Error
			if errors.As(err, &e) && e.Code == engram.ECORRUPT {
				fileOK = false
				if !reported[c.SHA256] {
					reported[c.SHA256] = true
					rep.Problems = append(rep.Problems, fmt.Sprintf("%s (in %s)", e.Message, f.Name))
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			h.Write(data)
		}
		if fileOK && hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("file %s: its chunks hash to %x, not the manifest's %s", f.Name, h.Sum(nil)[:8], f.SHA256[:16]))
		}
	}
	return rep, nil
}

// Restore writes backup id's files into dir, which must be absent or empty
// (EINVALID naming "dir" otherwise). Files are written to a staging
// directory beside dir, every chunk and every file hash is checked, and
// only when all are right are the files fsynced and renamed into dir. A
// damaged or missing chunk is ECORRUPT naming it, and dir is left as it
// was. It returns the number of bytes restored.
func Restore(ctx context.Context, st engram.BlobStore, id, dir string, opts *Options) (int64, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ensureDefaults()
	if dir == "" {
		return 0, engram.Invalid("dir", "is required")
	}
	dir = filepath.Clean(dir)
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return 0, engram.Invalid("dir", "%s is not empty (%d entries); restore into a new or empty directory", dir, len(ents))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("backup: restore into %s: %w", dir, err)
	}
	m, err := ReadManifest(ctx, st, id)
	if err != nil {
		return 0, err
	}
	stage := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".restore-"+id)
	if err := os.RemoveAll(stage); err != nil { // what a killed restore of this backup left
		return 0, fmt.Errorf("backup: restore: %w", err)
	}
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return 0, fmt.Errorf("backup: restore: %w", err)
	}
	defer os.RemoveAll(stage)
	var done int64
	total := m.Size()
	for _, f := range m.Files {
		if err := restoreFile(ctx, st, f, filepath.Join(stage, f.Name), &done, total, &o); err != nil {
			return 0, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("backup: restore: %w", err)
	}
	for _, f := range m.Files {
		if err := os.Rename(filepath.Join(stage, f.Name), filepath.Join(dir, f.Name)); err != nil {
			return 0, fmt.Errorf("backup: restore: %w", err)
		}
	}
	if err := fsync.Dir(dir); err != nil {
		return 0, fmt.Errorf("backup: restore: %w", err)
	}
	return done, nil
}

func restoreFile(ctx context.Context, st engram.BlobStore, f File, path string, done *int64, total int64, o *Options) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	defer out.Close()
	h := sha256.New()
	for _, c := range f.Chunks {
		data, err := readChunk(ctx, st, c)
		if err != nil {
			return fmt.Errorf("backup: restore %s of backup: %w", f.Name, err)
		}
		h.Write(data)
		if _, err := out.Write(data); err != nil {
			return fmt.Errorf("backup: restore: %w", err)
		}
		*done += int64(len(data))
		o.progress("restore", *done, total)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return &engram.Error{Code: engram.ECORRUPT, Field: "file", Message: fmt.Sprintf(
			"file %s of the backup hashes to %s, not the manifest's %s", f.Name, got[:16], f.SHA256[:16])}
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	return out.Close()
}

// PruneReport is what Prune removed.
type PruneReport struct {
	Kept            []string // ids of the backups kept
	Removed         []string // ids of the backups removed
	ChunksRemoved   int
	BytesRemoved    int64 // stored (compressed) bytes of the removed chunks
	ChunksKept      int
	ChunksDeferred  bool   // chunk removal skipped: a create is running
	DeferredBecause string // the create's lock
	StaleLocks      []string
}

// Prune keeps the newest keep backups, removes the other manifests, then
// removes every chunk no remaining manifest names.
//
// Against a concurrent Create: Prune takes locks/prune (a conditional
// create; ELOCKED if another prune holds it), then lists the create locks.
// A create writes its lock and then looks for the prune lock, so at least
// one sees the other: the create gives up (ELOCKED), or the prune sees the
// create and leaves every chunk in place this time (ChunksDeferred). Locks
// older than StaleAfter were left by killed processes and are removed.
func Prune(ctx context.Context, st engram.BlobStore, keep int, opts *Options) (*PruneReport, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ensureDefaults()
	if keep < 1 {
		return nil, engram.Invalid("keep", "%d: keep at least 1 backup", keep)
	}
	if err := takePruneLock(ctx, st, &o); err != nil {
		return nil, err
	}
	defer func() { _ = st.Delete(context.WithoutCancel(ctx), pruneLock) }()
	rep := &PruneReport{}
	locks, err := listAll(ctx, st, createLockPre)
	if err != nil {
		return nil, err
	}
	for _, l := range locks {
		if o.Now().Sub(l.ModTime) >= o.StaleAfter {
			if err := st.Delete(ctx, l.Key); err != nil {
				return nil, fmt.Errorf("backup: remove stale lock %s: %w", l.Key, err)
			}
			rep.StaleLocks = append(rep.StaleLocks, l.Key)
			continue
		}
		rep.ChunksDeferred, rep.DeferredBecause = true, l.Key
	}

	ms, err := List(ctx, st)
	if err != nil {
		return nil, err
	}
	cut := max(len(ms)-keep, 0)
	for _, m := range ms[:cut] {
		if err := st.Delete(ctx, ManifestKey(m.ID)); err != nil {
			return nil, fmt.Errorf("backup: remove %s: %w", ManifestKey(m.ID), err)
		}
		rep.Removed = append(rep.Removed, m.ID)
	}
	used := map[string]bool{}
	for _, m := range ms[cut:] {
		rep.Kept = append(rep.Kept, m.ID)
		for _, f := range m.Files {
			for _, c := range f.Chunks {
				used[c.SHA256] = true
			}
		}
	}
	if rep.ChunksDeferred {
		return rep, nil
	}
	chunks, err := listAll(ctx, st, chunkPrefix)
	if err != nil {
		return nil, err
	}
	for _, it := range chunks {
		h := it.Key[strings.LastIndexByte(it.Key, '/')+1:]
		if used[h] {
			rep.ChunksKept++
			continue
		}
		if err := st.Delete(ctx, it.Key); err != nil {
			return nil, fmt.Errorf("backup: remove %s: %w", it.Key, err)
		}
		rep.ChunksRemoved++
		rep.BytesRemoved += it.Size
	}
	return rep, nil
}

func takePruneLock(ctx context.Context, st engram.BlobStore, o *Options) error {
	for attempt := 0; ; attempt++ {
		err := putLock(ctx, st, pruneLock, "prune", o.Now(), true)
		if err == nil {
			return nil
		}
		var e *engram.Error
		if !errors.As(err, &e) || e.Code != engram.ECONFLICT || attempt > 0 {
			if e != nil && e.Code == engram.ECONFLICT {
				break
			}
			return fmt.Errorf("backup: take lock %s: %w", pruneLock, err)
		}
		live, since, err := liveLock(ctx, st, pruneLock, o)
		if err != nil {
			return fmt.Errorf("backup: check %s: %w", pruneLock, err)
		}
		if live {
			return &engram.Error{Code: engram.ELOCKED, Message: fmt.Sprintf(
				"another prune is running (%s, since %s)", pruneLock, since.UTC().Format(time.RFC3339))}
		}
		if err := st.Delete(ctx, pruneLock); err != nil { // left by a killed prune
			return fmt.Errorf("backup: remove stale %s: %w", pruneLock, err)
		}
	}
	return &engram.Error{Code: engram.ELOCKED, Message: "another prune took " + pruneLock + " while this one removed a stale one"}
}

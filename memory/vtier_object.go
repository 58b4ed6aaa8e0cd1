package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/fsync"
)

// The object tier's copy of the vector indexes (see vtier.go for the layout).

const (
	vtManifestVersion = 1
	vtMaxManifest     = 1 << 20 // a group manifest is a few hundred bytes
)

// vtManifest names the objects of one group's snapshot.
type vtManifest struct {
	Version int              `json:"version"`
	Seq     uint64           `json:"seq"`
	Dims    map[string]vtDim `json:"dims"`
}

type vtDim struct {
	Kind   string `json:"kind"`   // "flat" or "hnsw"
	SHA256 string `json:"sha256"` // of the file; the object's name
	Size   int64  `json:"size"`
}

func (man *vtManifest) bytes() int64 {
	var n int64
	for _, d := range man.Dims {
		n += d.Size
	}
	return n
}

func vtManifestKey(k groupKey) string {
	return vtGroupPrefix + escapePath(string(k.ns)) + "/" + escapePath(string(k.typ)) + "/" + escapePath(k.model) + vtManifestSuffix
}

func vtObjectKey(sum string) string { return vtObjectPrefix + sum }

// check rejects a manifest that cannot name a snapshot.
func (man *vtManifest) check(key string) error {
	bad := func(format string, args ...any) error {
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("vector object tier: manifest %s: %s", key, fmt.Sprintf(format, args...))}
	}
	if man.Version != vtManifestVersion {
		return bad("version %d, want %d", man.Version, vtManifestVersion)
	}
	for ds, d := range man.Dims {
		dim, err := strconv.Atoi(ds)
		if err != nil || dim < 1 || dim > engram.MaxVectorDim {
			return bad("names dimension %q", ds)
		}
		if d.Kind != "flat" && d.Kind != "hnsw" {
			return bad("names index kind %q", d.Kind)
		}
		if b, err := hex.DecodeString(d.SHA256); err != nil || len(b) != sha256.Size {
			return bad("names object %q", d.SHA256)
		}
		if d.Size < 0 {
			return bad("gives size %d", d.Size)
		}
	}
	return nil
}

// remoteManifest reads k's manifest from the object tier (ENOTFOUND when
// there is none).
func (vt *vtier) remoteManifest(ctx context.Context, k groupKey) (*vtManifest, error) {
	key := vtManifestKey(k)
	r, err := vt.obj.Get(ctx, key, 0, vtMaxManifest+1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("vector object tier: read %s: %w", key, err)
	}
	var man vtManifest
	if len(b) > vtMaxManifest || json.Unmarshal(b, &man) != nil {
		return nil, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("vector object tier: manifest %s is damaged", key)}
	}
	if err := man.check(key); err != nil {
		return nil, err
	}
	return &man, nil
}

// download writes the snapshot man names into dir as a local snapshot:
// each object is streamed into a temporary file while hashed, checked
// against its name and size, synced and renamed into place; the local
// manifest goes last. On failure dir is removed.
func (vt *vtier) download(ctx context.Context, k groupKey, man *vtManifest, dir string) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	local := manifest{Version: manifestVersion, Seq: man.Seq, Dims: map[string]string{}}
	for ds, d := range man.Dims {
		if err := vt.downloadObject(ctx, d, filepath.Join(dir, ds+"."+d.Kind)); err != nil {
			return err
		}
		local.Dims[ds] = d.Kind
	}
	b, err := json.Marshal(local)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, manifestName), b)
}

func (vt *vtier) downloadObject(ctx context.Context, d vtDim, path string) (err error) {
	key := vtObjectKey(d.SHA256)
	r, err := vt.obj.Get(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("vector object tier: get %s: %w", key, err)
	}
	defer r.Close()
	tmp := path + ".download"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		return fmt.Errorf("vector object tier: get %s: %w", key, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != d.SHA256 || n != d.Size {
		// The name is the content's hash, so nothing good is lost: removing
		// it lets the next upload store the right bytes under it again.
		if derr := vt.obj.Delete(ctx, key); derr != nil {
			vt.m.log.Warn("memory: removing a damaged vector object failed", "key", key, "err", derr)
		}
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf(
			"vector object tier: object %s fails its checksum: %d bytes of sha256 %s, want %d bytes of sha256 %s", key, n, sum, d.Size, d.SHA256)}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return fsync.Dir(filepath.Dir(path))
}

// readManifest reads dir's local manifest.
func readManifest(dir string) (*manifest, error) {
	path := filepath.Join(dir, manifestName)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var man manifest
	if err := json.Unmarshal(b, &man); err != nil || man.Version != manifestVersion {
		return nil, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("index manifest %s is damaged or of another version", path)}
	}
	return &man, nil
}

// uploadDir uploads the local snapshot in dir as k's copy in the object
// tier and returns the feed position it covers. The files are opened under
// idx.loadMu (saves replace them under it, so the set is consistent) and
// read afterwards: a save meanwhile renames new files over them without
// changing what the open files hold. Objects already stored are not sent
// again; the manifest is written last. g, when set, is the loaded group
// the files belong to.
func (vt *vtier) uploadDir(ctx context.Context, k groupKey, dir string, g *group) (uint64, error) {
	vt.upMu.Lock()
	defer vt.upMu.Unlock()
	s := vt.m.idx
	type file struct {
		ds, kind string
		f        *os.File
	}
	var files []file
	defer func() {
		for _, f := range files {
			f.f.Close()
		}
	}()
	s.loadMu.Lock()
	man, err := readManifest(dir)
	if err == nil {
		for ds, kind := range man.Dims {
			var f *os.File
			if f, err = os.Open(filepath.Join(dir, ds+"."+kind)); err != nil {
				break
			}
			files = append(files, file{ds, kind, f})
		}
	}
	s.loadMu.Unlock()
	if err != nil {
		return 0, err
	}
	out := vtManifest{Version: vtManifestVersion, Seq: man.Seq, Dims: map[string]vtDim{}}
	var sent int64
	fail := func(err error) (uint64, error) {
		err = fmt.Errorf("memory: upload index %s to the object tier: %w", dir, err)
		vt.mu.Lock()
		vt.lastUploadErr = err.Error()
		vt.mu.Unlock()
		vt.noteObjErr(err)
		return 0, err
	}
	for _, f := range files {
		h := sha256.New()
		n, err := io.Copy(h, f.f)
		if err != nil {
			return fail(err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		out.Dims[f.ds] = vtDim{Kind: f.kind, SHA256: sum, Size: n}
		key := vtObjectKey(sum)
		if st, err := vt.obj.Stat(ctx, key); err == nil && st.Size == n {
			continue // content-addressed: already there
		} else if err != nil && engram.ErrorCode(err) != engram.ENOTFOUND {
			return fail(err)
		}
		if _, err := f.f.Seek(0, io.SeekStart); err != nil {
			return fail(err)
		}
		if _, err := vt.obj.Put(ctx, key, io.LimitReader(f.f, n), engram.BlobPutOptions{}); err != nil {
			return fail(err)
		}
		sent += n
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fail(err)
	}
	mkey := vtManifestKey(k)
	if cur, err := vt.remoteManifest(ctx, k); err != nil || !sameManifest(cur, &out) {
		if _, err := vt.obj.Put(ctx, mkey, strings.NewReader(string(b)), engram.BlobPutOptions{}); err != nil {
			return fail(err)
		}
	}
	vt.noteObjErr(nil)
	vt.mu.Lock()
	vt.uploads++
	vt.uploadBytes += sent
	vt.lastUploadErr = ""
	e := vt.entryLocked(k)
	e.uploadedSeq = out.Seq
	if e.tier == engram.VectorCold {
		e.bytes = out.bytes()
	}
	vt.mu.Unlock()
	return out.Seq, nil
}

func sameManifest(a, b *vtManifest) bool {
	if a.Seq != b.Seq || len(a.Dims) != len(b.Dims) {
		return false
	}
	for k, d := range a.Dims {
		if b.Dims[k] != d {
			return false
		}
	}
	return true
}

// listCold registers the groups the object tier holds that are not known
// here as cold.
func (vt *vtier) listCold(ctx context.Context) error {
	after := ""
	for {
		p, err := vt.obj.List(ctx, engram.BlobListOptions{Prefix: vtGroupPrefix, After: after})
		if err != nil {
			vt.noteObjErr(err)
			return fmt.Errorf("memory: list the vector object tier: %w", err)
		}
		for _, it := range p.Items {
			k, ok := parseManifestKey(it.Key)
			if !ok {
				continue
			}
			vt.mu.Lock()
			_, known := vt.entries[k]
			vt.mu.Unlock()
			if known {
				continue
			}
			man, err := vt.remoteManifest(ctx, k)
			if err != nil {
				if engram.ErrorCode(err) == engram.ENOTFOUND {
					continue // deleted since the listing
				}
				return err
			}
			vt.mu.Lock()
			if _, known := vt.entries[k]; !known {
				vt.entries[k] = &vtEntry{key: k, tier: engram.VectorCold, bytes: man.bytes(), uploadedSeq: man.Seq}
			}
			vt.mu.Unlock()
		}
		if p.Next == "" {
			return nil
		}
		after = p.Next
	}
}

// parseManifestKey reverses vtManifestKey.
func parseManifestKey(key string) (groupKey, bool) {
	rest, ok := strings.CutPrefix(key, vtGroupPrefix)
	if !ok {
		return groupKey{}, false
	}
	rest, ok = strings.CutSuffix(rest, vtManifestSuffix)
	if !ok {
		return groupKey{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return groupKey{}, false
	}
	var out [3]string
	for i, p := range parts {
		s, err := unescapePath(p)
		if err != nil {
			return groupKey{}, false
		}
		out[i] = s
	}
	return groupKey{engram.Namespace(out[0]), engram.ItemType(out[1]), out[2]}, true
}

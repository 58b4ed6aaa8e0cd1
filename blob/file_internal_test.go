package blob

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
)

// FuzzFileKeyStaysInside: every key ValidateBlobKey accepts maps to a path
// strictly inside objects/, already clean, and back to itself.
func FuzzFileKeyStaysInside(f *testing.F) {
	for _, k := range []string{"a", "a/b", "../x", "a/../../b", "./a", "a/.", "..a/b..", "a//b", "/abs", "a\\..\\b", "é/🙂"} {
		f.Add(k)
	}
	fs := &FileStore{objects: "/store/objects"}
	f.Fuzz(func(t *testing.T, key string) {
		if engram.ValidateBlobKey(key) != nil {
			return
		}
		p := fs.path(key)
		if !strings.HasPrefix(p, fs.objects+"/") || filepath.Clean(p) != p {
			t.Fatalf("key %q maps to %q, outside %s or not clean", key, p, fs.objects)
		}
		if back := filepath.ToSlash(strings.TrimPrefix(p, fs.objects+"/")); back != key {
			t.Fatalf("key %q maps to %q, which reads back as %q", key, p, back)
		}
	})
}

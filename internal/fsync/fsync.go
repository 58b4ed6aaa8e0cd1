// Package fsync makes file-system changes durable: Dir fsyncs a directory,
// so that a rename, link or create inside it survives a crash. Every tier that
// writes a file under a temporary name and renames it into place calls Dir on
// the parent afterwards.
package fsync

import "os"

// Dir fsyncs directory dir. The error of the sync, or of closing, is
// returned; a missing dir is an error wrapping fs.ErrNotExist.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

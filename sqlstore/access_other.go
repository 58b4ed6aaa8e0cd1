//go:build !unix

package sqlstore

func writable(path string) error { return nil }

func writableHint(path string) string { return "" }

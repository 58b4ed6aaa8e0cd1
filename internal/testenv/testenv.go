// Package testenv holds what engram's tests share about the machine they
// run on. It promises one rule: an integration test that cannot run here
// skips on a developer's machine and fails under CI (CI set), where every
// integration test must run.
package testenv

import (
	"os"
	"testing"
)

// SkipOrFail skips t, saying why, or fails it when CI is set.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: cannot run %s: %s", t.Name(), why)
	}
	t.Skipf("SKIPPED (would fail in CI): %s", why)
}

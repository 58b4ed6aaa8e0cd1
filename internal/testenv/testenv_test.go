package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSkipOrFail runs a child test that calls SkipOrFail, once with CI set
// and once without: it must fail in the first and skip in the second.
func TestSkipOrFail(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") != "" {
		SkipOrFail(t, "the child's reason")
		return
	}
	for _, ci := range []string{"true", ""} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSkipOrFail$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		switch {
		case ci != "" && (err == nil || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "the child's reason")):
			t.Fatalf("with CI set the test must fail naming why: %v\n%s", err, out)
		case ci == "" && (err != nil || !strings.Contains(string(out), "--- SKIP")):
			t.Fatalf("without CI the test must skip: %v\n%s", err, out)
		}
	}
}

package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestUsageErrorsExit2: a bad flag value or argument is a usage error (exit
// 2 with the usage hint), whichever layer notices it.
func TestUsageErrorsExit2(t *testing.T) {
	c := newCLI(t)
	c.fails(exitUsage, "--listen", "", "serve", "--listen", "nonsense")
	c.fails(exitUsage, "rate_limit", "", "serve", "--rate-limit", "-1")
	c.fails(exitUsage, "--kind", "", "search", "--kind", "telepathy", "retry")
	c.fails(exitUsage, "--kind", "", "pattern", "list", "--kind", "telepathy")
	c.fails(exitUsage, "episode_id", "", "episode", "get", "not-a-uuid")
	c.fails(exitUsage, "not a UUID", "", "heuristic", "get", "nope")
	c.fails(exitUsage, "not a UUID", "", "pattern", "delete", "nope")
	if r := c.run("", "search", "--kind", "telepathy", "retry"); !strings.Contains(r.stderr, "Run 'engram --help'") {
		t.Errorf("a usage error without the usage hint: %q", r.stderr)
	}
}

// TestServeRefusalNamesTheAddressAsked: refusing 0.0.0.0 without tokens,
// engram serve names the address given (which Go reports bound as [::]).
func TestServeRefusalNamesTheAddressAsked(t *testing.T) {
	c := newCLI(t)
	r := c.run("", "serve", "--listen", "0.0.0.0:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "refusing to listen on 0.0.0.0:0") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// TestHeuristicHelpExampleRuns pastes the example of `heuristic add --help`.
func TestHeuristicHelpExampleRuns(t *testing.T) {
	c := newCLI(t)
	help := c.ok("", "heuristic", "add", "--help")
	_, rest, ok := strings.Cut(help, "echo '")
	doc, _, ok2 := strings.Cut(rest, "' |")
	if !ok || !ok2 || !strings.Contains(help, "engram heuristic add") {
		t.Fatalf("no echo '...' | engram heuristic add example in:\n%s", help)
	}
	out := c.ok(doc, "heuristic", "add")
	if !strings.Contains(out, "a test is flaky") {
		t.Fatalf("the example stored: %s", out)
	}
}

// TestSearchTextOutput: scores print with meaningful precision (BM25
// scores are often far below 0.01) and a snippet's fields are joined with
// " · " on one row.
func TestSearchTextOutput(t *testing.T) {
	c := newCLI(t)
	c.ok(`{"task_description":"fix the flaky retry loop","tags":["flaky"],"context":{"domain":"web-api","language":"go"}}`, "episode", "add")
	out := c.ok("", "search", "retry")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row:\n%s", out)
	}
	fields := strings.Fields(lines[1])
	score, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || score <= 0 {
		t.Fatalf("score %q does not show the hit's score: %s", fields[0], lines[1])
	}
	if !strings.Contains(lines[1], " · ") || !strings.Contains(lines[1], "[retry]") {
		t.Fatalf("snippet not joined with ' · ': %s", lines[1])
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// cli runs engram in-process against a data directory of the test's own.
type cli struct {
	t       *testing.T
	dataDir string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	// Keep the caller's environment from leaking into the tests.
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ENGRAM_") && !strings.HasPrefix(kv, "ENGRAM_TEST_") {
			k, _, _ := strings.Cut(kv, "=")
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	return &cli{t: t, dataDir: filepath.Join(t.TempDir(), "data")}
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--data-dir", c.dataDir}, args...)
	code := run(context.Background(), full, strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// ok runs a command that must succeed and returns its standard output.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("engram %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// json runs a command with -o json and decodes its one JSON document into v.
func (c *cli) json(v any, stdin string, args ...string) {
	c.t.Helper()
	out := c.ok(stdin, append(args, "-o", "json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		c.t.Fatalf("engram %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		c.t.Fatalf("engram %s -o json printed more than one JSON document:\n%s", strings.Join(args, " "), out)
	}
}

func (c *cli) fails(wantCode int, wantStderr string, stdin string, args ...string) {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != wantCode {
		c.t.Fatalf("engram %s: exit %d, want %d\nstderr: %s", strings.Join(args, " "), r.code, wantCode, r.stderr)
	}
	if !strings.Contains(r.stderr, wantStderr) {
		c.t.Fatalf("engram %s: stderr %q does not contain %q", strings.Join(args, " "), r.stderr, wantStderr)
	}
	if wantCode == exitError && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		c.t.Fatalf("engram %s: error is not one line: %q", strings.Join(args, " "), r.stderr)
	}
}

func TestEpisodeLifecycle(t *testing.T) {
	c := newCLI(t)
	in, _ := json.Marshal(storetest.SampleEpisode(1))
	var added engram.Episode
	c.json(&added, string(in), "episode", "add")
	if added.ID.IsZero() || len(added.Steps) != 2 {
		t.Fatalf("added episode: %+v", added)
	}
	var got engram.Episode
	c.json(&got, "", "episode", "get", added.ID.String())
	storetest.Equal(t, "episode get", got, added)

	var st engram.Step
	c.json(&st, `{"tool":"go test","action":"rerun","result":{"type":"success","output":"ok"}}`, "step", "add", added.ID.String())
	if st.StepNumber != 3 {
		t.Fatalf("appended step number %d", st.StepNumber)
	}
	file := filepath.Join(t.TempDir(), "done.json")
	os.WriteFile(file, []byte(`{"outcome":{"type":"success","verdict":"fixed"},"reward":{"total":0.5}}`), 0o644)
	var done engram.Episode
	c.json(&done, "", "episode", "complete", added.ID.String(), "-f", file)
	if !done.Complete() || done.Outcome.Verdict != "fixed" || len(done.Steps) != 3 {
		t.Fatalf("completed: %+v", done)
	}
	text := c.ok("", "episode", "get", added.ID.String())
	for _, want := range []string{added.ID.String(), "status    success", "3. go test: rerun [success]"} {
		if !strings.Contains(text, want) {
			t.Fatalf("text output lacks %q:\n%s", want, text)
		}
	}
	c.fails(exitError, "is complete", `{"tool":"t","action":"a"}`, "step", "add", added.ID.String())
	c.ok("", "episode", "delete", added.ID.String())
	c.fails(exitError, "not found", "", "episode", "get", added.ID.String())
	c.fails(exitError, "not found", "", "episode", "delete", added.ID.String())
}

func TestListFiltersAndJSONArray(t *testing.T) {
	c := newCLI(t)
	c.ok("", "demo")
	var all []engram.Episode
	c.json(&all, "", "episode", "list")
	if len(all) != 3 {
		t.Fatalf("demo left %d episodes, want 3", len(all))
	}
	for _, cs := range []struct {
		args []string
		want int
	}{
		{[]string{"--complete"}, 1},
		{[]string{"--open"}, 2},
		{[]string{"--tag", "retry"}, 1},
		{[]string{"--domain", "web-api"}, 2},
		{[]string{"--task-type", "analysis"}, 1},
		{[]string{"--near", "52.52,13.40,25"}, 2},
		{[]string{"--box", "48,2,49,3"}, 1},
		{[]string{"--meta", "repo=acme/api"}, 1},
		{[]string{"--since", "90m"}, 1},
		{[]string{"--until", "2000-01-01"}, 0},
	} {
		var eps []engram.Episode
		c.json(&eps, "", append([]string{"episode", "list"}, cs.args...)...)
		if len(eps) != cs.want {
			t.Errorf("episode list %v: %d episodes, want %d", cs.args, len(eps), cs.want)
		}
	}
	var page []engram.Episode
	r := c.run("", "episode", "list", "--limit", "2", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page) != 2 || !strings.Contains(r.stderr, "--cursor") {
		t.Fatalf("paged list: %d episodes, %v, stderr %q", len(page), err, r.stderr)
	}
	var everything []engram.Episode
	c.json(&everything, "", "episode", "list", "--limit", "1", "--all")
	if len(everything) != 3 {
		t.Fatalf("--all: %d episodes", len(everything))
	}
	var hits []engram.SearchHit
	c.json(&hits, "", "search", "retry", "deadline")
	if len(hits) != 1 || hits[0].EpisodeID == nil {
		t.Fatalf("search: %+v", hits)
	}
	var none []engram.Episode
	c.json(&none, "", "episode", "list", "--namespace", "someone-else")
	if none == nil || len(none) != 0 {
		t.Fatalf("other namespace list: %v (want an empty JSON array)", none)
	}
}

func TestPatternsAndHeuristics(t *testing.T) {
	c := newCLI(t)
	var p engram.Pattern
	c.json(&p, `{"kind":"error_recovery","error_type":"connection reset","recovery_steps":["retry"],"domain":"infra"}`, "pattern", "add")
	var got engram.Pattern
	c.json(&got, "", "pattern", "get", p.ID.String())
	storetest.Equal(t, "pattern", got, p)
	var ps []engram.Pattern
	c.json(&ps, "", "pattern", "list", "--kind", "error_recovery")
	if len(ps) != 1 {
		t.Fatalf("pattern list: %d", len(ps))
	}
	c.fails(exitError, "tools: is not a field of a error_recovery pattern", `{"kind":"error_recovery","error_type":"e","tools":["x"]}`, "pattern", "add")
	c.ok("", "pattern", "delete", p.ID.String())
	c.fails(exitError, "not found", "", "pattern", "get", p.ID.String())

	var h engram.Heuristic
	c.json(&h, `{"condition":"c","action":"a","confidence":0.9}`, "heuristic", "add")
	var hs []engram.Heuristic
	c.json(&hs, "", "heuristic", "list", "--min-confidence", "0.5")
	if len(hs) != 1 || hs[0].ID != h.ID {
		t.Fatalf("heuristic list: %+v", hs)
	}
	c.ok("", "heuristic", "delete", h.ID.String())
	c.fails(exitError, "confidence", `{"condition":"c","action":"a","confidence":7}`, "heuristic", "add")
}

func TestErrorsAndExitCodes(t *testing.T) {
	c := newCLI(t)
	c.fails(exitUsage, "unknown command", "", "bogus")
	c.fails(exitUsage, "unknown command", "", "episode", "lst")
	c.fails(exitUsage, "unknown flag", "", "episode", "list", "--nope")
	c.fails(exitUsage, "accepts 1 arg", "", "episode", "get")
	c.fails(exitUsage, "--output", "", "episode", "list", "-o", "yaml")
	c.fails(exitUsage, "--near", "", "episode", "list", "--near", "1,2")
	c.fails(exitUsage, "--since", "", "episode", "list", "--since", "last tuesday")
	c.fails(exitUsage, "--namespace", "", "episode", "list", "--namespace", "Bad Name")
	c.fails(exitUsage, "episode_id", "", "episode", "get", "not-a-uuid")
	c.fails(exitError, "task_description: got a JSON number", `{"task_description": 5}`, "episode", "add")
	c.fails(exitError, "task_descripton: is not a known field", `{"task_descripton": "x"}`, "episode", "add")
	c.fails(exitError, "malformed JSON", `{"task_description": `, "episode", "add")
	c.fails(exitError, "task_description: is required", `{}`, "episode", "add")
	c.fails(exitError, "limit: is 5000; must be 1-1000", "", "episode", "list", "--limit", "5000")
}

func TestEnvironmentAndConfigFile(t *testing.T) {
	c := newCLI(t)
	conf := filepath.Join(t.TempDir(), "engram.toml")
	os.WriteFile(conf, []byte("namespace = \"from-file\"\noutput = \"json\"\n"), 0o644)
	c.ok(`{"task_description":"in the file namespace"}`, "episode", "add", "--config", conf)
	var eps []engram.Episode
	c.json(&eps, "", "episode", "list", "--namespace", "from-file")
	if len(eps) != 1 {
		t.Fatalf("config-file namespace holds %d episodes", len(eps))
	}
	t.Setenv("ENGRAM_NAMESPACE", "from-env")
	c.ok(`{"task_description":"in the env namespace"}`, "episode", "add", "--config", conf)
	c.json(&eps, "", "episode", "list", "--namespace", "from-env")
	if len(eps) != 1 {
		t.Fatalf("env namespace holds %d episodes (the environment must win over the file)", len(eps))
	}
	c.ok(`{"task_description":"in the flag namespace"}`, "episode", "add", "--config", conf, "--namespace", "from-flag")
	c.json(&eps, "", "episode", "list", "--namespace", "from-flag")
	if len(eps) != 1 {
		t.Fatalf("flag namespace holds %d episodes (the flag must win)", len(eps))
	}
	// The file's output = "json" applies when neither flag nor env says otherwise.
	out := c.ok("", "episode", "list", "--namespace", "from-file", "--config", conf)
	if !strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Fatalf("config file output=json not applied:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("data_dir = \"x\"\n"), 0o644)
	c.fails(exitUsage, "unknown keys data_dir", "", "episode", "list", "--config", bad)
	c.fails(exitUsage, "config file", "", "episode", "list", "--config", filepath.Join(t.TempDir(), "missing.toml"))
	t.Setenv("ENGRAM_OUTPUT", "xml")
	c.fails(exitUsage, "--output", "", "episode", "list")
}

func TestDBCommands(t *testing.T) {
	c := newCLI(t)
	c.ok("", "demo", "-o", "json")
	var info struct {
		SchemaVersion int              `json:"schema_version"`
		Tables        map[string]int64 `json:"tables"`
	}
	c.json(&info, "", "db", "stats")
	if info.SchemaVersion < 1 || info.Tables["episodes"] != 3 || info.Tables["steps"] != 6 {
		t.Fatalf("db stats: %+v", info)
	}
	var check struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	c.json(&check, "", "db", "check")
	if !check.OK || len(check.Problems) != 0 {
		t.Fatalf("db check: %+v", check)
	}
}

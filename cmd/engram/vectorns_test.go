package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/engramhq/engram"
)

// vectors import, export, ls, stats, count, clear (asking first) and sweep
// on a data directory: what import put is exactly what export streams
// back, and clear of one namespace leaves the other.
func TestVectorsNamespaceCommands(t *testing.T) {
	c := newCLI(t)
	in := filepath.Join(t.TempDir(), "in.ndjson")
	var lines []string
	want := map[string][]float32{}
	for i := range 1500 {
		var id engram.UUID
		copy(id[:], fmt.Sprintf("cli%013d", i))
		v := []float32{float32(i), 0.5, -1}
		b, _ := json.Marshal(map[string]any{"item_type": "pattern", "item_id": id, "model": "m", "vector": v, "metadata": map[string]string{"i": fmt.Sprint(i)}})
		lines = append(lines, string(b))
		want[engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: id, Model: "m"}.String()] = v
	}
	os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	var put struct{ Put int }
	c.json(&put, "", "-n", "a", "vectors", "import", in)
	if put.Put != 1500 {
		t.Fatalf("import put %d, want 1500", put.Put)
	}
	c.ok(`{"item_type":"pattern","item_id":"`+engram.NewUUID().String()+`","vector":[1,2]}`+"\n", "-n", "b", "vectors", "import")

	got := map[string][]float32{}
	for _, l := range strings.Split(strings.TrimSpace(c.ok("", "-n", "a", "vectors", "export", "--page", "100")), "\n") {
		var e engram.Embedding
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("export line %q: %v", l, err)
		}
		got[e.Key().String()] = e.Vector
	}
	if len(got) != len(want) {
		t.Fatalf("export: %d embeddings, want %d", len(got), len(want))
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Fatalf("export of %s: %v, want %v", k, got[k], v)
		}
	}
	var list []engram.VectorNamespaceStats
	c.json(&list, "", "vectors", "ls")
	if len(list) != 2 || list[0].Namespace != "a" || list[0].Count != 1500 || list[0].Dimension != 3 || list[1].Dimension != 2 {
		t.Fatalf("ls: %+v", list)
	}
	if out := strings.TrimSpace(c.ok("", "-n", "a", "vectors", "count")); out != "1500" {
		t.Fatalf("count: %q", out)
	}
	// A dimension other than the namespace's is refused, naming it.
	bad := c.run(`{"item_type":"pattern","item_id":"`+engram.NewUUID().String()+`","model":"m","vector":[1,2]}`+"\n", "-n", "a", "vectors", "import")
	if bad.code == 0 || !strings.Contains(bad.stderr, "embeddings[0].vector") {
		t.Fatalf("import of a wrong dimension: exit %d %s", bad.code, bad.stderr)
	}
	// clear asks; a wrong answer deletes nothing.
	if r := c.run("b\n", "-n", "a", "vectors", "clear"); r.code == 0 {
		t.Fatalf("clear confirmed by another name: exit 0 %s", r.stdout)
	}
	if out := strings.TrimSpace(c.ok("", "-n", "a", "vectors", "count")); out != "1500" {
		t.Fatalf("count after an unconfirmed clear: %q", out)
	}
	if out := c.ok("a\n", "-n", "a", "vectors", "clear"); !strings.Contains(out, "deleted 1500 ") {
		t.Fatalf("confirmed clear: %q", out)
	}
	if out := strings.TrimSpace(c.ok("", "-n", "a", "vectors", "count")); out != "0" {
		t.Fatalf("count after the clear: %q", out)
	}
	if r := c.run("", "-n", "a", "vectors", "stats"); r.code == 0 {
		t.Fatalf("stats of a cleared namespace: exit 0 %s", r.stdout)
	}
	if out := strings.TrimSpace(c.ok("", "-n", "b", "vectors", "count")); out != "1" {
		t.Fatalf("b after clearing a: %q", out)
	}
	if out := c.ok("", "-n", "b", "vectors", "clear", "--yes"); !strings.Contains(out, "deleted 1 ") {
		t.Fatalf("clear --yes: %q", out)
	}
	if out := c.ok("", "vectors", "sweep"); !strings.Contains(out, "swept 0 ") {
		t.Fatalf("sweep: %q", out)
	}
}

package engram_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/engramhq/engram"

// The layering rule (DESIGN.md): the root package imports nothing of ours;
// small leaf packages (clock, dag, internal/...) import only the root and
// each other; every other package is an implementation (a tier, the server,
// the client, a conformance suite) and never imports another
// implementation. Implementations meet only in the composers.
var (
	composers = map[string]bool{"memory": true, "cmd/engram": true}
	leaves    = func(pkg string) bool {
		return pkg == "clock" || pkg == "dag" || pkg == "internal" || strings.HasPrefix(pkg, "internal/")
	}
)

// imports returns, for every package directory of the module (relative
// path, "" for the root), the module packages its non-test files import.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "tools") {
				return filepath.SkipDir
			}
			if path != "." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if dir == "." {
			dir = ""
		}
		if _, ok := out[dir]; !ok {
			out[dir] = nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == modulePath {
				out[dir] = append(out[dir], "")
			} else if rest, ok := strings.CutPrefix(p, modulePath+"/"); ok {
				out[dir] = append(out[dir], rest)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func layeringViolations(imports map[string][]string) []string {
	var bad []string
	for pkg, deps := range imports {
		for _, dep := range deps {
			var why string
			switch {
			case pkg == "":
				why = "the root package imports nothing of ours"
			case composers[pkg]:
				switch {
				case dep == "cmd/engram":
					why = "nothing imports the command"
				case pkg == "memory" && (dep == "server" || dep == "client" || dep == "storetest"):
					why = "memory composes the tiers; the server, the client and the test suites sit above it"
				}
			case leaves(pkg):
				if dep != "" && !leaves(dep) {
					why = "a leaf package imports only the root and other leaves"
				}
			default: // an implementation
				if dep != "" && !leaves(dep) {
					why = "implementations never import each other; they meet in memory and cmd/engram"
				}
			}
			if why != "" {
				bad = append(bad, name(pkg)+" imports "+name(dep)+": "+why)
			}
		}
	}
	sort.Strings(bad)
	return bad
}

func name(pkg string) string {
	if pkg == "" {
		return "engram (root)"
	}
	return pkg
}

func TestLayering(t *testing.T) {
	imports := moduleImports(t)
	for _, want := range []string{"", "memory", "sqlstore", "boltcache", "cmd/engram"} {
		if _, ok := imports[want]; !ok {
			t.Fatalf("package %q not found: the walk is broken", name(want))
		}
	}
	for _, v := range layeringViolations(imports) {
		t.Error(v)
	}
}

// The rule itself must catch each kind of violation.
func TestLayeringCatchesViolations(t *testing.T) {
	cases := map[string]map[string][]string{
		"root imports a tier":        {"": {"sqlstore"}},
		"tier imports tier":          {"boltcache": {"sqlstore"}},
		"server imports memory":      {"server": {"memory"}},
		"leaf imports a tier":        {"clock": {"boltcache"}},
		"memory imports the server":  {"memory": {"server"}},
		"memory imports cmd/engram":  {"memory": {"cmd/engram"}},
		"new package imports a tier": {"vector": {"sqlstore"}},
	}
	for what, imports := range cases {
		if len(layeringViolations(imports)) == 0 {
			t.Errorf("%s: not reported", what)
		}
	}
	ok := map[string][]string{"memory": {"", "sqlstore", "clock"}, "sqlstore": {"", "internal/latency"}, "cmd/engram": {"memory", "server"}}
	if v := layeringViolations(ok); len(v) != 0 {
		t.Errorf("allowed imports reported: %v", v)
	}
}

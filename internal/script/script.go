// Package script runs data-driven tests: files of cases, each some command
// lines, a "----" line, and the output the commands must print, ended by a
// blank line. Lines starting with # are comments. A command is a name and
// key=value arguments:
//
//	put id=e1 ttl=10s
//	advance 11s
//	get id=e1
//	----
//	miss (expired)
//
// The expected output is written by hand from the documented behaviour;
// there is deliberately no flag to rewrite it from what the code prints.
package script

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Command is one command line.
type Command struct {
	Pos  string // file:line
	Name string
	Args []string          // positional arguments
	KV   map[string]string // key=value arguments
}

// Has reports whether the command has argument key.
func (c *Command) Has(key string) bool { _, ok := c.KV[key]; return ok }

// Run runs every case of the file at path. do executes one command and
// returns what it prints (lines, without a trailing newline; "" for none).
// Each case's output is compared with its expected text.
func Run(t *testing.T, path string, do func(t *testing.T, c *Command) string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	var cmds []*Command
	cases := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "" && len(cmds) == 0, strings.HasPrefix(text, "#"):
			continue
		case text != "----":
			cmds = append(cmds, parse(fmt.Sprintf("%s:%d", path, line), text))
			continue
		}
		start := line
		var want []string
		for sc.Scan() {
			line++
			if strings.TrimSpace(sc.Text()) == "" {
				break
			}
			want = append(want, strings.TrimRight(sc.Text(), " "))
		}
		var got []string
		for _, c := range cmds {
			if out := do(t, c); out != "" {
				got = append(got, out)
			}
		}
		if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
			t.Errorf("%s:%d: output differs\n--- got\n%s\n--- want\n%s", path, start, g, w)
		}
		cmds = nil
		cases++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cmds) > 0 {
		t.Fatalf("%s: commands after the last ---- line", path)
	}
	if cases == 0 {
		t.Fatalf("%s: no cases", path)
	}
}

func parse(pos, text string) *Command {
	fields := strings.Fields(text)
	c := &Command{Pos: pos, Name: fields[0], KV: map[string]string{}}
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			c.KV[k] = v
		} else {
			c.Args = append(c.Args, f)
		}
	}
	return c
}

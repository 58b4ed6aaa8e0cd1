package main

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// TestMCPStdioSurvivesBadLines: engram mcp answers a line that is not JSON
// with a JSON-RPC parse error, JSON that is not a request with an
// invalid-request error, and keeps serving the session.
func TestMCPStdioSurvivesBadLines(t *testing.T) {
	cmd := engramCmd(t, "mcp", "--data-dir", t.TempDir(), "--namespace", "agent-a")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	lines := bufio.NewReader(stdout)
	type reply struct {
		ID     any             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	exchange := func(send string) reply {
		t.Helper()
		if _, err := io.WriteString(stdin, send+"\n"); err != nil {
			t.Fatalf("write %q: %v (the server exited?)", send, err)
		}
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: no answer: %v", send, err)
		}
		var r reply
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("after %q: answer %q: %v", send, line, err)
		}
		return r
	}
	if r := exchange(`{"jsonrpc":"2.0","id":1,"method":"initialize",`); r.Error == nil || r.Error.Code != -32700 || r.ID != nil {
		t.Fatalf("malformed line: %+v", r)
	}
	r := exchange(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
	if r.Error != nil || len(r.Result) == 0 {
		t.Fatalf("initialize after a bad line: %+v", r)
	}
	io.WriteString(stdin, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	if r := exchange(`{"jsonrpc":"2.0","id":7,"bogus":true}`); r.Error == nil || r.Error.Code != -32600 {
		t.Fatalf("not a request: %+v", r)
	}
	if r := exchange(`not json at all`); r.Error == nil || r.Error.Code != -32700 {
		t.Fatalf("second malformed line: %+v", r)
	}
	r = exchange(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if r.Error != nil || !strings.Contains(string(r.Result), "create_episode") {
		t.Fatalf("tools/list after bad lines: %+v %s", r, r.Result)
	}
}

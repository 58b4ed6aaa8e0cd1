package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// StdioTransport is MCP over newline-delimited JSON-RPC on r and w (an
// agent's pipe to `engram mcp`) that survives bad input: a line that is not
// JSON is answered with a JSON-RPC parse error (-32700), and JSON that is
// not a JSON-RPC message with an invalid-request error (-32600), and the
// server reads on. (The SDK's own IOTransport ends the session on either.)
// Run a server on it with (*mcp.Server).Run.
func StdioTransport(r io.Reader, w io.Writer) mcp.Transport {
	lw := &lockedWriter{w: w}
	pr, pw := io.Pipe()
	f := &lineFilter{in: bufio.NewReaderSize(r, 64<<10), out: pw, w: lw}
	return &stdioTransport{inner: &mcp.IOTransport{Reader: pr, Writer: lw}, filter: f}
}

type stdioTransport struct {
	inner  *mcp.IOTransport
	filter *lineFilter
}

func (t *stdioTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	go t.filter.run()
	return t.inner.Connect(ctx)
}

// lockedWriter serialises whole-message writes of the SDK and the filter.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) Close() error { return nil }

// lineFilter copies the lines of in that are JSON-RPC messages to out and
// answers the others on w. Its goroutine, started by Connect, ends at the
// end of in, or at the first line after the session closed the pipe's
// reading end (a read of in cannot be interrupted; on stdio that is the
// process's lifetime).
type lineFilter struct {
	in  *bufio.Reader
	out *io.PipeWriter
	w   io.Writer
}

func (f *lineFilter) run() {
	for {
		line, err := f.in.ReadBytes('\n')
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if reply := f.check(trimmed); reply != nil {
				if _, werr := f.w.Write(reply); werr != nil {
					f.out.CloseWithError(werr)
					return
				}
			} else if _, werr := f.out.Write(append(trimmed, '\n')); werr != nil {
				return // the session is over
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			f.out.CloseWithError(err)
			return
		}
	}
}

// check returns the error reply for a line the SDK would choke on, or nil.
func (f *lineFilter) check(line []byte) []byte {
	if !json.Valid(line) {
		return rpcError(nil, jsonrpc.CodeParseError, "parse error: the line is not JSON")
	}
	if line[0] == '[' {
		return nil // a batch: the SDK answers it
	}
	var probe struct {
		ID     any             `json:"id"`
		Method string          `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	perr := json.Unmarshal(line, &probe)
	id, _ := jsonrpc.MakeID(probe.ID)
	if perr != nil {
		return rpcError(nil, jsonrpc.CodeInvalidRequest, "invalid request: want a JSON-RPC 2.0 object")
	}
	if _, err := jsonrpc.DecodeMessage(line); err != nil {
		return rpcError(id.Raw(), jsonrpc.CodeInvalidRequest, "invalid request: "+err.Error())
	}
	if probe.Method == "" && probe.Result == nil && probe.Error == nil {
		// Neither a request nor a response: the SDK would drop it unanswered.
		return rpcError(id.Raw(), jsonrpc.CodeInvalidRequest, "invalid request: no method (and not a response: no result or error)")
	}
	return nil
}

func rpcError(id any, code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}})
	return append(b, '\n')
}

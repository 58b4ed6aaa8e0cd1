package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/server"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// openSQL opens a durable store in t's temporary directory, checked for
// consistency and closed when the test ends.
func openSQL(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "engram.db"), Synchronous: sqlstore.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if problems, err := s.Check(context.Background()); err != nil || len(problems) > 0 {
			t.Errorf("consistency check after test: %v %v", problems, err)
		}
		s.Close()
	})
	return s
}

// startServer serves store on 127.0.0.1:0 until the test ends, and returns
// its base URL. The server must shut down cleanly.
func startServer(t testing.TB, store engram.Store, opts server.Options) string {
	t.Helper()
	srv, err := server.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newClient(t testing.TB, url, token string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestStoreOverHTTP runs the durable-store conformance suite against the
// client talking to a real server over loopback: every Store operation, its
// validation, errors and paging, survive the trip through the API.
func TestStoreOverHTTP(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) engram.Store {
		url := startServer(t, openSQL(t), server.Options{MaxBodyBytes: engram.MaxInputBytes})
		return newClient(t, url, "")
	})
}

// TestMemoryOverHTTP runs the suite through the server over the tiered
// memory, as engram serve runs it, and checks the tiers answer reads and
// report them in the X-Engram-Tier header.
func TestMemoryOverHTTP(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) engram.Store {
		m, err := memory.Open(context.Background(), memory.Config{DataDir: t.TempDir(), ShareRecords: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		url := startServer(t, m, server.Options{MaxBodyBytes: engram.MaxInputBytes})
		return newClient(t, url, "")
	})
	m, err := memory.Open(context.Background(), memory.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	url := startServer(t, m, server.Options{})
	ep := storetest.SampleEpisode(1)
	if err := m.CreateEpisode(context.Background(), "default", ep); err != nil {
		t.Fatal(err)
	}
	r := do(t, "GET", url+"/v1/episodes/"+ep.ID.String(), nil)
	if r.status != 200 || r.header.Get("X-Engram-Tier") != "ram" || r.header.Get("X-Engram-Stale") != "" {
		t.Fatalf("GET a cached episode: %d, tier %q, stale %q", r.status, r.header.Get("X-Engram-Tier"), r.header.Get("X-Engram-Stale"))
	}
	var st engram.Status
	r = do(t, "GET", url+"/v1/status", nil)
	if err := json.Unmarshal(r.body, &st); err != nil || len(st.Tiers) != 3 {
		t.Fatalf("status over memory: %v %s", err, r.body)
	}
	r = do(t, "POST", url+"/v1/sync", strings.NewReader(`{"validate": true}`), "Content-Type", "application/json")
	var rep engram.SyncReport
	if err := json.Unmarshal(r.body, &rep); err != nil || r.status != 200 || rep.Validation == nil || !rep.Validation.OK {
		t.Fatalf("sync over memory: %d %v %s", r.status, err, r.body)
	}
}

// rawResp is an answer to a hand-made request.
type rawResp struct {
	status int
	header http.Header
	body   []byte
}

// errorBody decodes the error shape, failing the test if the body is not it.
func (r rawResp) errorBody(t testing.TB) server.ErrorDetail {
	t.Helper()
	var b server.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("status %d: body is not the error shape (%v): %s", r.status, err, r.body)
	}
	return b.Error
}

// do sends one request as curl would: the body verbatim, the headers given.
func do(t testing.TB, method, url string, body io.Reader, header ...string) rawResp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return rawResp{resp.StatusCode, resp.Header, data}
}

func wantError(t testing.TB, r rawResp, status int, code, field string) server.ErrorDetail {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	d := r.errorBody(t)
	if d.Code != code || (field != "" && d.Field != field) {
		t.Fatalf("error %+v, want code %s field %q", d, code, field)
	}
	return d
}

// TestBadInput sends what a careless or hostile client would, byte for byte.
func TestBadInput(t *testing.T) {
	url := startServer(t, openSQL(t), server.Options{})
	post := func(path, body string, header ...string) rawResp {
		return do(t, "POST", url+path, strings.NewReader(body), header...)
	}
	t.Run("MalformedJSON", func(t *testing.T) {
		d := wantError(t, post("/v1/episodes", `{"task_description": "x",`), 400, engram.EINVALID, "")
		if !strings.Contains(d.Message, "malformed JSON") {
			t.Fatalf("message %q", d.Message)
		}
	})
	t.Run("WrongType", func(t *testing.T) {
		wantError(t, post("/v1/episodes", `{"task_description": 42}`), 400, engram.EINVALID, "task_description")
		wantError(t, post("/v1/episodes", `{"task_description": "x", "steps": {"a": 1}}`), 400, engram.EINVALID, "steps")
	})
	t.Run("UnknownField", func(t *testing.T) {
		wantError(t, post("/v1/episodes", `{"task_description": "x", "task_descripton": "typo"}`), 400, engram.EINVALID, "task_descripton")
	})
	t.Run("TwoDocuments", func(t *testing.T) {
		wantError(t, post("/v1/episodes", `{"task_description": "x"} {"task_description": "y"}`), 400, engram.EINVALID, "")
	})
	t.Run("EmptyBody", func(t *testing.T) {
		wantError(t, post("/v1/episodes", ``), 400, engram.EINVALID, "")
	})
	t.Run("NotJSONContentType", func(t *testing.T) {
		wantError(t, post("/v1/episodes", `{"task_description": "x"}`, "Content-Type", "text/plain"), 400, engram.EINVALID, "Content-Type")
	})
	t.Run("CrossOriginWrite", func(t *testing.T) {
		wantError(t, post("/v1/episodes", `{"task_description": "x"}`, "Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"), 403, server.CodeForbidden, "")
		wantError(t, post("/v1/episodes", `{"task_description": "x"}`, "Origin", "https://evil.example", "Content-Type", "application/json"), 403, server.CodeForbidden, "")
	})
	t.Run("InvalidRecord", func(t *testing.T) {
		wantError(t, post("/v1/episodes", `{"task_description": " "}`), 400, engram.EINVALID, "task_description")
		wantError(t, post("/v1/episodes", `{"task_description": "x", "tags": ["no spaces"]}`), 400, engram.EINVALID, "tags[0]")
	})
	t.Run("NaNVector", func(t *testing.T) {
		body := `{"item_id": "` + engram.NewUUID().String() + `", "item_type": "episode", "vector": [1, NaN]}`
		wantError(t, post("/v1/embeddings", body), 400, engram.EINVALID, "")
		wantError(t, post("/v1/embeddings", strings.Replace(body, "NaN", `"NaN"`, 1)), 400, engram.EINVALID, "vector[1]")
	})
	t.Run("VectorTooLong", func(t *testing.T) {
		vec := strings.Repeat("0,", engram.MaxVectorDim) + "0"
		body := `{"item_id": "` + engram.NewUUID().String() + `", "item_type": "episode", "vector": [` + vec + `]}`
		wantError(t, post("/v1/embeddings", body), 413, engram.ETOOLARGE, "vector")
	})
	t.Run("BatchTooLarge", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{"episodes": [`)
		for i := 0; i <= engram.MaxBatch; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`{"task_description": "x"}`)
		}
		b.WriteString("]}")
		wantError(t, post("/v1/episodes:batch", b.String()), 413, engram.ETOOLARGE, "episodes")
	})
	t.Run("HundredMegabyteBody", func(t *testing.T) {
		// A body far over the limit, announced by its length: refused
		// before it is read.
		body := io.LimitReader(zeros{}, 100<<20)
		req, _ := http.NewRequest("POST", url+"/v1/episodes", body)
		req.ContentLength = 100 << 20
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, rawResp{resp.StatusCode, resp.Header, data}, 413, engram.ETOOLARGE, "")
	})
	t.Run("HundredMegabyteChunkedBody", func(t *testing.T) {
		// The same without a length: cut off at the limit.
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(`{"task_description": "`))
			io.Copy(pw, io.LimitReader(letters{}, 100<<20))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", url+"/v1/episodes", pr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pr.CloseWithError(io.ErrClosedPipe)
		wantError(t, rawResp{resp.StatusCode, resp.Header, data}, 413, engram.ETOOLARGE, "")
	})
	t.Run("BadID", func(t *testing.T) {
		wantError(t, do(t, "GET", url+"/v1/episodes/not-a-uuid", nil), 400, engram.EINVALID, "episode_id")
		wantError(t, do(t, "GET", url+"/v1/episodes/"+engram.NewUUID().String(), nil), 404, engram.ENOTFOUND, "")
	})
	t.Run("BadQuery", func(t *testing.T) {
		wantError(t, do(t, "GET", url+"/v1/episodes?limit=ten", nil), 400, engram.EINVALID, "limit")
		wantError(t, do(t, "GET", url+"/v1/episodes?limit=5000", nil), 400, engram.EINVALID, "limit")
		wantError(t, do(t, "GET", url+"/v1/episodes?near=1,2", nil), 400, engram.EINVALID, "near")
		wantError(t, do(t, "GET", url+"/v1/episodes?near=NaN,2,3", nil), 400, engram.EINVALID, "near")
		wantError(t, do(t, "GET", url+"/v1/episodes?since=yesterday", nil), 400, engram.EINVALID, "since")
		wantError(t, do(t, "GET", url+"/v1/episodes?colour=red", nil), 400, engram.EINVALID, "colour")
		wantError(t, do(t, "GET", url+"/v1/episodes?limit=1&limit=2", nil), 400, engram.EINVALID, "limit")
		wantError(t, do(t, "GET", url+"/v1/search?q=", nil), 400, engram.EINVALID, "query")
	})
	t.Run("BadNamespace", func(t *testing.T) {
		wantError(t, do(t, "GET", url+"/v1/episodes?namespace=Upper", nil), 400, engram.EINVALID, "namespace")
		wantError(t, do(t, "GET", url+"/v1/episodes?namespace=", nil), 400, engram.EINVALID, "namespace")
		wantError(t, do(t, "GET", url+"/v1/episodes", nil, "X-Engram-Namespace", "../etc"), 400, engram.EINVALID, "namespace")
	})
	t.Run("UnknownRouteAndMethod", func(t *testing.T) {
		wantError(t, do(t, "GET", url+"/v1/nothing", nil), 404, engram.ENOTFOUND, "")
		r := do(t, "PATCH", url+"/v1/episodes", nil)
		wantError(t, r, 405, server.CodeMethodNotAllowed, "")
		if got := r.header.Get("Allow"); got != "POST, GET" {
			t.Fatalf("Allow: %q", got)
		}
	})
	t.Run("NothingWasStored", func(t *testing.T) {
		r := do(t, "GET", url+"/v1/counts", nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"episodes":0`) || !strings.Contains(string(r.body), `"embeddings":0`) {
			t.Fatalf("counts after bad input: %d %s", r.status, r.body)
		}
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type letters struct{}

func (letters) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// TestCreateAndGet checks the basic contract by hand: 201 and the stored
// episode with its id, then the same episode from GET.
func TestCreateAndGet(t *testing.T) {
	url := startServer(t, openSQL(t), server.Options{})
	r := do(t, "POST", url+"/v1/episodes?namespace=agent-a", strings.NewReader(`{"task_description": "write the docs", "tags": ["Docs"]}`))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var ep engram.Episode
	if err := json.Unmarshal(r.body, &ep); err != nil || ep.ID.IsZero() || ep.Tags[0] != "docs" || ep.CreatedAt.IsZero() {
		t.Fatalf("created episode: %v %s", err, r.body)
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	got := do(t, "GET", url+"/v1/episodes/"+ep.ID.String(), nil, "X-Engram-Namespace", "agent-a")
	if got.status != 200 || !bytes.Equal(bytes.TrimSpace(got.body), bytes.TrimSpace(r.body)) {
		t.Fatalf("get: %d\n%s\nwant\n%s", got.status, got.body, r.body)
	}
	if got.header.Get("X-Engram-Stale") != "" {
		t.Fatal("a durable read is marked stale")
	}
	wantError(t, do(t, "GET", url+"/v1/episodes/"+ep.ID.String(), nil), 404, engram.ENOTFOUND, "")
	r = do(t, "GET", url+"/v1/episodes/"+ep.ID.String(), nil, "X-Request-Id", "trace-42")
	if r.header.Get("X-Request-Id") != "trace-42" {
		t.Fatalf("request id not echoed: %q", r.header.Get("X-Request-Id"))
	}
}

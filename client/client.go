// Package client talks to an engram server over HTTP. *Client implements
// engram.Store, engram.Syncer and engram.StatusReporter with the server's
// JSON API, so a program can swap a local store for a remote one:
//
//	c, err := client.New("http://127.0.0.1:7437", client.Options{Token: os.Getenv("ENGRAM_TOKEN")})
//	...
//	err = c.CreateEpisode(ctx, "agent-a", &ep) // ep.ID, created_at... filled in as with a local store
//
// Errors are *engram.Error values with the code and field the server sent,
// so errors.Is(err, engram.ErrNotFound) and engram.ErrorField work as they
// do locally. Every write carries an Idempotency-Key, and a call whose
// answer is lost or that the server answers 503 unavailable or unknown is
// retried with the same key (Options.MaxAttempts), so it is applied once.
// A server that cannot be reached is EUNAVAILABLE. Reads report
// the server's X-Engram-Stale and X-Engram-Tier headers into an
// engram.ReadInfo attached to the context.
package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/engramhq/engram"
)

var (
	_ engram.Store          = (*Client)(nil)
	_ engram.Syncer         = (*Client)(nil)
	_ engram.StatusReporter = (*Client)(nil)
)

// Options configure New. The zero value of every field is its default.
type Options struct {
	// Token is sent as "Authorization: Bearer TOKEN"; "": none.
	Token string
	// HTTPClient makes the requests; nil: a client of its own with pooled
	// keep-alive connections and no overall timeout (use contexts).
	HTTPClient *http.Client
	// UserAgent; "": "engram-client".
	UserAgent string
	// MaxAttempts bounds the tries of one call: a request that fails in
	// transport (no answer) or is answered 503 with code unavailable or
	// unknown is sent again, up to this many times in all. Reads are safe to
	// repeat, and every write carries an Idempotency-Key (the context's, see
	// engram.WithIdempotencyKey, or one made up for the call) that stays the
	// same across its tries, so the server applies it once. 0:
	// DefaultMaxAttempts; 1: no retries.
	MaxAttempts int
	// RetryDelay is the wait before the first retry; each further retry
	// waits twice as long, at most MaxRetryDelay, less a random part of up
	// to half (jitter, so clients that failed together do not retry
	// together). 0: DefaultRetryDelay.
	RetryDelay time.Duration
}

// Retry defaults (see Options).
const (
	DefaultMaxAttempts = 4
	DefaultRetryDelay  = 100 * time.Millisecond
	MaxRetryDelay      = 5 * time.Second
)

// Client is a remote engram store. Safe for concurrent use.
type Client struct {
	base *url.URL
	opts Options
	hc   *http.Client
}

// New returns a client of the server at baseURL (http or https, with an
// optional path prefix). It does not contact the server.
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, engram.Invalid("server", "%q is not an http:// or https:// URL", baseURL)
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "engram-client"
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: tr}
	}
	return &Client{base: u, opts: opts, hc: hc}, nil
}

// Close releases idle connections. The server is not affected.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// req is one API request.
type req struct {
	method string
	path   string // escaped, under the base URL
	ns     engram.Namespace
	query  url.Values
	body   any
	out    any // decoded from a 2xx answer when not nil
}

func (c *Client) do(ctx context.Context, r req) error {
	u := *c.base
	u.Path += r.path
	u.RawPath = c.base.EscapedPath() + r.path
	q := r.query
	if r.ns != "" {
		if q == nil {
			q = url.Values{}
		}
		q.Set("namespace", string(r.ns))
	}
	u.RawQuery = q.Encode()
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return &engram.Error{Code: engram.EINVALID, Message: "encode request", Err: err}
		}
		body = b
	}
	key := ""
	if r.method != http.MethodGet && r.method != http.MethodHead {
		if key = engram.IdempotencyKey(ctx); key == "" {
			key = newIdempotencyKey()
		} else if err := engram.ValidateIdempotencyKey(key); err != nil {
			return err
		}
	}
	for attempt := 1; ; attempt++ {
		err := c.try(ctx, r, u.String(), body, key)
		if err == nil || attempt >= c.opts.MaxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		if werr := c.wait(ctx, attempt); werr != nil {
			return err
		}
	}
}

// retryable reports whether a failed try may succeed when sent again: the
// server was not reached or did not answer (EUNAVAILABLE, as a gateway's
// 502-504 are too), said it is unavailable, or could not settle a commit
// (EUNKNOWN: the idempotency key settles it on retry).
func retryable(err error) bool {
	code := engram.ErrorCode(err)
	return code == engram.EUNAVAILABLE || code == engram.EUNKNOWN
}

// wait sleeps before retry number attempt (1 for the first retry).
func (c *Client) wait(ctx context.Context, attempt int) error {
	d := c.opts.RetryDelay << (attempt - 1)
	if d > MaxRetryDelay || d <= 0 {
		d = MaxRetryDelay
	}
	d -= time.Duration(rand.Int64N(int64(d/2) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newIdempotencyKey() string {
	var b [16]byte
	crand.Read(b[:])
	return "engram-" + hex.EncodeToString(b[:])
}

// try sends one request and reads its answer.
func (c *Client) try(ctx context.Context, r req, target string, body []byte, key string) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, r.method, target, rd)
	if err != nil {
		return &engram.Error{Code: engram.EINVALID, Message: "build request", Err: err}
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", c.opts.UserAgent)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		hr.Header.Set("Idempotency-Key", key)
	}
	if c.opts.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("client: %s %s: %w", r.method, r.path, ctx.Err())
		}
		return engram.Unavailable("engram server "+c.base.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return responseError(resp)
	}
	stale := resp.Header.Get("X-Engram-Stale") == "true"
	if tier := resp.Header.Get("X-Engram-Tier"); tier != "" || stale {
		if tier == "" {
			tier = string(engram.TierCache)
		}
		engram.ReportRead(ctx, engram.Tier(tier), stale)
	}
	if r.out == nil {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return engram.Unavailable("engram server "+c.base.Host+" (reading the answer)", err)
		}
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(r.out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return engram.Unavailable("engram server "+c.base.Host+" (reading the answer)", err)
	}
	return nil
}

// responseError turns an error response into the *engram.Error it carries.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != nil && body.Error.Code != "" {
		return &engram.Error{Code: body.Error.Code, Field: body.Error.Field, Message: body.Error.Message}
	}
	// Not our shape: a proxy, or not an engram server.
	code := engram.EINTERNAL
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		code = engram.EUNAVAILABLE
	case http.StatusNotFound:
		code = engram.ENOTFOUND
	}
	return &engram.Error{Code: code, Message: fmt.Sprintf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(bytes.ToValidUTF8(data[:min(len(data), 200)], nil))))}
}

func esc(s string) string { return url.PathEscape(s) }

func (c *Client) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if ep == nil {
		return engram.Invalid("episode", "is required")
	}
	if err := checkEncodable(ep, ""); err != nil {
		return err
	}
	var got engram.Episode
	if err := c.do(ctx, req{method: "POST", path: "/v1/episodes", ns: ns, body: ep, out: &got}); err != nil {
		return err
	}
	*ep = got
	return nil
}

func (c *Client) CreateEpisodes(ctx context.Context, ns engram.Namespace, eps []*engram.Episode) error {
	return postBatch(ctx, c, ns, "/v1/episodes:batch", "episodes", eps, false)
}

// postBatch sends items as {field: [...]} to path and fills each item in
// with the server's answer for it. Every item must be present and
// encodable; a lone item's encoding error is returned as is when single.
func postBatch[T any](ctx context.Context, c *Client, ns engram.Namespace, path, field string, items []*T, single bool) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	for i, it := range items {
		if it == nil {
			return engram.Invalid(fmt.Sprintf("%s[%d]", field, i), "is required")
		}
		if err := checkEncodable(it, ""); err != nil {
			if single && len(items) == 1 {
				return err
			}
			return engram.Within(field, i, err)
		}
	}
	var got map[string][]*T
	if err := c.do(ctx, req{method: "POST", path: path, ns: ns, body: map[string]any{field: items}, out: &got}); err != nil {
		return err
	}
	answered := got[field]
	if len(answered) != len(items) {
		return &engram.Error{Code: engram.EINTERNAL, Message: fmt.Sprintf("the server answered %d %s for a batch of %d", len(answered), field, len(items))}
	}
	for i, it := range answered {
		if it == nil {
			return &engram.Error{Code: engram.EINTERNAL, Message: fmt.Sprintf("the server answered null for %s[%d]", field, i)}
		}
		*items[i] = *it
	}
	return nil
}

func (c *Client) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	var ep engram.Episode
	if err := c.do(ctx, req{method: "GET", path: "/v1/episodes/" + id.String(), ns: ns, out: &ep}); err != nil {
		return nil, err
	}
	return &ep, nil
}

func (c *Client) UpdateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if ep == nil || ep.ID.IsZero() {
		return engram.Invalid("episode_id", "is required to update an episode")
	}
	if err := checkEncodable(ep, ""); err != nil {
		return err
	}
	var got engram.Episode
	if err := c.do(ctx, req{method: "PUT", path: "/v1/episodes/" + ep.ID.String(), ns: ns, body: ep, out: &got}); err != nil {
		return err
	}
	steps := ep.Steps // as a local store: an update leaves the caller's steps alone
	*ep = got
	ep.Steps = steps
	return nil
}

func (c *Client) DeleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	return c.do(ctx, req{method: "DELETE", path: "/v1/episodes/" + id.String(), ns: ns})
}

func (c *Client) AppendStep(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, step *engram.Step) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if step == nil {
		return engram.Invalid("step", "is required")
	}
	if err := checkEncodable(step, "step"); err != nil {
		return err
	}
	var got engram.Step
	if err := c.do(ctx, req{method: "POST", path: "/v1/episodes/" + id.String() + "/steps", ns: ns, body: step, out: &got}); err != nil {
		return renameField(err, map[string]string{"": "step."})
	}
	*step = got
	return nil
}

func (c *Client) CompleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, comp *engram.Completion) (*engram.Episode, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	if comp == nil {
		return nil, engram.Invalid("outcome", "is required")
	}
	if err := checkEncodable(comp, ""); err != nil {
		return nil, err
	}
	var ep engram.Episode
	if err := c.do(ctx, req{method: "POST", path: "/v1/episodes/" + id.String() + "/complete", ns: ns, body: comp, out: &ep}); err != nil {
		return nil, err
	}
	return &ep, nil
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// EpisodeQuery renders f as the query parameters of GET /v1/episodes.
// Metadata keys containing '=' cannot be expressed and are an EINVALID error.
func EpisodeQuery(f engram.EpisodeFilter) (url.Values, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Domain != "" {
		q.Set("domain", f.Domain)
	}
	if f.TaskType != "" {
		q.Set("task_type", string(f.TaskType))
	}
	for _, t := range f.Tags {
		q.Add("tag", t)
	}
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		if strings.Contains(k, "=") || k == "" {
			return nil, engram.Invalid("metadata", "key %q cannot be filtered over HTTP (keys must be non-empty and without '=')", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Add("meta", k+"="+f.Metadata[k])
	}
	if f.Complete != nil {
		q.Set("complete", strconv.FormatBool(*f.Complete))
	}
	if n := f.Near; n != nil {
		q.Set("near", formatFloat(n.Lat)+","+formatFloat(n.Lon)+","+formatFloat(n.KM))
	}
	if b := f.Box; b != nil {
		q.Set("box", formatFloat(b.MinLat)+","+formatFloat(b.MinLon)+","+formatFloat(b.MaxLat)+","+formatFloat(b.MaxLon))
	}
	setPaging(q, f.Limit, f.Cursor)
	return q, nil
}

func setPaging(q url.Values, limit int, cursor string) {
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
}

func (c *Client) ListEpisodes(ctx context.Context, ns engram.Namespace, f engram.EpisodeFilter) (engram.EpisodePage, error) {
	if err := ns.Validate(); err != nil {
		return engram.EpisodePage{}, err
	}
	q, err := EpisodeQuery(f)
	if err != nil {
		return engram.EpisodePage{}, err
	}
	var page engram.EpisodePage
	err = c.do(ctx, req{method: "GET", path: "/v1/episodes", ns: ns, query: q, out: &page})
	return page, renameField(err, map[string]string{"tag": "tags", "meta": "metadata"})
}

// renameField turns the field of a coded error from the server's spelling
// (a query parameter, a body's top level) into the Store's, as a local store
// names it: the first segment of the field is renamed by names, and a
// name mapped from "" prefixes every field.
func renameField(err error, names map[string]string) error {
	e, ok := err.(*engram.Error)
	if !ok || e.Field == "" {
		return err
	}
	head, rest := e.Field, ""
	if i := strings.IndexAny(head, ".["); i >= 0 {
		head, rest = head[:i], head[i:]
	}
	cp := *e
	if to, ok := names[head]; ok {
		cp.Field = to + rest
	} else if prefix, ok := names[""]; ok && (e.Code == engram.EINVALID || e.Code == engram.ETOOLARGE || e.Code == engram.ECONFLICT) && stepFields[head] {
		cp.Field = prefix + e.Field
	} else {
		return err
	}
	return &cp
}

// stepFields are the JSON names of a step's fields.
var stepFields = func() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[engram.Step]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}()

func (c *Client) Search(ctx context.Context, ns engram.Namespace, sq engram.SearchQuery) ([]engram.SearchHit, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	q := url.Values{"q": {sq.Text}}
	for _, k := range sq.Kinds {
		q.Add("kind", string(k))
	}
	if sq.Any {
		q.Set("any", "true")
	}
	setPaging(q, sq.Limit, "")
	var res struct {
		Hits []engram.SearchHit `json:"hits"`
	}
	if err := c.do(ctx, req{method: "GET", path: "/v1/search", ns: ns, query: q, out: &res}); err != nil {
		return nil, renameField(err, map[string]string{"kind": "kinds"})
	}
	return res.Hits, nil
}

func (c *Client) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if p == nil {
		return engram.Invalid("pattern", "is required")
	}
	if err := checkEncodable(p, ""); err != nil {
		return err
	}
	var got engram.Pattern
	if err := c.do(ctx, req{method: "POST", path: "/v1/patterns", ns: ns, body: p, out: &got}); err != nil {
		return err
	}
	*p = got
	return nil
}

func (c *Client) GetPattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) (*engram.Pattern, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	var p engram.Pattern
	if err := c.do(ctx, req{method: "GET", path: "/v1/patterns/" + id.String(), ns: ns, out: &p}); err != nil {
		return nil, err
	}
	return &p, nil
}

func (c *Client) DeletePattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	return c.do(ctx, req{method: "DELETE", path: "/v1/patterns/" + id.String(), ns: ns})
}

func (c *Client) ListPatterns(ctx context.Context, ns engram.Namespace, f engram.PatternFilter) (engram.PatternPage, error) {
	if err := ns.Validate(); err != nil {
		return engram.PatternPage{}, err
	}
	q := url.Values{}
	for k, v := range map[string]string{"domain": f.Domain, "kind": string(f.Kind), "tag": f.Tag} {
		if v != "" {
			q.Set(k, v)
		}
	}
	setPaging(q, f.Limit, f.Cursor)
	var page engram.PatternPage
	err := c.do(ctx, req{method: "GET", path: "/v1/patterns", ns: ns, query: q, out: &page})
	return page, err
}

func (c *Client) PutHeuristic(ctx context.Context, ns engram.Namespace, h *engram.Heuristic) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if h == nil {
		return engram.Invalid("heuristic", "is required")
	}
	if err := checkEncodable(h, ""); err != nil {
		return err
	}
	var got engram.Heuristic
	if err := c.do(ctx, req{method: "POST", path: "/v1/heuristics", ns: ns, body: h, out: &got}); err != nil {
		return err
	}
	*h = got
	return nil
}

func (c *Client) GetHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) (*engram.Heuristic, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	var h engram.Heuristic
	if err := c.do(ctx, req{method: "GET", path: "/v1/heuristics/" + id.String(), ns: ns, out: &h}); err != nil {
		return nil, err
	}
	return &h, nil
}

func (c *Client) DeleteHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	return c.do(ctx, req{method: "DELETE", path: "/v1/heuristics/" + id.String(), ns: ns})
}

func (c *Client) ListHeuristics(ctx context.Context, ns engram.Namespace, f engram.HeuristicFilter) (engram.HeuristicPage, error) {
	if err := ns.Validate(); err != nil {
		return engram.HeuristicPage{}, err
	}
	q := url.Values{}
	if f.Domain != "" {
		q.Set("domain", f.Domain)
	}
	if f.MinConfidence != 0 {
		q.Set("min_confidence", formatFloat(f.MinConfidence))
	}
	setPaging(q, f.Limit, f.Cursor)
	var page engram.HeuristicPage
	err := c.do(ctx, req{method: "GET", path: "/v1/heuristics", ns: ns, query: q, out: &page})
	return page, err
}

func (c *Client) PutEmbeddings(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
	return postBatch(ctx, c, ns, "/v1/embeddings:batch", "embeddings", embs, true)
}

func embeddingPath(k engram.EmbeddingKey) string {
	m := k.Model
	if m == "" {
		m = engram.DefaultModel
	}
	return "/v1/embeddings/" + esc(string(k.ItemType)) + "/" + k.ItemID.String() + "/" + esc(m)
}

func (c *Client) GetEmbedding(ctx context.Context, ns engram.Namespace, key engram.EmbeddingKey) (*engram.Embedding, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	if key.ItemType == "" {
		return nil, engram.Invalid("item_type", "is required")
	}
	var e engram.Embedding
	if err := c.do(ctx, req{method: "GET", path: embeddingPath(key), ns: ns, out: &e}); err != nil {
		return nil, err
	}
	return &e, nil
}

func (c *Client) DeleteEmbedding(ctx context.Context, ns engram.Namespace, key engram.EmbeddingKey) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if key.ItemType == "" {
		return engram.Invalid("item_type", "is required")
	}
	return c.do(ctx, req{method: "DELETE", path: embeddingPath(key), ns: ns})
}

func (c *Client) ListEmbeddings(ctx context.Context, ns engram.Namespace, f engram.EmbeddingFilter) (engram.EmbeddingPage, error) {
	if err := ns.Validate(); err != nil {
		return engram.EmbeddingPage{}, err
	}
	q := url.Values{}
	if f.ItemType != "" {
		q.Set("item_type", string(f.ItemType))
	}
	if !f.ItemID.IsZero() {
		q.Set("item_id", f.ItemID.String())
	}
	if f.Model != "" {
		q.Set("model", f.Model)
	}
	setPaging(q, f.Limit, f.Cursor)
	var page engram.EmbeddingPage
	err := c.do(ctx, req{method: "GET", path: "/v1/embeddings", ns: ns, query: q, out: &page})
	return page, err
}

func (c *Client) AddRelationship(ctx context.Context, ns engram.Namespace, r *engram.Relationship) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if r == nil {
		return engram.Invalid("relationship", "is required")
	}
	if err := checkEncodable(r, ""); err != nil {
		return err
	}
	var got engram.Relationship
	if err := c.do(ctx, req{method: "POST", path: "/v1/relationships", ns: ns, body: r, out: &got}); err != nil {
		return err
	}
	*r = got
	return nil
}

func (c *Client) RemoveRelationship(ctx context.Context, ns engram.Namespace, from, to engram.EpisodeID, typ engram.RelationshipType) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if typ == "" {
		return engram.Invalid("type", "is required")
	}
	return c.do(ctx, req{method: "DELETE", path: "/v1/relationships/" + from.String() + "/" + to.String() + "/" + esc(string(typ)), ns: ns})
}

func (c *Client) ListRelationships(ctx context.Context, ns engram.Namespace, f engram.RelationshipFilter) ([]engram.Relationship, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	q := url.Values{}
	if f.Direction != "" {
		q.Set("direction", string(f.Direction))
	}
	if f.Type != "" {
		q.Set("type", string(f.Type))
	}
	var res struct {
		Relationships []engram.Relationship `json:"relationships"`
	}
	if err := c.do(ctx, req{method: "GET", path: "/v1/episodes/" + f.Episode.String() + "/relationships", ns: ns, query: q, out: &res}); err != nil {
		return nil, err
	}
	return res.Relationships, nil
}

func (c *Client) Counts(ctx context.Context, ns engram.Namespace) (engram.Counts, error) {
	if err := ns.Validate(); err != nil {
		return engram.Counts{}, err
	}
	var n engram.Counts
	err := c.do(ctx, req{method: "GET", path: "/v1/counts", ns: ns, out: &n})
	return n, err
}

// Changes reads the change feed of every namespace; the token needs "*".
func (c *Client) Changes(ctx context.Context, after uint64, limit int) ([]engram.Change, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	setPaging(q, limit, "")
	var res struct {
		Changes []engram.Change `json:"changes"`
	}
	if err := c.do(ctx, req{method: "GET", path: "/v1/changes", query: q, out: &res}); err != nil {
		return nil, err
	}
	return res.Changes, nil
}

// Namespaces lists every namespace holding records; the token needs "*".
func (c *Client) Namespaces(ctx context.Context) ([]engram.Namespace, error) {
	var res struct {
		Namespaces []engram.Namespace `json:"namespaces"`
	}
	if err := c.do(ctx, req{method: "GET", path: "/v1/namespaces", out: &res}); err != nil {
		return nil, err
	}
	return res.Namespaces, nil
}

// LastSeq reads the change feed's position; the token needs "*".
func (c *Client) LastSeq(ctx context.Context) (uint64, error) {
	var res struct {
		LastSeq uint64 `json:"last_seq"`
	}
	err := c.do(ctx, req{method: "GET", path: "/v1/changes/seq", out: &res})
	return res.LastSeq, err
}

// Sync asks the server to sync its cache (the token needs "*"). A server
// whose store has no cache answers not_implemented. opts.Progress is called
// once, when the sync is done.
func (c *Client) Sync(ctx context.Context, opts engram.SyncOptions) (*engram.SyncReport, error) {
	body := map[string]bool{"full": opts.Full, "dry_run": opts.DryRun, "validate": opts.Validate}
	var rep engram.SyncReport
	if err := c.do(ctx, req{method: "POST", path: "/v1/sync", body: body, out: &rep}); err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress(1, 1)
	}
	return &rep, nil
}

// Status reports the server's store status.
func (c *Client) Status(ctx context.Context) (*engram.Status, error) {
	var st engram.Status
	if err := c.do(ctx, req{method: "GET", path: "/v1/status", out: &st}); err != nil {
		return nil, err
	}
	return &st, nil
}

// Ping checks the server answers /readyz; EUNAVAILABLE when it does not.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, req{method: "GET", path: "/readyz"})
}

// HonoursIdempotencyKeys reports that the client carries a write's
// idempotency key (engram.WithIdempotencyKey, or one it makes per call) in the
// Idempotency-Key header, and engram's server applies it in the store's commit.
func (c *Client) HonoursIdempotencyKeys() bool { return true }

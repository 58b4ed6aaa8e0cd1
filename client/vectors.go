package client

// The namespace contract over embeddings (engram.VectorStore) through the
// server's /v1/vectors routes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/engramhq/engram"
)

var _ engram.VectorStore = (*Client)(nil)

// PutEmbeddingsSameDim is PutEmbeddings that refuses a dimension other
// than that of the item type and model in the namespace (POST
// /v1/vectors:put). The embeddings are filled in as stored.
func (c *Client) PutEmbeddingsSameDim(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
	return postBatch(ctx, c, ns, "/v1/vectors:put", "embeddings", embs, false)
}

func keyStrings(keys []engram.EmbeddingKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

func (c *Client) GetEmbeddings(ctx context.Context, ns engram.Namespace, keys []engram.EmbeddingKey) ([]*engram.Embedding, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	var ans struct {
		Embeddings []*engram.Embedding `json:"embeddings"`
	}
	if err := c.do(ctx, req{method: "POST", path: "/v1/vectors:get", ns: ns, body: map[string]any{"keys": keyStrings(keys)}, out: &ans}); err != nil {
		return nil, err
	}
	found := make(map[string]*engram.Embedding, len(ans.Embeddings))
	for _, e := range ans.Embeddings {
		if e != nil {
			found[e.Key().String()] = e
		}
	}
	out := make([]*engram.Embedding, len(keys))
	for i, k := range keys {
		if k.Model == "" {
			k.Model = engram.DefaultModel
		}
		if e := found[k.String()]; e != nil {
			out[i] = e.Clone() // a key asked twice gets two copies
		}
	}
	return out, nil
}

func (c *Client) DeleteEmbeddings(ctx context.Context, ns engram.Namespace, keys []engram.EmbeddingKey) ([]bool, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	var ans struct {
		Missing []string `json:"missing"`
	}
	raw := keyStrings(keys)
	if err := c.do(ctx, req{method: "POST", path: "/v1/vectors:delete", ns: ns, body: map[string]any{"keys": raw}, out: &ans}); err != nil {
		return nil, err
	}
	missing := map[string]bool{}
	for _, k := range ans.Missing {
		missing[k] = true
	}
	out := make([]bool, len(keys))
	for i, k := range raw {
		out[i] = !missing[k]
	}
	return out, nil
}

// EachEmbedding reads the server's NDJSON export (GET /v1/vectors:export)
// as it arrives: one embedding in memory at a time. A stream the server
// ends with an error line returns that error; one cut short without it
// returns EUNAVAILABLE.
func (c *Client) EachEmbedding(ctx context.Context, ns engram.Namespace, f engram.EmbeddingFilter, fn func(*engram.Embedding) error) error {
	if err := ns.Validate(); err != nil {
		return err
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
	q.Set("namespace", string(ns))
	u := *c.base
	u.Path += "/v1/vectors:export"
	u.RawPath = c.base.EscapedPath() + "/v1/vectors:export"
	u.RawQuery = q.Encode()
	hr, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return &engram.Error{Code: engram.EINVALID, Message: "build request", Err: err}
	}
	hr.Header.Set("Accept", "application/x-ndjson")
	hr.Header.Set("User-Agent", c.opts.UserAgent)
	if c.opts.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("client: export vectors: %w", ctx.Err())
		}
		return engram.Unavailable("engram server "+c.base.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return responseError(resp)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var line struct {
			engram.Embedding
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Field   string `json:"field"`
			} `json:"error"`
		}
		err := dec.Decode(&line)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("client: export vectors: %w", ctx.Err())
			}
			return engram.Unavailable("engram server "+c.base.Host+" (the export was cut short)", err)
		}
		if line.Error != nil {
			return &engram.Error{Code: line.Error.Code, Field: line.Error.Field, Message: line.Error.Message}
		}
		e := line.Embedding
		if err := fn(&e); err != nil {
			return err
		}
	}
}

func (c *Client) VectorNamespaces(ctx context.Context) ([]engram.VectorNamespaceStats, error) {
	var ans struct {
		Namespaces []engram.VectorNamespaceStats `json:"namespaces"`
	}
	err := c.do(ctx, req{method: "GET", path: "/v1/vectors/namespaces", out: &ans})
	return ans.Namespaces, err
}

func (c *Client) VectorNamespace(ctx context.Context, ns engram.Namespace) (*engram.VectorNamespaceStats, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	var st engram.VectorNamespaceStats
	if err := c.do(ctx, req{method: "GET", path: "/v1/vectors", ns: ns, out: &st}); err != nil {
		return nil, err
	}
	return &st, nil
}

func (c *Client) ClearEmbeddings(ctx context.Context, ns engram.Namespace) (int64, error) {
	if err := ns.Validate(); err != nil {
		return 0, err
	}
	var ans struct {
		Deleted int64 `json:"deleted"`
	}
	err := c.do(ctx, req{method: "DELETE", path: "/v1/vectors", ns: ns, query: url.Values{"confirm": {string(ns)}}, out: &ans})
	return ans.Deleted, err
}

func (c *Client) FlushVectors(ctx context.Context) error {
	return c.do(ctx, req{method: "POST", path: "/v1/vectors:flush"})
}

// SweepExpired asks the server to delete expired embeddings now.
func (c *Client) SweepExpired(ctx context.Context) (int, error) {
	var ans struct {
		Swept int `json:"swept"`
	}
	err := c.do(ctx, req{method: "POST", path: "/v1/vectors:sweep", out: &ans})
	return ans.Swept, err
}

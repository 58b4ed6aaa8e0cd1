// Package embed computes embeddings through an OpenAI-compatible
// /v1/embeddings endpoint, the API Ollama, vLLM, llama.cpp's server and
// hosted providers speak.
package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/engramhq/engram"
)

// Limits of one request.
const (
	MaxTexts        = 256
	maxResponseSize = 64 << 20
	DefaultTimeout  = 30 * time.Second
)

// Options configure a Client.
type Options struct {
	// URL is the endpoint: a base ("http://127.0.0.1:11434") to which
	// /v1/embeddings is added, or the full URL ending in /embeddings.
	URL   string
	Model string // required: the model name the service knows
	Token string // sent as "Authorization: Bearer TOKEN"; "": none
	// HTTPClient makes the requests; nil: one with DefaultTimeout.
	HTTPClient *http.Client
}

// Client is an engram.Embedder over HTTP. Safe for concurrent use.
type Client struct {
	url   string
	model string
	token string
	hc    *http.Client
}

var _ engram.Embedder = (*Client)(nil)

// New checks opts and returns a Client. It makes no request.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, engram.Invalid("embed_url", "%q is not an http:// or https:// URL", opts.URL)
	}
	if !strings.HasSuffix(u.Path, "/embeddings") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/embeddings"
	}
	if opts.Model == "" {
		return nil, engram.Invalid("embed_model", "is required with embed_url")
	}
	if len(opts.Model) > engram.MaxNameBytes {
		return nil, engram.TooLarge("embed_model", len(opts.Model), engram.MaxNameBytes)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{url: u.String(), model: opts.Model, token: opts.Token, hc: hc}, nil
}

// Model returns the model name.
func (c *Client) Model() string { return c.model }

type request struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

type response struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Embed returns one vector per text. Every vector must be finite, of one
// dimension (1..engram.MaxVectorDim), and each index must be answered
// once; anything else is an error naming the endpoint.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	if len(texts) > MaxTexts {
		return nil, engram.TooMany("texts", len(texts), "texts", MaxTexts)
	}
	body, err := json.Marshal(request{Model: c.model, Input: texts})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, engram.Unavailable("embeddings service "+c.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return nil, engram.Unavailable("embeddings service "+c.url, err)
	}
	if len(data) > maxResponseSize {
		return nil, fmt.Errorf("embed: %s answered more than %d bytes", c.url, maxResponseSize)
	}
	var r response
	jerr := json.Unmarshal(data, &r)
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(data))
		if jerr == nil && r.Error != nil {
			msg = r.Error.Message
		}
		if len(msg) > 200 {
			msg = msg[:200]
		}
		e := fmt.Errorf("embed: %s answered %d: %s", c.url, resp.StatusCode, msg)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, engram.Unavailable("embeddings service "+c.url, e)
		}
		return nil, e
	}
	if jerr != nil {
		return nil, fmt.Errorf("embed: %s answered what is not an embeddings response: %v", c.url, jerr)
	}
	out := make([][]float32, len(texts))
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= len(texts) || out[d.Index] != nil {
			return nil, fmt.Errorf("embed: %s answered index %d twice or out of range for %d texts", c.url, d.Index, len(texts))
		}
		if len(d.Embedding) == 0 || len(d.Embedding) > engram.MaxVectorDim {
			return nil, fmt.Errorf("embed: %s answered a vector of %d dimensions (want 1-%d)", c.url, len(d.Embedding), engram.MaxVectorDim)
		}
		for _, v := range d.Embedding {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("embed: %s answered a vector with a non-finite component", c.url)
			}
		}
		out[d.Index] = d.Embedding
	}
	for i, v := range out {
		if v == nil {
			return nil, fmt.Errorf("embed: %s answered no vector for text %d", c.url, i)
		}
		if len(v) != len(out[0]) {
			return nil, fmt.Errorf("embed: %s answered vectors of %d and %d dimensions", c.url, len(out[0]), len(v))
		}
	}
	return out, nil
}

// Package embedtest runs a small embeddings service for tests: it speaks
// the OpenAI-compatible POST /v1/embeddings on 127.0.0.1 (real HTTP, real
// JSON) and embeds a text as its bag of words hashed into Dim buckets, unit
// length, so texts sharing words have similar vectors.
package embedtest

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"
)

// Server is a running test service.
type Server struct {
	URL   string
	Dim   int
	Token string       // when set, requests must carry it
	Calls atomic.Int64 // requests answered with vectors
}

// Start serves until the test ends.
func Start(t testing.TB, dim int, token string) *Server {
	t.Helper()
	s := &Server{Dim: dim, Token: token}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Vector is the embedding the service answers for text.
func (s *Server) Vector(text string) []float32 {
	v := make([]float32, s.Dim)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%uint32(s.Dim)]++
	}
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		v[0] = 1
		return v
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}})
	}
	if r.Method != "POST" || r.URL.Path != "/v1/embeddings" {
		fail(404, "no such endpoint")
		return
	}
	if s.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.Token {
		fail(401, "bad token")
		return
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" {
		fail(400, "want {model, input: [texts]}")
		return
	}
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []datum `json:"data"`
		Model  string  `json:"model"`
	}{Object: "list", Model: req.Model}
	// Answer in reverse order: clients must place vectors by index.
	for i := len(req.Input) - 1; i >= 0; i-- {
		out.Data = append(out.Data, datum{Object: "embedding", Index: i, Embedding: s.Vector(req.Input[i])})
	}
	s.Calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

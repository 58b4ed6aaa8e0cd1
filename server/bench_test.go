package server_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/server"
	"github.com/engramhq/engram/storetest"
)

// BenchmarkGetEpisodeHandler is the server's own cost of a get-episode RAM
// hit, the way engram serve runs it (memory with ShareRecords, no tokens,
// log level warn): routing, the middleware and the handler, writing into a
// recorder instead of a connection, so the network and net/http's
// connection handling are left out. Encoded is the server as shipped;
// Decoded hides memory's kept encoding, so every read is encoded again.
func BenchmarkGetEpisodeHandler(b *testing.B) {
	m, err := memory.Open(context.Background(), memory.Config{DataDir: b.TempDir(), ShareRecords: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var paths []string
	for range 100 {
		ep := storetest.RandomEpisode(rng, 2)
		if err := m.CreateEpisode(context.Background(), engram.DefaultNamespace, ep); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, "/v1/episodes/"+ep.ID.String())
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, c := range []struct {
		name  string
		store engram.Store
	}{{"Encoded", m}, {"Decoded", plainStore{m}}} {
		b.Run(c.name, func(b *testing.B) {
			srv, err := server.New(c.store, server.Options{Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			reqs := make([]*http.Request, len(paths))
			for i, p := range paths {
				reqs[i] = httptest.NewRequest("GET", "http://127.0.0.1:7437"+p, nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, reqs[i%len(reqs)])
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

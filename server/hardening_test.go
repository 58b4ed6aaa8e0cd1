package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/server"
)

// faultStore is a real store whose writes and change-feed reads fail with a
// set error while one is set, and whose Status, when status is set, is that.
type faultStore struct {
	engram.Store
	mu       sync.Mutex
	writeErr error
	feedErr  error
	status   *engram.Status
	// keys records the idempotency key each write carried.
	keys []string
}

func (s *faultStore) set(f func(s *faultStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *faultStore) write(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, engram.IdempotencyKey(ctx))
	return s.writeErr
}

func (s *faultStore) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if err := s.write(ctx); err != nil {
		return err
	}
	return s.Store.CreateEpisode(ctx, ns, ep)
}

func (s *faultStore) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	if err := s.write(ctx); err != nil {
		return err
	}
	return s.Store.PutPattern(ctx, ns, p)
}

func (s *faultStore) DeleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) error {
	if err := s.write(ctx); err != nil {
		return err
	}
	return s.Store.DeleteEpisode(ctx, ns, id)
}

func (s *faultStore) Changes(ctx context.Context, after uint64, limit int) ([]engram.Change, error) {
	s.mu.Lock()
	err := s.feedErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.Store.Changes(ctx, after, limit)
}

func (s *faultStore) Status(ctx context.Context) (*engram.Status, error) {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	if st != nil {
		cp := *st
		return &cp, nil
	}
	last, err := s.Store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	return &engram.Status{Tiers: []engram.TierStatus{{Tier: engram.TierDurable, State: "ok"}}, LastSeq: last, Watermark: last}, nil
}

// TestErrorStatuses: each storage error code has its documented HTTP status
// and code, and count limits are 413 too_large naming the field.
func TestErrorStatuses(t *testing.T) {
	fs := &faultStore{Store: openSQL(t)}
	url := startServer(t, fs, server.Options{})
	post := func(path, body string) rawResp {
		return do(t, "POST", url+path, strings.NewReader(body), "Content-Type", "application/json")
	}
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{&engram.Error{Code: engram.ENOSPACE, Message: "sqlstore: commit: disk full"}, 507, "no_space"},
		{&engram.Error{Code: engram.EUNKNOWN, Message: "sqlstore: fsync failed"}, 503, "unknown"},
		{&engram.Error{Code: engram.EUNAVAILABLE, Message: "down"}, 503, "unavailable"},
	} {
		fs.set(func(s *faultStore) { s.writeErr = c.err })
		d := wantError(t, post("/v1/episodes", `{"task_description":"x"}`), c.status, c.code, "")
		if strings.Contains(d.Message, "sqlstore") {
			t.Errorf("%s: internal detail sent to the client: %q", c.code, d.Message)
		}
	}
	fs.set(func(s *faultStore) { s.writeErr, s.feedErr = nil, engram.ErrGone })
	wantError(t, do(t, "GET", url+"/v1/changes?after=1", nil), 410, "gone", "")
	fs.set(func(s *faultStore) { s.feedErr = nil })

	steps := strings.Repeat(`{"tool":"t","action":"a"},`, engram.MaxSteps) + `{"tool":"t","action":"a"}`
	wantError(t, post("/v1/episodes", `{"task_description":"x","steps":[`+steps+`]}`), 413, "too_large", "steps")
	vec := strings.Repeat("0,", engram.MaxVectorDim) + "0"
	wantError(t, post("/v1/embeddings", `{"item_id":"`+engram.NewUUID().String()+`","item_type":"episode","vector":[`+vec+`]}`), 413, "too_large", "vector")
	// Bad times carry their field, in the query and in a body.
	wantError(t, do(t, "GET", url+"/v1/episodes?since=yesterday", nil), 400, "invalid", "since")
	wantError(t, do(t, "GET", url+"/v1/episodes?until=2026-13-01", nil), 400, "invalid", "until")
	wantError(t, post("/v1/episodes", `{"task_description":"x","start_time":"yesterday"}`), 400, "invalid", "start_time")
	wantError(t, post("/v1/episodes", `{"task_description":"x","episode_id":"nope"}`), 400, "invalid", "episode_id")
}

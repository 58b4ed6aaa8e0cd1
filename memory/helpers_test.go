package memory_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
)

// boltOptionsNoWait makes Open give up on a held cache file at once.
func boltOptionsNoWait() boltcache.Options { return boltcache.Options{LockTimeout: -1} }

// checkCacheFile runs when a test's Memory has been closed (bbolt's
// btesting pattern: every test's file is checked at cleanup). The cache file
// must pass its own check (structure and every record's checksum), must not
// have been recreated by the open here (damage), and every record it holds
// must equal the durable record, unless the change feed says the key changed
// after the file's watermark (a lag the next sync closes, not an error).
func checkCacheFile(t testing.TB, cfg memory.Config) {
	t.Helper()
	if cfg.NoCache {
		return
	}
	cachePath, sqlPath := cfg.CachePath, cfg.SQL.Path
	if cachePath == "" {
		cachePath = filepath.Join(cfg.DataDir, memory.DefaultCacheFileName)
	}
	if sqlPath == "" {
		sqlPath = filepath.Join(cfg.DataDir, sqlstore.DefaultFileName)
	}
	if _, err := os.Stat(cachePath); err != nil {
		return // never created
	}
	if _, err := os.Stat(sqlPath); err != nil {
		return // the test's durable store is not a file we can read
	}
	c, err := boltcache.Open(cachePath, boltcache.Options{LockTimeout: -1, TTLCheckInterval: -1, Logger: quiet})
	if errors.Is(err, engram.ErrLocked) {
		return // another Memory or process holds it; its own cleanup checks it
	}
	if err != nil {
		t.Errorf("cleanup: open the cache file %s: %v", cachePath, err)
		return
	}
	defer c.Close()
	if h, err := c.QuickHealth(ctx()); err != nil || h.Recreated != "" {
		t.Errorf("cleanup: the cache file %s was damaged (recreated: %q, %v)", cachePath, h.Recreated, err)
		return
	}
	rep, err := c.Check(ctx(), false)
	if err != nil || rep.Structure != "ok" || len(rep.Bad) > 0 {
		t.Errorf("cleanup: the cache file %s fails its check: %v %+v", cachePath, err, rep)
		return
	}
	s, err := sqlstore.Open(ctx(), sqlstore.Options{Path: sqlPath})
	if err != nil {
		t.Logf("cleanup: cannot open the durable store to compare the cache with it: %v", err)
		return
	}
	defer s.Close()
	wm, err := c.Watermark(ctx())
	must(t, err)
	changed := map[engram.CacheKey]bool{}
	for after := wm; ; {
		chs, err := s.Changes(ctx(), after, engram.MaxQueryLimit)
		must(t, err)
		if len(chs) == 0 {
			break
		}
		for _, ch := range chs {
			if k, ok := keyOfChange(ch); ok {
				changed[k] = true
			}
		}
		after = chs[len(chs)-1].Seq
	}
	var keys []engram.CacheKey
	must(t, c.Keys(ctx(), func(k engram.CacheKey) error {
		keys = append(keys, k)
		return nil
	}))
	for _, k := range keys {
		if changed[k] {
			continue
		}
		cached, durable, err := bothCopies(c, s, k)
		if err != nil {
			t.Errorf("cleanup: compare %s: %v", k, err)
			continue
		}
		if cached == "" {
			continue // expired
		}
		if cached != durable {
			t.Errorf("cleanup: the cache file %s holds %s\n  cached: %s\n durable: %s", cachePath, k, cached, durable)
		}
	}
}

// bothCopies returns the JSON of the cached record under k ("" if it is not
// served) and of the durable one ("absent" if there is none).
func bothCopies(c *boltcache.Cache, s *sqlstore.Store, k engram.CacheKey) (cached, durable string, err error) {
	var cv, dv any
	var ok bool
	var derr error
	switch k.Kind {
	case engram.KindEpisode:
		id := engram.EpisodeID{UUID: k.ID}
		cv, ok, err = c.GetEpisode(ctx(), k.Namespace, id)
		dv, derr = s.GetEpisode(ctx(), k.Namespace, id)
	case engram.KindPattern:
		id := engram.PatternID{UUID: k.ID}
		cv, ok, err = c.GetPattern(ctx(), k.Namespace, id)
		dv, derr = s.GetPattern(ctx(), k.Namespace, id)
	case engram.KindHeuristic:
		id := engram.HeuristicID{UUID: k.ID}
		cv, ok, err = c.GetHeuristic(ctx(), k.Namespace, id)
		dv, derr = s.GetHeuristic(ctx(), k.Namespace, id)
	case engram.KindEmbedding:
		ek := engram.EmbeddingKey{ItemType: k.ItemType, ItemID: k.ID, Model: k.Model}
		cv, ok, err = c.GetEmbedding(ctx(), k.Namespace, ek)
		dv, derr = s.GetEmbedding(ctx(), k.Namespace, ek)
	}
	if err != nil || !ok {
		return "", "", err
	}
	cb, _ := json.Marshal(cv)
	if errors.Is(derr, engram.ErrNotFound) {
		return string(cb), "absent", nil
	}
	if derr != nil {
		return "", "", derr
	}
	db, _ := json.Marshal(dv)
	return string(cb), string(db), nil
}

// keyOfChange is the cache key a change-feed entry affects.
func keyOfChange(c engram.Change) (engram.CacheKey, bool) {
	switch c.Kind {
	case engram.KindEpisode:
		id, err := engram.ParseEpisodeID(c.Key)
		return engram.EpisodeCacheKey(c.Namespace, id), err == nil
	case engram.KindPattern:
		id, err := engram.ParsePatternID(c.Key)
		return engram.PatternCacheKey(c.Namespace, id), err == nil
	case engram.KindHeuristic:
		id, err := engram.ParseHeuristicID(c.Key)
		return engram.HeuristicCacheKey(c.Namespace, id), err == nil
	case engram.KindEmbedding:
		k, err := engram.ParseEmbeddingKey(c.Key)
		return engram.EmbeddingCacheKey(c.Namespace, k), err == nil
	}
	return engram.CacheKey{}, false
}

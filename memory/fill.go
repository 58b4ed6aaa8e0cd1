package memory

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/engramhq/engram"
)

// fillFrom passes to apply (nil: count only, for a dry run) the records a full
// sync caches: the MaxEpisodesCache most recent episodes across every
// namespace, then, unless configured out, every pattern, heuristic and
// embedding. Records go in batches of BatchSize; a last commit sets the
// watermark to from, the change-feed position read before the fill began.
func (m *Memory) fillFrom(ctx context.Context, apply func(context.Context, *engram.CacheBatch) error, from uint64, opts engram.SyncOptions, rep *engram.SyncReport) error {
	nss, err := m.Namespaces(ctx)
	if err != nil {
		return err
	}
	total, err := m.fillTotal(ctx, nss)
	if err != nil {
		return err
	}
	progress(opts, 0, total)
	// Reading the durable store and writing the cache overlap: one goroutine
	// reads and decodes batches, this one commits them.
	batches := make(chan *engram.CacheBatch, 2)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		return m.readAll(gctx, nss, rep, func(b *engram.CacheBatch) error {
			select {
			case batches <- b:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	g.Go(func() error {
		var done int64
		for b := range batches {
			if apply != nil && len(b.Writes) > 0 {
				if err := apply(gctx, b); err != nil {
					return err
				}
			}
			done += int64(len(b.Writes))
			progress(opts, done, total)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if apply == nil {
		return nil
	}
	var last engram.CacheBatch
	last.SetWatermark(from)
	return apply(ctx, &last)
}

// readAll reads what a full sync caches and hands it to emit in batches of
// Sync.BatchSize records, counting them in rep.
func (m *Memory) readAll(ctx context.Context, nss []engram.Namespace, rep *engram.SyncReport, emit func(*engram.CacheBatch) error) error {
	b := &engram.CacheBatch{}
	add := func() error {
		if len(b.Writes) < m.cfg.Sync.BatchSize {
			return nil
		}
		full := b
		b = &engram.CacheBatch{}
		return emit(full)
	}

	// Episodes: merge each namespace's newest-first listing. Each listing is
	// read in pages that start at one episode and double (up to BatchSize,
	// and never past what is still to be cached), so the fill reads at most
	// about twice what it caches plus one episode per namespace, however
	// many namespaces there are.
	its := make([]*episodeIter, len(nss))
	for i, ns := range nss {
		its[i] = &episodeIter{m: m, ns: ns, limit: 1}
	}
	for n := 0; n < m.cfg.Sync.MaxEpisodesCache; n++ {
		var best *episodeIter
		for _, it := range its {
			ep, err := it.peek(ctx, m.cfg.Sync.MaxEpisodesCache-n)
			if err != nil {
				return err
			}
			if ep != nil && (best == nil || newer(ep, best.head())) {
				best = it
			}
		}
		if best == nil {
			break
		}
		b.PutEpisode(best.ns, best.next())
		rep.Episodes++
		if err := add(); err != nil {
			return err
		}
	}
	for _, ns := range nss {
		if !m.cfg.Sync.SkipPatterns {
			err := eachPage(func(cur string) ([]*engram.Pattern, string, error) {
				p, err := m.ListPatterns(ctx, ns, engram.PatternFilter{Limit: m.cfg.Sync.BatchSize, Cursor: cur})
				return p.Patterns, p.NextCursor, err
			}, func(p *engram.Pattern) error {
				b.PutPattern(ns, p)
				rep.Patterns++
				return add()
			})
			if err != nil {
				return err
			}
			err = eachPage(func(cur string) ([]*engram.Heuristic, string, error) {
				p, err := m.ListHeuristics(ctx, ns, engram.HeuristicFilter{Limit: m.cfg.Sync.BatchSize, Cursor: cur})
				return p.Heuristics, p.NextCursor, err
			}, func(h *engram.Heuristic) error {
				b.PutHeuristic(ns, h)
				rep.Heuristics++
				return add()
			})
			if err != nil {
				return err
			}
		}
		if !m.cfg.Sync.SkipEmbeddings {
			err := eachPage(func(cur string) ([]*engram.Embedding, string, error) {
				p, err := m.ListEmbeddings(ctx, ns, engram.EmbeddingFilter{Limit: m.cfg.Sync.BatchSize, Cursor: cur})
				return p.Embeddings, p.NextCursor, err
			}, func(e *engram.Embedding) error {
				b.PutEmbedding(ns, e)
				rep.Embeddings++
				return add()
			})
			if err != nil {
				return err
			}
		}
	}
	if len(b.Writes) > 0 {
		return emit(b)
	}
	return nil
}

// eachPage calls each for every record of a cursor-paged listing.
func eachPage[T any](page func(cursor string) ([]T, string, error), each func(T) error) error {
	for cur := ""; ; {
		recs, next, err := page(cur)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := each(r); err != nil {
				return err
			}
		}
		if cur = next; cur == "" {
			return nil
		}
	}
}

// fillTotal estimates how many records fillFrom will write, for progress.
func (m *Memory) fillTotal(ctx context.Context, nss []engram.Namespace) (int64, error) {
	var eps, rest int64
	for _, ns := range nss {
		c, err := m.Counts(ctx, ns)
		if err != nil {
			return 0, err
		}
		eps += c.Episodes
		if !m.cfg.Sync.SkipPatterns {
			rest += c.Patterns + c.Heuristics
		}
		if !m.cfg.Sync.SkipEmbeddings {
			rest += c.Embeddings
		}
	}
	return min(eps, int64(m.cfg.Sync.MaxEpisodesCache)) + rest, nil
}

// newer reports whether a sorts before b in the durable listing order
// (start_time, then id, both descending).
func newer(a, b *engram.Episode) bool {
	if c := a.StartTime.Compare(b.StartTime); c != 0 {
		return c > 0
	}
	return slices.Compare(a.ID.UUID[:], b.ID.UUID[:]) > 0
}

// episodeIter walks one namespace's episodes newest first, a page at a time.
type episodeIter struct {
	m      *Memory
	ns     engram.Namespace
	limit  int // the next page's size; doubles up to Sync.BatchSize
	page   []*engram.Episode
	cursor string
	done   bool
}

// peek returns the next episode without consuming it; nil at the end. A
// page it reads holds at most want episodes.
func (it *episodeIter) peek(ctx context.Context, want int) (*engram.Episode, error) {
	if len(it.page) == 0 && !it.done {
		n := max(1, min(it.limit, want))
		p, err := it.m.ListEpisodes(ctx, it.ns, engram.EpisodeFilter{Limit: n, Cursor: it.cursor})
		if err != nil {
			return nil, err
		}
		it.page, it.cursor, it.done = p.Episodes, p.NextCursor, p.NextCursor == ""
		it.limit = min(2*it.limit, it.m.cfg.Sync.BatchSize)
	}
	return it.head(), nil
}

func (it *episodeIter) head() *engram.Episode {
	if len(it.page) == 0 {
		return nil
	}
	return it.page[0]
}

func (it *episodeIter) next() *engram.Episode {
	ep := it.page[0]
	it.page = it.page[1:]
	return ep
}

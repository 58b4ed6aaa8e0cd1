package memory

import (
	"context"

	"github.com/engramhq/engram"
)

// autoEmbed stores an embedding of each new episode's task description
// when an Embedder is configured. A failure never fails the acknowledged
// create: it is logged and counted.
func (m *Memory) autoEmbed(ctx context.Context, ns engram.Namespace, eps []*engram.Episode) {
	e := m.cfg.Embedder
	if e == nil {
		return
	}
	var texts []string
	var ids []engram.UUID
	for _, ep := range eps {
		if ep != nil && !ep.ID.IsZero() && ep.TaskDescription != "" {
			texts = append(texts, ep.TaskDescription)
			ids = append(ids, ep.ID.UUID)
		}
	}
	for len(texts) > 0 {
		n := min(len(texts), 256)
		vs, err := e.Embed(ctx, texts[:n])
		if err == nil {
			embs := make([]*engram.Embedding, n)
			for i := range embs {
				embs[i] = &engram.Embedding{ItemID: ids[i], ItemType: engram.ItemEpisode, Model: e.Model(), Vector: vs[i]}
			}
			err = m.PutEmbeddings(ctx, ns, embs)
		}
		if err != nil {
			m.log.Warn("memory: embedding new episodes failed; they are recalled by text only until embedded", "episodes", n, "err", err)
		}
		texts, ids = texts[n:], ids[n:]
	}
}

// embedQuery fills q.Vector from q.Text when an Embedder is configured, the
// query has text but no vector, and names the embedder's model or none. A
// failing embedder leaves the query text-only (logged).
func (m *Memory) embedQuery(ctx context.Context, q *engram.RecallQuery) {
	e := m.cfg.Embedder
	if e == nil || len(q.Vector) > 0 || q.Text == "" || len(q.Text) > engram.MaxSearchQueryBytes || (q.Model != "" && q.Model != e.Model()) {
		return
	}
	vs, err := e.Embed(ctx, []string{q.Text})
	if err != nil || len(vs) != 1 {
		m.log.Warn("memory: embedding a recall's text failed; answering by text alone", "err", err)
		return
	}
	q.Vector, q.Model = vs[0], e.Model()
}

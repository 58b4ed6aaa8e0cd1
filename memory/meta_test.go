package memory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// A concurrent metamorphic test (after pebble's metamorphic package): a
// seeded generator writes one operation stream per goroutine, each over keys
// only that goroutine writes (so the streams commute and the outcome is
// determined by the seed), plus reads of every goroutine's keys and syncs.
// The streams run concurrently against Memory in several configurations and
// one after another against a plain SQLite store, the reference. Each
// goroutine's outcomes must equal the reference's; at every checkpoint (all
// goroutines paused) every record read through Memory must equal the
// durable store's; at the end the durable state must equal the reference's.
// Replay a failure with ENGRAM_TEST_SEED (the seed is printed).

const (
	metaWorkers = 4
	metaRounds  = 3
	metaOps     = 30 // per worker and round
)

type metaKind int

const (
	opCreate metaKind = iota
	opAppend
	opComplete
	opDelete
	opGet
	opPutPattern
	opGetPattern
	opDeletePattern
	opReadOther // a read of another worker's key: its result is not compared
	opSync
	opFullSync
)

type metaOp struct {
	kind metaKind
	ep   engram.EpisodeID
	pat  engram.PatternID
	n    int // create: the sample's index; append, put: a version
}

// metaPlan is the operations of every worker in every round, and every key.
type metaPlan struct {
	ops  [metaRounds][metaWorkers][]metaOp
	eps  []engram.EpisodeID
	pats []engram.PatternID
}

func newMetaPlan(r *rand.Rand) *metaPlan {
	p := &metaPlan{}
	own := make([][]engram.EpisodeID, metaWorkers)
	ownPats := make([][]engram.PatternID, metaWorkers)
	newUUID := func() engram.UUID {
		var u engram.UUID
		for i := range u {
			u[i] = byte(r.IntN(256))
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80
		return u
	}
	n := 0
	for round := 0; round < metaRounds; round++ {
		for w := 0; w < metaWorkers; w++ {
			for i := 0; i < metaOps; i++ {
				n++
				op := metaOp{n: n}
				x := r.IntN(100)
				switch {
				case len(own[w]) == 0 || x < 15:
					op.kind, op.ep = opCreate, engram.EpisodeID{UUID: newUUID()}
					own[w] = append(own[w], op.ep)
					p.eps = append(p.eps, op.ep)
				case x < 35:
					op.kind = opAppend
				case x < 42:
					op.kind = opComplete
				case x < 47:
					op.kind = opDelete
				case x < 62:
					op.kind = opGet
				case x < 70 || len(ownPats[w]) == 0:
					op.kind = opPutPattern
					if len(ownPats[w]) == 0 || r.IntN(3) == 0 {
						op.pat = engram.PatternID{UUID: newUUID()}
						ownPats[w] = append(ownPats[w], op.pat)
						p.pats = append(p.pats, op.pat)
					}
				case x < 76:
					op.kind = opGetPattern
				case x < 79:
					op.kind = opDeletePattern
				case x < 94:
					op.kind = opReadOther
				case x < 99:
					op.kind = opSync
				default:
					op.kind = opFullSync
				}
				if op.ep.IsZero() {
					op.ep = own[w][r.IntN(len(own[w]))]
				}
				if op.pat.IsZero() && len(ownPats[w]) > 0 {
					op.pat = ownPats[w][r.IntN(len(ownPats[w]))]
				}
				if op.kind == opReadOther {
					op.ep = p.eps[r.IntN(len(p.eps))]
				}
				p.ops[round][w] = append(p.ops[round][w], op)
			}
		}
	}
	return p
}

// summary is what the reference and Memory must agree on about an episode
// (the store sets its timestamps, which differ between runs).
func summary(ep *engram.Episode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q complete=%v", ep.ID, ep.TaskDescription, ep.EndTime != nil)
	for _, s := range ep.Steps {
		fmt.Fprintf(&b, " [%d %s]", s.StepNumber, s.Action)
	}
	if ep.Outcome != nil {
		fmt.Fprintf(&b, " outcome=%s", ep.Outcome.Type)
	}
	return b.String()
}

// run applies op to s and describes its outcome.
func (op metaOp) run(s engram.Store) string {
	const ns = "meta"
	c := ctx()
	code := func(err error) string { return engram.ErrorCode(err) }
	switch op.kind {
	case opCreate:
		ep := storetest.SampleEpisode(op.n)
		ep.ID = op.ep
		return "create " + code(s.CreateEpisode(c, ns, ep))
	case opAppend:
		at := storetest.SampleEpisode(0).StartTime.Add(time.Duration(op.n) * time.Second)
		return "append " + code(s.AppendStep(c, ns, op.ep, &engram.Step{Tool: "t", Action: fmt.Sprint("a", op.n), Timestamp: at}))
	case opComplete:
		end := storetest.SampleEpisode(op.n).StartTime.Add(time.Hour)
		done, err := s.CompleteEpisode(c, ns, op.ep, &engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeFailure, Reason: "r"}, EndTime: &end})
		if err != nil {
			return "complete " + code(err)
		}
		return "complete " + summary(done)
	case opDelete:
		return "delete " + code(s.DeleteEpisode(c, ns, op.ep))
	case opGet:
		ep, err := s.GetEpisode(c, ns, op.ep)
		if err != nil {
			return "get " + code(err)
		}
		return "get " + summary(ep)
	case opPutPattern:
		return "put " + code(s.PutPattern(c, ns, pattern(op.pat, fmt.Sprint("v", op.n))))
	case opGetPattern:
		p, err := s.GetPattern(c, ns, op.pat)
		if err != nil {
			return "getpattern " + code(err)
		}
		return "getpattern " + p.Condition
	case opDeletePattern:
		return "deletepattern " + code(s.DeletePattern(c, ns, op.pat))
	case opReadOther:
		if _, err := s.GetEpisode(c, ns, op.ep); err != nil && code(err) != engram.ENOTFOUND {
			return "readother " + code(err)
		}
		return ""
	case opSync, opFullSync:
		if sy, ok := s.(engram.Syncer); ok {
			if _, err := sy.Sync(c, engram.SyncOptions{Full: op.kind == opFullSync}); err != nil {
				return "sync " + err.Error()
			}
		}
		return ""
	}
	panic("unknown op")
}

func TestMetamorphic(t *testing.T) {
	plan := newMetaPlan(storetest.NewRand(t))

	// The reference: every stream, one after another, on a plain store.
	ref := openSQLite(t, t.TempDir())
	var want [metaWorkers][]string
	for round := range plan.ops {
		for w := range plan.ops[round] {
			for _, op := range plan.ops[round][w] {
				want[w] = append(want[w], op.run(ref))
			}
		}
	}

	for _, c := range []struct {
		name string
		cfg  memory.Config
	}{
		{"RAMOnly", memory.Config{NoCache: true}},
		{"FileOnly", memory.Config{NoRAM: true}},
		{"Both", memory.Config{}},
		{"ShareRecords", memory.Config{ShareRecords: true, Sync: memory.SyncConfig{BatchSize: 7}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			durable, err := sqlstore.Open(ctx(), sqlstore.Options{Path: filepath.Join(dir, sqlstore.DefaultFileName)})
			must(t, err)
			t.Cleanup(func() { durable.Close() })
			cfg := c.cfg
			cfg.DataDir, cfg.Durable = dir, &yielding{Store: durable}
			m := open(t, cfg)
			var got [metaWorkers][]string
			for round := range plan.ops {
				var wg sync.WaitGroup
				for w := range plan.ops[round] {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for _, op := range plan.ops[round][w] {
							got[w] = append(got[w], op.run(m))
						}
					}()
				}
				wg.Wait()
				metaCheckpoint(t, m, durable, plan, fmt.Sprintf("after round %d", round))
			}
			for w := range got {
				for i := range want[w] {
					if got[w][i] != want[w][i] {
						t.Fatalf("worker %d op %d (%+v):\n got: %s\nwant: %s", w, i, flatOp(plan, w, i), got[w][i], want[w][i])
					}
				}
			}
			// The durable state is the reference's.
			for _, id := range plan.eps {
				a, aerr := durable.GetEpisode(ctx(), "meta", id)
				b, berr := ref.GetEpisode(ctx(), "meta", id)
				if engram.ErrorCode(aerr) != engram.ErrorCode(berr) || (aerr == nil && summary(a) != summary(b)) {
					t.Fatalf("episode %s: durable %v %v, reference %v %v", id, a, aerr, b, berr)
				}
			}
		})
	}
}

// yielding widens the window between a durable read and the fill it makes,
// where a racing write must win: after each read it lets other goroutines
// run until some write has finished (or a bounded number of turns passed).
type yielding struct {
	engram.Store
	writes atomic.Int64
}

func (y *yielding) wait() {
	w0 := y.writes.Load()
	for i := 0; i < 500 && y.writes.Load() == w0; i++ {
		runtime.Gosched()
	}
}

func (y *yielding) wrote(err error) error {
	y.writes.Add(1)
	return err
}

func (y *yielding) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	ep, err := y.Store.GetEpisode(ctx, ns, id)
	y.wait()
	return ep, err
}

func (y *yielding) GetPattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) (*engram.Pattern, error) {
	p, err := y.Store.GetPattern(ctx, ns, id)
	y.wait()
	return p, err
}

func (y *yielding) AppendStep(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, st *engram.Step) error {
	return y.wrote(y.Store.AppendStep(ctx, ns, id, st))
}

func (y *yielding) CompleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, c *engram.Completion) (*engram.Episode, error) {
	ep, err := y.Store.CompleteEpisode(ctx, ns, id, c)
	return ep, y.wrote(err)
}

func (y *yielding) DeleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) error {
	return y.wrote(y.Store.DeleteEpisode(ctx, ns, id))
}

func (y *yielding) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	return y.wrote(y.Store.PutPattern(ctx, ns, p))
}

// metaCheckpoint reads every key through m and compares it with the durable
// store, twice (the first read may fill a tier the second answers from).
func metaCheckpoint(t *testing.T, m *memory.Memory, durable engram.Store, plan *metaPlan, when string) {
	t.Helper()
	for pass := 0; pass < 2; pass++ {
		for _, id := range plan.eps {
			want, derr := durable.GetEpisode(ctx(), "meta", id)
			got, ri, err := readFrom(t, m, "meta", id)
			if engram.ErrorCode(err) != engram.ErrorCode(derr) {
				t.Fatalf("%s: episode %s: memory (%s tier) says %v, durable %v", when, id, ri.Tier, err, derr)
			}
			if derr == nil {
				storetest.Equal(t, fmt.Sprintf("%s: episode %s from the %s tier", when, id, ri.Tier), got, want)
			}
		}
		for _, id := range plan.pats {
			want, derr := durable.GetPattern(ctx(), "meta", id)
			got, err := m.GetPattern(ctx(), "meta", id)
			if engram.ErrorCode(err) != engram.ErrorCode(derr) {
				t.Fatalf("%s: pattern %s: memory says %v, durable %v", when, id, err, derr)
			}
			if derr == nil {
				storetest.Equal(t, fmt.Sprintf("%s: pattern %s", when, id), got, want)
			}
		}
	}
}

func flatOp(p *metaPlan, w, i int) metaOp {
	for round := range p.ops {
		if i < len(p.ops[round][w]) {
			return p.ops[round][w][i]
		}
		i -= len(p.ops[round][w])
	}
	return metaOp{}
}

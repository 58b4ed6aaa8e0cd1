package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/latency"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// groupDialects opens a store of each dialect; reopen opens the same
// database again (after closing s, for SQLite).
var groupDialects = []struct {
	name string
	open func(t *testing.T) (s *sqlstore.Store, reopen func(t *testing.T) *sqlstore.Store)
}{
	{"sqlite", func(t *testing.T) (*sqlstore.Store, func(t *testing.T) *sqlstore.Store) {
		path := filepath.Join(t.TempDir(), "engram.db")
		s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		return s, func(t *testing.T) *sqlstore.Store {
			must(t, s.Close())
			return openTemp(t, sqlstore.Options{Path: path})
		}
	}},
	{"postgres", func(t *testing.T) (*sqlstore.Store, func(t *testing.T) *sqlstore.Store) {
		url := sqlstore.PostgresURL(t)
		s := openPostgres(t, sqlstore.Options{URL: url})
		return s, func(t *testing.T) *sqlstore.Store { return openPostgres(t, sqlstore.Options{URL: url}) }
	}},
}

// gate holds a store's first commit until released, and counts its commits
// and the writes that joined its queue.
type gate struct {
	commits atomic.Int32
	inFirst chan struct{} // closed when the first commit is about to happen
	release chan struct{} // close to let it happen
	queued  chan struct{} // one value per queued write
	// fail, if set, runs just before the commit with the given number.
	failAt int32
	fail   func()
}

func newGate(s *sqlstore.Store) *gate {
	g := &gate{inFirst: make(chan struct{}), release: make(chan struct{}), queued: make(chan struct{}, 1<<16)}
	sqlstore.SetBeforeCommit(s, func() {
		n := g.commits.Add(1)
		if n == 1 {
			close(g.inFirst)
			<-g.release
		}
		if n == g.failAt && g.fail != nil {
			g.fail()
		}
	})
	sqlstore.SetWriteQueued(s, func() { g.queued <- struct{}{} })
	return g
}

// waitQueued waits until n more writes have joined the queue.
func (g *gate) waitQueued(n int) {
	for i := 0; i < n; i++ {
		<-g.queued
	}
}

// holding starts first and waits until its commit is held; later writes
// queue behind it.
func (g *gate) holding(first func()) {
	go first()
	<-g.inFirst
	g.waitQueued(1)
}

// episodeFor returns a sample episode with an id of its own.
func episodeFor(i int) *engram.Episode {
	ep := storetest.SampleEpisode(i)
	ep.ID = engram.NewEpisodeID()
	return ep
}

func cloneEpisode(t *testing.T, ep *engram.Episode) *engram.Episode {
	b, err := json.Marshal(ep)
	must(t, err)
	var cp engram.Episode
	must(t, json.Unmarshal(b, &cp))
	return &cp
}

// feedKeys returns the keys of the feed's entries after seq, checking that
// seqs only grow.
func feedKeys(t *testing.T, s *sqlstore.Store, after uint64) []string {
	t.Helper()
	cs, err := s.Changes(context.Background(), after, 100000)
	must(t, err)
	var keys []string
	for i, c := range cs {
		if i > 0 && c.Seq <= cs[i-1].Seq {
			t.Fatalf("feed entry %d has seq %d after %d", i, c.Seq, cs[i-1].Seq)
		}
		keys = append(keys, c.Key)
	}
	return keys
}

// TestGroupCommitConcurrentWriters: many goroutines create episodes and
// append steps to them at once. Every write is acknowledged, and after the
// store is reopened every acknowledged write is there, in a feed whose seqs
// only grow and that names each record written.
func TestGroupCommitConcurrentWriters(t *testing.T) {
	const writers, each = 32, 6
	for _, d := range groupDialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			s, reopen := d.open(t)
			start, err := s.LastSeq(ctx)
			must(t, err)
			eps := make([][]*engram.Episode, writers)
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < each; i++ {
						ep := episodeFor(w*each + i)
						if err := s.CreateEpisode(ctx, "default", ep); err != nil {
							errs <- err
							return
						}
						st := &engram.Step{Tool: "make", Action: fmt.Sprintf("build %d/%d", w, i), Result: &engram.StepResult{Type: engram.ResultSuccess}}
						if err := s.AppendStep(ctx, "default", ep.ID, st); err != nil {
							errs <- err
							return
						}
						ep.Steps = append(ep.Steps, *st)
						eps[w] = append(eps[w], ep)
					}
				}(w)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			s = reopen(t)
			keys := map[string]int{}
			for _, k := range feedKeys(t, s, start) {
				keys[k]++
			}
			for _, list := range eps {
				for _, want := range list {
					got, err := s.GetEpisode(ctx, "default", want.ID)
					must(t, err)
					if len(got.Steps) != 3 || got.Steps[2].Action != want.Steps[2].Action {
						t.Fatalf("episode %s: %d steps (%+v), want 3 ending with %q", want.ID, len(got.Steps), got.Steps, want.Steps[2].Action)
					}
					if keys[want.ID.String()] == 0 {
						t.Fatalf("the feed has no entry for episode %s", want.ID)
					}
				}
			}
			c, err := s.Counts(ctx, "default")
			must(t, err)
			if c.Episodes != writers*each || c.Steps != 3*writers*each {
				t.Fatalf("counts %+v, want %d episodes and %d steps", c, writers*each, 3*writers*each)
			}
		})
	}
}

// TestGroupCommitBatches: writes that queue while a commit is in flight
// share the next commit. The first commit is held until 15 more writes have
// queued; then exactly two commits hold all 16, and the feed lists the
// first write, then the 15 in the order they queued.
func TestGroupCommitBatches(t *testing.T) {
	const n = 16
	for _, d := range groupDialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			s, reopen := d.open(t)
			must(t, s.CreateEpisode(ctx, "default", episodeFor(-1))) // the search table exists
			start, err := s.LastSeq(ctx)
			must(t, err)
			g := newGate(s)
			eps := make([]*engram.Episode, n)
			errs := make([]chan error, n)
			for i := range eps {
				eps[i], errs[i] = episodeFor(i), make(chan error, 1)
			}
			g.holding(func() { errs[0] <- s.CreateEpisode(ctx, "default", eps[0]) })
			for i := 1; i < n; i++ {
				go func() { errs[i] <- s.CreateEpisode(ctx, "default", eps[i]) }()
				g.waitQueued(1) // in this order
			}
			close(g.release)
			for i := range errs {
				must(t, <-errs[i])
			}
			if c := g.commits.Load(); c != 2 {
				t.Fatalf("%d writes took %d commits, want 2 (the held one, then all that queued behind it)", n, c)
			}
			s = reopen(t)
			keys := feedKeys(t, s, start)
			if len(keys) != n {
				t.Fatalf("feed holds %d entries, want %d", len(keys), n)
			}
			for i, ep := range eps {
				if keys[i] != ep.ID.String() {
					t.Fatalf("feed entry %d is %s, want episode %d (%s)", i, keys[i], i, ep.ID)
				}
				got, err := s.GetEpisode(ctx, "default", ep.ID)
				must(t, err)
				storetest.Equal(t, "episode of the group", got, ep)
			}
		})
	}
}

// TestGroupCommitFailingWriteFailsOnlyItself: one group holds good writes
// and failing ones (a create of an id another write of the group just took,
// a step for a missing episode, an idempotency key reused for a different
// request). Each failing write gets its own error; every other write of the
// group commits, including a step appended to an episode created earlier in
// the same group and a repeat of a keyed create, which returns the first
// one's outcome.
func TestGroupCommitFailingWriteFailsOnlyItself(t *testing.T) {
	for _, d := range groupDialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			s, reopen := d.open(t)
			must(t, s.CreateEpisode(ctx, "default", episodeFor(-1)))
			start, err := s.LastSeq(ctx)
			must(t, err)
			g := newGate(s)
			held := episodeFor(0)
			heldErr := make(chan error, 1)
			g.holding(func() { heldErr <- s.CreateEpisode(ctx, "default", held) })

			a, b := episodeFor(1), episodeFor(2)
			dup := episodeFor(3)
			dup.ID = a.ID
			keyed, keyedOther := episodeFor(4), episodeFor(5)
			keyed.ID, keyedOther.ID = engram.EpisodeID{}, engram.EpisodeID{}
			keyedAgain := cloneEpisode(t, keyed)
			kctx := engram.WithIdempotencyKey(ctx, "group-key")
			step := &engram.Step{Tool: "make", Action: "build", Result: &engram.StepResult{Type: engram.ResultSuccess}}
			writes := []struct {
				name string
				do   func() error
				code string // "" for success
			}{
				{"create a", func() error { return s.CreateEpisode(ctx, "default", a) }, ""},
				{"create a's id again", func() error { return s.CreateEpisode(ctx, "default", dup) }, engram.ECONFLICT},
				{"append to a", func() error { return s.AppendStep(ctx, "default", a.ID, step) }, ""},
				{"append to a missing episode", func() error {
					return s.AppendStep(ctx, "default", engram.NewEpisodeID(), &engram.Step{Tool: "x", Action: "y"})
				}, engram.ENOTFOUND},
				{"keyed create", func() error { return s.CreateEpisode(kctx, "default", keyed) }, ""},
				{"keyed create repeated", func() error { return s.CreateEpisode(kctx, "default", keyedAgain) }, ""},
				{"key reused for another request", func() error { return s.CreateEpisode(kctx, "default", keyedOther) }, engram.ECONFLICT},
				{"create b", func() error { return s.CreateEpisode(ctx, "default", b) }, ""},
			}
			errs := make([]chan error, len(writes))
			for i, w := range writes {
				errs[i] = make(chan error, 1)
				go func() { errs[i] <- w.do() }()
				g.waitQueued(1)
			}
			close(g.release)
			must(t, <-heldErr)
			for i, w := range writes {
				err := <-errs[i]
				if w.code == "" {
					if err != nil {
						t.Fatalf("%s: %v, want success", w.name, err)
					}
					continue
				}
				if engram.ErrorCode(err) != w.code {
					t.Fatalf("%s: %v, want %s", w.name, err, w.code)
				}
			}
			if c := g.commits.Load(); c != 2 {
				t.Fatalf("%d commits, want 2", c)
			}
			if keyed.ID.IsZero() || keyedAgain.ID != keyed.ID || !keyedOther.ID.IsZero() {
				t.Fatalf("keyed ids: first %s, repeat %s, other request %s; want the repeat to get the first's id, the other none", keyed.ID, keyedAgain.ID, keyedOther.ID)
			}

			s = reopen(t)
			c, err := s.Counts(ctx, "default")
			must(t, err)
			if c.Episodes != 5 { // the first, held, a, keyed, b
				t.Fatalf("%d episodes, want 5", c.Episodes)
			}
			got, err := s.GetEpisode(ctx, "default", a.ID)
			must(t, err)
			if got.TaskDescription != a.TaskDescription || len(got.Steps) != len(a.Steps)+1 {
				t.Fatalf("episode a: %q with %d steps; want a's own with the appended step", got.TaskDescription, len(got.Steps))
			}
			keys := feedKeys(t, s, start)
			want := []string{held.ID.String(), a.ID.String(), a.ID.String(), keyed.ID.String(), b.ID.String()}
			if strings.Join(keys, " ") != strings.Join(want, " ") {
				t.Fatalf("feed after the group:\n%v\nwant\n%v", keys, want)
			}
		})
	}
}

// TestGroupCommitCancelledWhileQueued: a write whose context ends while it
// waits in the queue is removed: its caller gets the context's error and
// the write is never made.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, sqlstore.Options{})
	g := newGate(s)
	held := episodeFor(0)
	heldErr := make(chan error, 1)
	g.holding(func() { heldErr <- s.CreateEpisode(ctx, "default", held) })
	cctx, cancel := context.WithCancel(ctx)
	gone, kept := episodeFor(1), episodeFor(2)
	goneErr, keptErr := make(chan error, 1), make(chan error, 1)
	go func() { goneErr <- s.CreateEpisode(cctx, "default", gone) }()
	g.waitQueued(1)
	go func() { keptErr <- s.CreateEpisode(ctx, "default", kept) }()
	g.waitQueued(1)
	cancel()
	if err := <-goneErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled queued write: %v, want context.Canceled", err)
	}
	close(g.release)
	must(t, <-heldErr)
	must(t, <-keptErr)
	if _, err := s.GetEpisode(ctx, "default", gone.ID); engram.ErrorCode(err) != engram.ENOTFOUND {
		t.Fatalf("the cancelled write's episode: %v, want not found", err)
	}
	for _, ep := range []*engram.Episode{held, kept} {
		_, err := s.GetEpisode(ctx, "default", ep.ID)
		must(t, err)
	}
	if c := g.commits.Load(); c != 2 {
		t.Fatalf("%d commits, want 2", c)
	}
}

// TestGroupCommitFailedCommitFailsItsGroup: the commit of a group fails (on
// SQLite the file system fills up just before it: ENOSPACE; on PostgreSQL
// the server ends the session as it commits: EUNKNOWN). Exactly the writes
// of that group get the commit's error and none of them is stored; the
// write committed before and one made after are stored.
func TestGroupCommitFailedCommitFailsItsGroup(t *testing.T) {
	for _, d := range groupDialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			var s *sqlstore.Store
			var fail func()
			var wantCode, filler string
			switch d.name {
			case "sqlite":
				mnt := mountTmpfs(t, "8m")
				s = openTemp(t, sqlstore.Options{Path: filepath.Join(mnt, "engram.db")})
				filler = filepath.Join(mnt, "filler")
				fail = func() { fillFS(t, filler) }
				wantCode = engram.ENOSPACE
			case "postgres":
				url := sqlstore.PostgresURL(t)
				s = openPostgres(t, sqlstore.Options{URL: url})
				fail = func() { terminateWriter(t, url) }
				wantCode = engram.EUNKNOWN
			}
			must(t, s.CreateEpisode(ctx, "default", episodeFor(-1)))
			start, err := s.LastSeq(ctx)
			must(t, err)
			g := newGate(s)
			g.failAt, g.fail = 2, fail
			held := episodeFor(0)
			heldErr := make(chan error, 1)
			g.holding(func() { heldErr <- s.CreateEpisode(ctx, "default", held) })
			const n = 8
			doomed := make([]*engram.Episode, n)
			errs := make(chan error, n)
			for i := range doomed {
				doomed[i] = episodeFor(i + 1)
				go func() { errs <- s.CreateEpisode(ctx, "default", doomed[i]) }()
			}
			g.waitQueued(n)
			close(g.release)
			must(t, <-heldErr)
			for i := 0; i < n; i++ {
				if err := <-errs; engram.ErrorCode(err) != wantCode {
					t.Fatalf("a write of the failed commit: %v, want %s", err, wantCode)
				}
			}
			if c := g.commits.Load(); c != 2 {
				t.Fatalf("%d commits, want 2", c)
			}
			if filler != "" {
				must(t, os.Remove(filler))
			}
			after := episodeFor(100)
			must(t, s.CreateEpisode(ctx, "default", after))
			keys := feedKeys(t, s, start)
			if want := held.ID.String() + " " + after.ID.String(); strings.Join(keys, " ") != want {
				t.Fatalf("feed %v, want the held write's entry, then the later one's (%s)", keys, want)
			}
			for _, ep := range doomed {
				if _, err := s.GetEpisode(ctx, "default", ep.ID); engram.ErrorCode(err) != engram.ENOTFOUND {
					t.Fatalf("episode of the failed commit: %v, want not found", err)
				}
			}
		})
	}
}

// fillFS fills the file system holding path with a file at path.
func fillFS(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Error(err)
			}
			break
		}
	}
	// what a 64 KiB chunk left over
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
}

// terminateWriter ends the session that holds the schema's write lock.
func terminateWriter(t *testing.T, url string) {
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Error(err)
		return
	}
	defer admin.Close()
	var n int
	err = admin.QueryRowContext(context.Background(), `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid::bigint = 1701734258 AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295)`).Scan(&n)
	if err != nil || n != 1 {
		t.Errorf("terminate the writer's session: %d sessions, %v", n, err)
	}
}

// killChildEnv makes the test binary a writer child (see killChild).
const killChildEnv = "ENGRAM_GROUP_KILL_CHILD"

// killChild opens the store at $ENGRAM_GROUP_KILL_CHILD and creates
// episodes from 16 goroutines until it is killed, printing each episode's
// id once its create was acknowledged.
func killChild() {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: os.Getenv(killChildEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for w := 0; w < 16; w++ {
		go func(w int) {
			for i := 0; ; i++ {
				ep := episodeFor(w*1_000_000 + i)
				if err := s.CreateEpisode(ctx, "default", ep); err != nil {
					fmt.Fprintln(os.Stderr, "create:", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintln(out, ep.ID)
				out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	select {} // until killed
}

// TestGroupCommitSurvivesKill9: a child process creates episodes from many
// goroutines (so its commits hold groups) and prints each acknowledged one;
// it is killed with SIGKILL mid-stream. Every episode it acknowledged is in
// the database afterwards.
func TestGroupCommitSurvivesKill9(t *testing.T) {
	if os.Getenv(killChildEnv) != "" {
		killChild()
		return
	}
	path := filepath.Join(t.TempDir(), "engram.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupCommitSurvivesKill9$", "-test.v=false")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	var acked []string
	sc := bufio.NewScanner(stdout)
	for len(acked) < 400 && sc.Scan() {
		acked = append(acked, sc.Text())
	}
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	for sc.Scan() { // lines already written before the kill
		acked = append(acked, sc.Text())
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v (%v), want killed by SIGKILL", cmd.ProcessState, err)
	}
	if len(acked) < 400 {
		t.Fatalf("the child acknowledged only %d creates before it stopped", len(acked))
	}
	ctx := context.Background()
	s := openTemp(t, sqlstore.Options{Path: path})
	for _, line := range acked {
		id, err := engram.ParseEpisodeID(line)
		must(t, err)
		if _, err := s.GetEpisode(ctx, "default", id); err != nil {
			t.Fatalf("episode %s was acknowledged before the kill: %v", id, err)
		}
	}
	c, err := s.Counts(ctx, "default")
	must(t, err)
	if c.Episodes < int64(len(acked)) {
		t.Fatalf("%d episodes stored, %d acknowledged", c.Episodes, len(acked))
	}
}

// BenchmarkGroupCommit creates episodes from 1, 2 and 32 goroutines on a
// SQLite store with synchronous=FULL, and reports the writes per commit.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 2, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTemp(b, sqlstore.Options{})
			ctx := context.Background()
			var commits atomic.Int64
			sqlstore.SetBeforeCommit(s, func() { commits.Add(1) })
			eps := make([]*engram.Episode, b.N)
			for i := range eps {
				eps[i] = episodeFor(i)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
						if err := s.CreateEpisode(ctx, "default", eps[i]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			b.ReportMetric(float64(b.N)/float64(max(commits.Load(), 1)), "writes/commit")
		})
	}
}

// TestGroupCommitSearchRowsOfAGroup: a group's search rows are written at
// its end, so a later write of the same group that rewrites or deletes a
// record indexed earlier in the group must still find and replace its rows.
// One group creates two episodes, updates the first, appends a step to it
// and deletes the second; a search then finds the new text only, and the
// consistency check (run at cleanup) finds every search row matching its
// record.
func TestGroupCommitSearchRowsOfAGroup(t *testing.T) {
	for _, d := range groupDialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			s, reopen := d.open(t)
			g := newGate(s)
			heldErr := make(chan error, 1)
			g.holding(func() { heldErr <- s.CreateEpisode(ctx, "default", episodeFor(-1)) })
			kept, gone := episodeFor(1), episodeFor(2)
			kept.TaskDescription, gone.TaskDescription = "zebrafish migration", "zebrafish cleanup"
			writes := []func() error{
				func() error { return s.CreateEpisode(ctx, "default", kept) },
				func() error { return s.CreateEpisode(ctx, "default", gone) },
				func() error {
					up := cloneEpisode(t, kept)
					up.TaskDescription = "quokka migration"
					return s.UpdateEpisode(ctx, "default", up)
				},
				func() error {
					return s.AppendStep(ctx, "default", kept.ID, &engram.Step{Tool: "make", Action: "wombat build", Result: &engram.StepResult{Type: engram.ResultSuccess}})
				},
				func() error { return s.DeleteEpisode(ctx, "default", gone.ID) },
			}
			errs := make([]chan error, len(writes))
			for i, w := range writes {
				errs[i] = make(chan error, 1)
				go func() { errs[i] <- w() }()
				g.waitQueued(1)
			}
			close(g.release)
			must(t, <-heldErr)
			for i := range errs {
				if err := <-errs[i]; err != nil {
					t.Fatalf("write %d of the group: %v", i, err)
				}
			}
			if c := g.commits.Load(); c != 2 {
				t.Fatalf("%d commits, want 2", c)
			}
			s = reopen(t)
			for word, want := range map[string]int{"zebrafish": 0, "quokka": 1, "wombat": 1} {
				hits, err := s.Search(ctx, "default", engram.SearchQuery{Text: word})
				must(t, err)
				if len(hits) != want {
					t.Fatalf("search %q: %d hits (%+v), want %d", word, len(hits), hits, want)
				}
			}
			problems, err := s.Check(ctx)
			if err != nil || len(problems) > 0 {
				t.Fatalf("check: %v %v", problems, err)
			}
		})
	}
}

// TestGroupCommitDeferredCreatesFailOnlyThemselves: creates run no
// statement in their turn; the group writes their rows together. When
// that batch is refused (one create takes an id stored before, another one
// taken earlier in the same group), exactly those two fail, with ECONFLICT
// naming the field and the id, the stored episode is untouched, and the
// other creates commit in their order.
func TestGroupCommitDeferredCreatesFailOnlyThemselves(t *testing.T) {
	for _, d := range groupDialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			s, reopen := d.open(t)
			stored := episodeFor(-2)
			must(t, s.CreateEpisode(ctx, "default", stored))
			want := cloneEpisode(t, stored)
			start, err := s.LastSeq(ctx)
			must(t, err)
			g := newGate(s)
			held := episodeFor(-1)
			heldErr := make(chan error, 1)
			g.holding(func() { heldErr <- s.CreateEpisode(ctx, "default", held) })
			a, b, c := episodeFor(1), episodeFor(2), episodeFor(3)
			dupStored, dupA := episodeFor(4), episodeFor(5)
			dupStored.ID, dupA.ID = stored.ID, a.ID
			writes := []*engram.Episode{a, dupStored, b, dupA, c}
			errs := make([]chan error, len(writes))
			for i, ep := range writes {
				errs[i] = make(chan error, 1)
				go func() { errs[i] <- s.CreateEpisode(ctx, "default", ep) }()
				g.waitQueued(1)
			}
			close(g.release)
			must(t, <-heldErr)
			for i := range writes {
				err := <-errs[i]
				if i == 1 || i == 3 {
					var ee *engram.Error
					if !errors.As(err, &ee) || ee.Code != engram.ECONFLICT || ee.Field != "episode_id" || !strings.Contains(ee.Message, writes[i].ID.String()) {
						t.Fatalf("create %d of a taken id: %v, want ECONFLICT on episode_id naming %s", i, err, writes[i].ID)
					}
					continue
				}
				must(t, err)
			}
			if n := g.commits.Load(); n != 2 {
				t.Fatalf("%d commits, want 2", n)
			}
			s = reopen(t)
			keys := feedKeys(t, s, start)
			wantKeys := []string{held.ID.String(), a.ID.String(), b.ID.String(), c.ID.String()}
			if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
				t.Fatalf("feed %v, want %v", keys, wantKeys)
			}
			for _, ep := range []*engram.Episode{held, a, b, c} {
				got, err := s.GetEpisode(ctx, "default", ep.ID)
				must(t, err)
				storetest.Equal(t, "episode of the group", got, ep)
			}
			got, err := s.GetEpisode(ctx, "default", stored.ID)
			must(t, err)
			storetest.Equal(t, "episode stored before", got, want)
		})
	}
}

// BenchmarkSingleWriter puts one writer's create (synchronous=FULL) beside
// the floor under it, measured in the same run: one bare INSERT of a
// document-sized row and its COMMIT on a WAL file with synchronous=FULL
// (the fsync), with nothing of engram around it. p50-ns of the two is what
// the single-writer target compares.
func BenchmarkSingleWriter(b *testing.B) {
	b.Run("bare-insert-commit", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "bare.db")
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		if _, err := db.Exec(`CREATE TABLE docs (id BLOB PRIMARY KEY, doc BLOB)`); err != nil {
			b.Fatal(err)
		}
		doc := make([]byte, 1600)
		var rec latency.Recorder
		l := rec.Local()
		rec.Start(b)
		for i := 0; i < b.N; i++ {
			id := engram.NewEpisodeID()
			l.Time(func() {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.Exec(`INSERT INTO docs (id, doc) VALUES (?, ?)`, id.UUID[:], doc); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			})
		}
		l.Flush()
		rec.Report(b, "", b.N)
	})
	b.Run("create-episode", func(b *testing.B) {
		s := openTemp(b, sqlstore.Options{})
		ctx := context.Background()
		var rec latency.Recorder
		l := rec.Local()
		rec.Start(b)
		for i := 0; i < b.N; i++ {
			ep := storetest.SampleEpisode(i)
			l.Time(func() {
				if err := s.CreateEpisode(ctx, "default", ep); err != nil {
					b.Fatal(err)
				}
			})
		}
		l.Flush()
		rec.Report(b, "", b.N)
	})
}

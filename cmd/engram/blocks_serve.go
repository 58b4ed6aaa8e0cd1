package main

// engram serve --blocks-replica URL: blocks.db replicated to the object
// tier continuously while the server runs.

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blobblocks"
)

// DefaultBlocksReplicaInterval is how long serve waits between replication
// rounds of blocks.db.
const DefaultBlocksReplicaInterval = time.Minute

// TierBlocksReplica is the tier /v1/status reports the replication as.
const TierBlocksReplica engram.Tier = "blocks_replica"

// blocksReplica runs blobblocks.Replicate from blocks.db to an object store
// in a loop: a round at start, then one every interval, until stop. Each
// round copies only what the remote lacks, so a round cut short (a kill, a
// failure, shutdown) is finished by the next one, in this process or the
// next. blocks.db is opened read-only for the round alone, so other
// processes can write it between rounds.
type blocksReplica struct {
	path, url string
	interval  time.Duration
	log       *slog.Logger

	remoteBlob engram.BlobStore
	remote     *blobblocks.Store

	cancel context.CancelFunc
	done   chan struct{}

	// mu guards st.
	mu sync.Mutex
	st blocksReplicaState
}

type blocksReplicaState struct {
	rounds, failures  int64
	blocks, bytes     int64 // copied, summed over rounds
	heads             int
	lastRound, lastOK time.Time
	lastErr           string
	lastDuration      time.Duration
	missingLocal      bool
}

// startBlocksReplica opens the remote at url and starts the loop.
func startBlocksReplica(ctx context.Context, path, url string, interval time.Duration, log *slog.Logger) (*blocksReplica, error) {
	b, remote, err := openRemote(ctx, url)
	if err != nil {
		return nil, err
	}
	r := &blocksReplica{path: path, url: url, interval: interval, log: log, remoteBlob: b, remote: remote, done: make(chan struct{})}
	lctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.loop(lctx)
	return r, nil
}

// stop ends the loop (a round under way is cancelled; the next run of
// serve resumes it) and closes the remote.
func (r *blocksReplica) stop() {
	r.cancel()
	<-r.done
	r.remoteBlob.Close()
}

func (r *blocksReplica) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *blocksReplica) round(ctx context.Context) {
	start := time.Now()
	st, err := r.replicate(ctx)
	if ctx.Err() != nil {
		return // shutdown; not a failure
	}
	took := time.Since(start)
	r.mu.Lock()
	s := &r.st
	s.rounds++
	s.lastRound, s.lastDuration = start, took
	s.missingLocal = errors.Is(err, fs.ErrNotExist)
	switch {
	case s.missingLocal:
		s.lastErr = ""
	case err != nil:
		s.failures++
		s.lastErr = err.Error()
	default:
		s.blocks += st.Blocks
		s.bytes += st.Bytes
		s.heads = len(st.Heads)
		s.lastOK, s.lastErr = start, ""
	}
	r.mu.Unlock()
	switch {
	case s.missingLocal:
		r.log.Debug("blocks replication: no blocks.db yet", "path", r.path)
	case err != nil:
		r.log.Warn("blocks replication failed; the next round resumes it", "remote", r.url, "err", err)
	default:
		r.log.Info("blocks replicated", "remote", r.url, "blocks", st.Blocks, "bytes", st.Bytes, "present", st.Present,
			"heads", len(st.Heads), "duration", took)
	}
}

func (r *blocksReplica) replicate(ctx context.Context) (blobblocks.ReplicateStats, error) {
	if _, err := os.Stat(r.path); err != nil {
		return blobblocks.ReplicateStats{}, err
	}
	local, err := bsOpenRead(r.path)
	if err != nil {
		return blobblocks.ReplicateStats{}, err
	}
	defer local.Close()
	return blobblocks.Replicate(ctx, local, r.remote, nil)
}

// status describes the replication as a tier of /v1/status.
func (r *blocksReplica) status(context.Context) engram.TierStatus {
	r.mu.Lock()
	s := r.st
	r.mu.Unlock()
	ts := engram.TierStatus{Tier: TierBlocksReplica, State: "ok", Detail: redactURL(r.url), Stats: map[string]any{
		"rounds": s.rounds, "failures": s.failures, "blocks_copied": s.blocks, "bytes_copied": s.bytes, "heads": s.heads,
		"last_round_ns": s.lastDuration.Nanoseconds(),
	}}
	if !s.lastRound.IsZero() {
		ts.Stats["last_round"] = s.lastRound.UTC()
	}
	if !s.lastOK.IsZero() {
		ts.Stats["last_success"] = s.lastOK.UTC()
	}
	switch {
	case s.lastErr != "":
		ts.State, ts.Detail = "unavailable", redactURL(r.url)+": "+s.lastErr
	case s.missingLocal:
		ts.Detail = redactURL(r.url) + " (no blocks.db yet)"
	}
	return ts
}

// redactURL keeps a URL's scheme, host and path: its query may carry an
// endpoint, never credentials (blob refuses those), but status has no need
// of it.
func redactURL(u string) string {
	for i := 0; i < len(u); i++ {
		if u[i] == '?' {
			return u[:i]
		}
	}
	return u
}

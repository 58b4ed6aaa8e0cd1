package engram

import (
	"context"
	"sync"
	"time"
)

// Tier names a storage tier.
type Tier string

const (
	TierRAM     Tier = "ram"     // decoded records in process memory
	TierCache   Tier = "cache"   // the embedded cache file
	TierDurable Tier = "durable" // the SQL store: the source of truth
)

// ReadInfo says where a read was answered from. A caller that wants to know
// attaches one to the context with WithReadInfo; stores that serve reads
// from several tiers fill it in (ReportRead). Stores that do not leave it
// untouched, which callers must read as "durable, not stale".
//
// ReadInfo is safe for concurrent use while a call fills it (a call may fan
// out reads); read its fields once the call has returned, or with Get.
type ReadInfo struct {
	mu   sync.Mutex
	Tier Tier `json:"tier"`
	// Stale is true when the durable tier could not be reached and the record
	// came from a cache that may lag behind it.
	Stale bool `json:"stale"`
}

type readInfoKey struct{}

// WithReadInfo returns a context whose reads report into ri.
func WithReadInfo(ctx context.Context, ri *ReadInfo) context.Context {
	return context.WithValue(ctx, readInfoKey{}, ri)
}

// ReportRead records where a read was answered from, if the caller asked.
// When a call makes several reads, a stale one keeps the whole call stale.
func ReportRead(ctx context.Context, tier Tier, stale bool) {
	if ri, ok := ctx.Value(readInfoKey{}).(*ReadInfo); ok && ri != nil {
		ri.mu.Lock()
		ri.Tier = tier
		ri.Stale = ri.Stale || stale
		ri.mu.Unlock()
	}
}

// Get returns the tier and staleness reported so far; safe to call while
// reads are still reporting.
func (ri *ReadInfo) Get() (Tier, bool) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.Tier, ri.Stale
}

// Syncer is implemented by stores that keep a cache in step with the durable
// tier (package memory). Sync brings the cache up to date with the change
// feed, or rebuilds it when opts.Full is set.
type Syncer interface {
	Sync(ctx context.Context, opts SyncOptions) (*SyncReport, error)
}

// SyncOptions configure one sync run.
type SyncOptions struct {
	Full     bool // rebuild the cache from scratch instead of applying changes
	DryRun   bool // count what would change; change nothing
	Validate bool // check the cache against the durable store afterwards
	// Progress, when set, is called as work completes: done of total units
	// (total is -1 while unknown).
	Progress func(done, total int64) `json:"-"`
}

// SyncReport is what a sync did.
type SyncReport struct {
	Full            bool          `json:"full"`
	DryRun          bool          `json:"dry_run"`
	Duration        time.Duration `json:"duration_ns"`
	Episodes        int64         `json:"episodes"`
	Patterns        int64         `json:"patterns"`
	Heuristics      int64         `json:"heuristics"`
	Embeddings      int64         `json:"embeddings"`
	Deletions       int64         `json:"deletions"`
	Errors          []string      `json:"errors"`
	WatermarkBefore uint64        `json:"watermark_before"`
	WatermarkAfter  uint64        `json:"watermark_after"`
	// Validation is set when the sync was asked to validate.
	Validation *ValidationReport `json:"validation,omitempty"`
}

// ValidationReport is the result of checking a cache against the durable store.
type ValidationReport struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
	Checked  int64    `json:"checked"` // records compared
}

// StatusReporter is implemented by stores that can describe their tiers.
type StatusReporter interface {
	Status(ctx context.Context) (*Status, error)
}

// Status describes a store's tiers and how far its cache lags the durable tier.
type Status struct {
	Tiers []TierStatus `json:"tiers"`
	// LastSeq is the durable change feed's position; Watermark the cache's;
	// Lag their difference.
	LastSeq   uint64 `json:"last_seq"`
	Watermark uint64 `json:"watermark"`
	Lag       uint64 `json:"lag"`
	// Stale is set while the durable tier is unreachable or a sync has not
	// caught up since it came back.
	Stale         bool       `json:"stale"`
	LastSync      *time.Time `json:"last_sync,omitempty"`
	LastSyncError string     `json:"last_sync_error,omitempty"`
	// Indexes lists the loaded vector indexes (see Recaller).
	Indexes []IndexStatus `json:"indexes,omitempty"`
	// Vectors describes the vector indexes' tiers (hot, warm, cold).
	Vectors *VectorTiersStatus `json:"vectors,omitempty"`
}

// TierStatus describes one tier.
type TierStatus struct {
	Tier Tier `json:"tier"`
	// State is "ok", "unavailable", "disabled" (not configured), or
	// "degraded" (working without something it wants, such as a cache file
	// another process holds).
	State  string         `json:"state"`
	Detail string         `json:"detail,omitempty"`
	Stats  map[string]any `json:"stats,omitempty"`
}

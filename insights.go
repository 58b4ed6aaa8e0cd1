package engram

import (
	"context"
	"time"
)

// Insight buckets, limits and defaults.
const (
	BucketHour = "hour"
	BucketDay  = "day"  // the default
	BucketWeek = "week" // weeks start on Monday, 00:00 UTC

	// DefaultInsightsWindow is the window of a query that names no Since.
	DefaultInsightsWindow = 30 * 24 * time.Hour
	// MaxInsightsBuckets bounds the timeline: (Until-Since)/bucket.
	MaxInsightsBuckets = 2000
	// DefaultInsightsTop and MaxInsightsTop bound each ranked list
	// (by_tag, by_tool, errors, patterns, heuristics).
	DefaultInsightsTop = 20
	MaxInsightsTop     = 200
)

// InsightsQuery selects what Insights summarises: the episodes of one
// namespace whose start_time is in [Since, Until), bucketed by Bucket.
// Patterns and heuristics are not windowed (they are aggregates already).
type InsightsQuery struct {
	Since  time.Time // zero: Until - DefaultInsightsWindow
	Until  time.Time // zero: now
	Bucket string    // "": BucketDay; else BucketHour or BucketWeek
	Top    int       // 0: DefaultInsightsTop; at most MaxInsightsTop
}

// Insights is a summary of a namespace's episodes over a window. Rates are in
// [0, 1] over the completed episodes of the row (0 when none completed);
// mean rewards are over the episodes with a reward (nil when none had one).
// Percentiles are nearest-rank over the row's values.
type Insights struct {
	Namespace Namespace `json:"namespace"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Bucket    string    `json:"bucket"`

	Totals     InsightGroup       `json:"totals"`
	ByTaskType []InsightGroup     `json:"by_task_type"` // by TaskType, most episodes first
	ByDomain   []InsightGroup     `json:"by_domain"`    // by Context.Domain; top N
	ByTag      []InsightGroup     `json:"by_tag"`       // by each of AllTags(); top N
	Timeline   []InsightBucket    `json:"timeline"`     // every bucket of the window, oldest first, empty ones too
	ByTool     []ToolInsight      `json:"by_tool"`      // steps of the window's episodes, most used first; top N
	Errors     []ErrorInsight     `json:"errors"`       // most frequent first; top N
	Patterns   []PatternInsight   `json:"patterns"`     // by effectiveness, then success rate; top N
	Heuristics []HeuristicInsight `json:"heuristics"`   // by confidence; top N
}

// InsightGroup summarises the episodes sharing one key (a task type, a
// domain, a tag; empty for Totals).
type InsightGroup struct {
	Key           string   `json:"key,omitempty"`
	TaskType      TaskType `json:"task_type,omitempty"` // set in ByTaskType (same as Key)
	Episodes      int64    `json:"episodes"`            // started in the window
	Completed     int64    `json:"completed"`
	Success       int64    `json:"success"`
	Partial       int64    `json:"partial_success"`
	Failure       int64    `json:"failure"`
	Abstained     int64    `json:"abstained"`
	SuccessRate   float64  `json:"success_rate"`
	PartialRate   float64  `json:"partial_rate"`
	FailureRate   float64  `json:"failure_rate"`
	AbstainedRate float64  `json:"abstained_rate"`
	MeanReward    *float64 `json:"mean_reward"`
	// Duration (end_time - start_time) of the completed episodes, and steps
	// per episode; tokens summed over the steps.
	DurationMSP50 int64 `json:"duration_ms_p50"`
	DurationMSP95 int64 `json:"duration_ms_p95"`
	StepsP50      int64 `json:"steps_p50"`
	StepsP95      int64 `json:"steps_p95"`
	Tokens        int64 `json:"tokens"`
}

// InsightBucket is one slice of the timeline.
type InsightBucket struct {
	BucketStart time.Time `json:"bucket_start"`
	Episodes    int64     `json:"episodes"`
	Completed   int64     `json:"completed"`
	SuccessRate float64   `json:"success_rate"`
	MeanReward  *float64  `json:"mean_reward"`
}

// ToolInsight summarises the steps that used one tool. A step errs when its
// result is an error or a timeout.
type ToolInsight struct {
	Tool         string  `json:"tool"`
	Uses         int64   `json:"uses"`
	Errors       int64   `json:"errors"`
	ErrorRate    float64 `json:"error_rate"`
	LatencyMSP50 int64   `json:"latency_ms_p50"`
	LatencyMSP95 int64   `json:"latency_ms_p95"`
	Tokens       int64   `json:"tokens"` // sum of tokens_used
}

// ErrorInsight is one kind of failure: the message of failed steps (tool
// and message) or the reason of failed episodes, with how often it occurred
// and the error_recovery patterns whose error_type matches it.
type ErrorInsight struct {
	Source     string      `json:"source"` // "step" or "episode"
	Tool       string      `json:"tool,omitempty"`
	ErrorType  string      `json:"error_type"`
	Count      int64       `json:"count"`
	LastSeen   time.Time   `json:"last_seen"`
	Recoveries []PatternID `json:"recoveries,omitempty"`
}

// PatternInsight ranks one pattern.
type PatternInsight struct {
	PatternID   PatternID   `json:"pattern_id"`
	Kind        PatternKind `json:"kind"`
	Summary     string      `json:"summary"` // the tools, condition, error type or context features
	Domain      string      `json:"domain"`
	SuccessRate float64     `json:"success_rate"`
	// Effectiveness is success_when_applied / times_applied (0 when never
	// applied); AvgRewardDelta is the pattern's own figure.
	Effectiveness  float64 `json:"effectiveness"`
	TimesApplied   int64   `json:"times_applied"`
	AvgRewardDelta float64 `json:"avg_reward_delta"`
	Occurrences    int64   `json:"occurrence_count"`
}

// HeuristicInsight ranks one heuristic.
type HeuristicInsight struct {
	HeuristicID HeuristicID `json:"heuristic_id"`
	Condition   string      `json:"condition"`
	Action      string      `json:"action"`
	Domain      string      `json:"domain"`
	Confidence  float64     `json:"confidence"`
}

// Insighter is a store that can summarise a namespace (the durable store
// computes it in SQL; memory forwards to it). Bad queries are EINVALID
// naming the field: since >= until, an unknown bucket, more than
// MaxInsightsBuckets buckets, a Top out of range.
type Insighter interface {
	Insights(ctx context.Context, ns Namespace, q InsightsQuery) (*Insights, error)
}

package engram

import "time"

// PatternKind says what a pattern captures; each kind has its own fields.
type PatternKind string

const (
	PatternToolSequence   PatternKind = "tool_sequence"   // tools, avg_latency_ms
	PatternDecisionPoint  PatternKind = "decision_point"  // condition, action, outcome_stats
	PatternErrorRecovery  PatternKind = "error_recovery"  // error_type, recovery_steps
	PatternContextPattern PatternKind = "context_pattern" // context_features, recommended_approach, evidence
)

// PatternKinds lists every valid PatternKind.
var PatternKinds = []PatternKind{PatternToolSequence, PatternDecisionPoint, PatternErrorRecovery, PatternContextPattern}

// OutcomeStats counts the outcomes seen after a decision point.
type OutcomeStats struct {
	SuccessCount    int64   `json:"success_count"`
	FailureCount    int64   `json:"failure_count"`
	TotalCount      int64   `json:"total_count"`
	AvgDurationSecs float64 `json:"avg_duration_secs"`
}

// Effectiveness tracks how a pattern fares when it is retrieved and applied.
type Effectiveness struct {
	TimesRetrieved     int64      `json:"times_retrieved"`
	TimesApplied       int64      `json:"times_applied"`
	SuccessWhenApplied int64      `json:"success_when_applied"`
	FailureWhenApplied int64      `json:"failure_when_applied"`
	AvgRewardDelta     float64    `json:"avg_reward_delta"`
	LastUsed           *time.Time `json:"last_used,omitempty"`
}

// Pattern is something learned from episodes that recurs. The fields under
// each kind's heading are valid only for that kind; Validate rejects the rest.
type Pattern struct {
	ID   PatternID   `json:"pattern_id"` // zero: assigned on put
	Kind PatternKind `json:"kind"`

	// tool_sequence
	Tools        []string `json:"tools,omitempty"` // required, in order
	AvgLatencyMS float64  `json:"avg_latency_ms,omitempty"`

	// decision_point
	Condition    string        `json:"condition,omitempty"` // required
	Action       string        `json:"action,omitempty"`    // required
	OutcomeStats *OutcomeStats `json:"outcome_stats,omitempty"`

	// error_recovery
	ErrorType     string   `json:"error_type,omitempty"` // required
	RecoverySteps []string `json:"recovery_steps,omitempty"`

	// context_pattern
	ContextFeatures     []string    `json:"context_features,omitempty"`     // required
	RecommendedApproach string      `json:"recommended_approach,omitempty"` // required
	Evidence            []EpisodeID `json:"evidence,omitempty"`

	Domain          string        `json:"domain"` // "": DefaultDomain
	Language        string        `json:"language,omitempty"`
	Tags            []string      `json:"tags,omitempty"`
	SuccessRate     float64       `json:"success_rate"` // 0..1
	OccurrenceCount int64         `json:"occurrence_count"`
	Effectiveness   Effectiveness `json:"effectiveness"`
	CreatedAt       time.Time     `json:"created_at"` // set by the store
	UpdatedAt       time.Time     `json:"updated_at"` // set by the store
}

// Evidence backs a heuristic with the episodes it was drawn from.
type Evidence struct {
	EpisodeIDs  []EpisodeID `json:"episode_ids,omitempty"`
	SuccessRate float64     `json:"success_rate"` // 0..1
	SampleSize  int64       `json:"sample_size"`
}

// Heuristic is a rule of thumb: when Condition holds, do Action.
type Heuristic struct {
	ID         HeuristicID `json:"heuristic_id"` // zero: assigned on put
	Condition  string      `json:"condition"`
	Action     string      `json:"action"`
	Confidence float64     `json:"confidence"` // 0..1
	Evidence   Evidence    `json:"evidence"`
	Domain     string      `json:"domain"` // "": DefaultDomain
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

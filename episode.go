package engram

import (
	"encoding/json"
	"time"
)

// TaskType says what kind of work an episode records.
type TaskType string

const (
	TaskCodeGeneration TaskType = "code_generation"
	TaskDebugging      TaskType = "debugging"
	TaskRefactoring    TaskType = "refactoring"
	TaskTesting        TaskType = "testing"
	TaskAnalysis       TaskType = "analysis"
	TaskDocumentation  TaskType = "documentation"
	TaskOther          TaskType = "other"
)

// TaskTypes lists every valid TaskType.
var TaskTypes = []TaskType{TaskCodeGeneration, TaskDebugging, TaskRefactoring, TaskTesting, TaskAnalysis, TaskDocumentation, TaskOther}

// Complexity grades a task.
type Complexity string

const (
	ComplexitySimple   Complexity = "simple"
	ComplexityModerate Complexity = "moderate" // the default
	ComplexityComplex  Complexity = "complex"
)

// DefaultDomain is the domain of a task or pattern that names none.
const DefaultDomain = "general"

// TaskContext describes the circumstances of a task.
type TaskContext struct {
	Language   string     `json:"language,omitempty"`
	Framework  string     `json:"framework,omitempty"`
	Complexity Complexity `json:"complexity"` // "": ComplexityModerate
	Domain     string     `json:"domain"`     // "": DefaultDomain
	Tags       []string   `json:"tags,omitempty"`
}

// Location is a point on Earth in decimal degrees (WGS 84).
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Episode is one attempt by an agent at one task: what it was asked, the steps
// it took, and, once complete, the outcome, the reward and a reflection.
//
// An episode is complete when it has both EndTime and Outcome. Steps are only
// ever appended (Store.AppendStep); Store.UpdateEpisode leaves them alone.
type Episode struct {
	ID              EpisodeID         `json:"episode_id"` // zero: assigned on create
	TaskType        TaskType          `json:"task_type"`
	TaskDescription string            `json:"task_description"`
	Context         TaskContext       `json:"context"`
	StartTime       time.Time         `json:"start_time"` // zero: the time of creation
	EndTime         *time.Time        `json:"end_time,omitempty"`
	Steps           []Step            `json:"steps"`
	Outcome         *Outcome          `json:"outcome,omitempty"`
	Reward          *Reward           `json:"reward,omitempty"`
	Reflection      *Reflection       `json:"reflection,omitempty"`
	Patterns        []PatternID       `json:"patterns,omitempty"`
	Heuristics      []HeuristicID     `json:"heuristics,omitempty"`
	Tags            []string          `json:"tags,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Location        *Location         `json:"location,omitempty"`
	CreatedAt       time.Time         `json:"created_at"` // set by the store
	UpdatedAt       time.Time         `json:"updated_at"` // set by the store
}

// Complete reports whether the episode has an end time and an outcome.
func (e *Episode) Complete() bool { return e.EndTime != nil && e.Outcome != nil }

// AllTags returns the episode's tags and its context's tags, deduplicated, in
// first-seen order. Tag filters match against this set.
func (e *Episode) AllTags() []string {
	if len(e.Context.Tags) == 0 {
		return e.Tags
	}
	out := make([]string, 0, len(e.Tags)+len(e.Context.Tags))
	seen := make(map[string]bool, cap(out))
	for _, list := range [][]string{e.Tags, e.Context.Tags} {
		for _, t := range list {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// ResultType says how a step ended.
type ResultType string

const (
	ResultSuccess ResultType = "success"
	ResultError   ResultType = "error"
	ResultTimeout ResultType = "timeout"
)

// StepResult is how a step ended: success with an output, error with a
// message, or timeout (with an optional message).
type StepResult struct {
	Type    ResultType `json:"type"`
	Output  string     `json:"output,omitempty"`  // success only
	Message string     `json:"message,omitempty"` // error or timeout only
}

// Step is one action an agent took during an episode.
type Step struct {
	StepNumber int               `json:"step_number"` // 1-based, strictly increasing; 0: next on append
	Timestamp  time.Time         `json:"timestamp"`   // zero: the time of appending
	Tool       string            `json:"tool"`
	Action     string            `json:"action"`
	Parameters json.RawMessage   `json:"parameters,omitempty"` // a JSON object
	Result     *StepResult       `json:"result,omitempty"`
	LatencyMS  int64             `json:"latency_ms"`
	TokensUsed int64             `json:"tokens_used,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// OutcomeType says how an episode ended.
type OutcomeType string

const (
	OutcomeSuccess        OutcomeType = "success"         // verdict, artifacts
	OutcomePartialSuccess OutcomeType = "partial_success" // verdict, completed, failed
	OutcomeFailure        OutcomeType = "failure"         // reason, error_details
	OutcomeAbstained      OutcomeType = "abstained"       // reason, stopped_at_step
)

// Outcome is how an episode ended. Which fields may be set depends on Type
// (see the OutcomeType constants); Validate rejects fields of another type.
type Outcome struct {
	Type          OutcomeType `json:"type"`
	Verdict       string      `json:"verdict,omitempty"`
	Artifacts     []string    `json:"artifacts,omitempty"`
	Completed     []string    `json:"completed,omitempty"`
	Failed        []string    `json:"failed,omitempty"`
	Reason        string      `json:"reason,omitempty"`
	ErrorDetails  string      `json:"error_details,omitempty"`
	StoppedAtStep int         `json:"stopped_at_step,omitempty"`
}

// Reward scores an episode. All values must be finite.
type Reward struct {
	Total             float64 `json:"total"`
	Base              float64 `json:"base"`
	Efficiency        float64 `json:"efficiency"`
	ComplexityBonus   float64 `json:"complexity_bonus"`
	QualityMultiplier float64 `json:"quality_multiplier"`
	LearningBonus     float64 `json:"learning_bonus"`
}

// Reflection is what an agent concluded about an episode.
type Reflection struct {
	Successes    []string  `json:"successes,omitempty"`
	Improvements []string  `json:"improvements,omitempty"`
	Insights     []string  `json:"insights,omitempty"`
	GeneratedAt  time.Time `json:"generated_at"` // zero: the time of completion
}

// Completion is what completing an episode records.
type Completion struct {
	Outcome    Outcome     `json:"outcome"`
	Reward     *Reward     `json:"reward,omitempty"`
	Reflection *Reflection `json:"reflection,omitempty"`
	EndTime    *time.Time  `json:"end_time,omitempty"` // nil: the time of completion
}

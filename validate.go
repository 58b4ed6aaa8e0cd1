package engram

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds Normalize and Validate for every record kind.
//
// Normalize fills defaults (ids, times, domain, complexity) and canonicalises
// (tags to lower case, times to UTC, JSON parameters compacted); it never
// fails and never discards information. Validate checks every field against
// the documented limits and returns the first violation as an *Error whose
// Field is the JSON path of the offending field. Stores call both, in that
// order, before writing anything.

// check accumulates the first violation.
type check struct{ err *Error }

func (c *check) fail(e *Error) {
	if c.err == nil {
		c.err = e
	}
}

func (c *check) failf(field, format string, args ...any) { c.fail(Invalid(field, format, args...)) }

func (c *check) result() error {
	if c.err == nil {
		return nil
	}
	return c.err
}

// text checks s is valid UTF-8 of at most max bytes, and non-blank when required.
func (c *check) text(field, s string, max int, required bool) {
	switch {
	case c.err != nil:
	case required && strings.TrimSpace(s) == "":
		c.failf(field, "is required")
	case len(s) > max:
		c.fail(TooLarge(field, len(s), max))
	case !utf8.ValidString(s):
		c.failf(field, "is not valid UTF-8")
	}
}

func (c *check) texts(field string, list []string, max int) {
	if len(list) > MaxListItems {
		c.fail(TooMany(field, len(list), "entries", MaxListItems))
	}
	for i, s := range list {
		c.text(fmt.Sprintf("%s[%d]", field, i), s, max, false)
	}
}

func (c *check) finite(field string, v float64) {
	if c.err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		c.failf(field, "must be a finite number, not %v", v)
	}
}

func (c *check) unit(field string, v float64) {
	c.finite(field, v)
	if c.err == nil && (v < 0 || v > 1) {
		c.failf(field, "is %v; must be between 0 and 1", v)
	}
}

func (c *check) nonNegative(field string, v int64) {
	if c.err == nil && v < 0 {
		c.failf(field, "is %d; must not be negative", v)
	}
}

func (c *check) tags(field string, tags []string) {
	if c.err == nil && len(tags) > MaxTags {
		c.fail(TooMany(field, len(tags), "tags", MaxTags))
	}
	for i, t := range tags {
		if c.err != nil {
			return
		}
		if err := ValidateTag(t); err != nil {
			c.failf(fmt.Sprintf("%s[%d]", field, i), "%s", err.(*Error).Message)
		}
	}
}

func (c *check) metadata(field string, m map[string]string) {
	if c.err == nil && len(m) > MaxMetadataEntries {
		c.fail(TooMany(field, len(m), "keys", MaxMetadataEntries))
	}
	for k, v := range m {
		if c.err != nil {
			return
		}
		if k == "" {
			c.failf(field, "has an empty key")
		}
		c.text(field+" key", k, MaxNameBytes, false)
		c.text(fmt.Sprintf("%s[%q]", field, truncate(k, 32)), v, MaxTextBytes, false)
	}
}

func (c *check) time(field string, t time.Time) {
	if c.err == nil {
		c.fail(CheckTime(field, t))
	}
}

// Times are stored as nanoseconds since 1970 in a signed 64-bit integer, so
// they must lie between MinTime and MaxTime.
var (
	MinTime = time.Unix(0, math.MinInt64).UTC() // 1677-09-21T00:12:43.145224192Z
	MaxTime = time.Unix(0, math.MaxInt64).UTC() // 2262-04-11T23:47:16.854775807Z
)

// CheckTime returns an EINVALID error naming field when t is outside
// MinTime..MaxTime, and nil otherwise.
func CheckTime(field string, t time.Time) *Error {
	if t.Before(MinTime) || t.After(MaxTime) {
		return Invalid(field, "%s is outside the times engram stores, %s to %s",
			t.UTC().Format(time.RFC3339), MinTime.Format(time.RFC3339), MaxTime.Format(time.RFC3339))
	}
	return nil
}

func (c *check) enum(field, v string, valid []string) {
	if c.err != nil {
		return
	}
	for _, ok := range valid {
		if v == ok {
			return
		}
	}
	if v == "" {
		c.failf(field, "is required; one of %s", strings.Join(valid, ", "))
		return
	}
	c.failf(field, "%q is not one of %s", truncate(v, 64), strings.Join(valid, ", "))
}

func (c *check) absent(field string, set bool, kind string) {
	if c.err == nil && set {
		c.failf(field, "is not a field of %s", kind)
	}
}

func strs[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}

// NormalizeTag lower-cases and trims a tag.
func NormalizeTag(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// ValidateTag checks a normalised tag: 2-100 characters of [a-z0-9_-].
func ValidateTag(t string) error {
	if len(t) < MinTagLen || len(t) > MaxTagLen {
		return Invalid("tag", "%q is %d characters; tags are %d-%d characters of [a-z0-9_-]", truncate(t, 120), len(t), MinTagLen, MaxTagLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return Invalid("tag", "%q has character %q; tags are %d-%d characters of [a-z0-9_-]", truncate(t, 120), c, MinTagLen, MaxTagLen)
		}
	}
	return nil
}

func normalizeTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		t = NormalizeTag(t)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func utc(t time.Time) time.Time { return t.UTC().Round(0) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// Normalize fills an episode's defaults as of now (id, start time,
// complexity, domain, step numbers and timestamps) and canonicalises it (tags
// lower case and deduplicated, times in UTC, parameters compacted).
func (e *Episode) Normalize(now time.Time) {
	if e.ID.IsZero() {
		e.ID = EpisodeID{newUUIDAt(now)}
	}
	if e.TaskType == "" {
		e.TaskType = TaskOther
	}
	if e.Context.Complexity == "" {
		e.Context.Complexity = ComplexityModerate
	}
	if e.Context.Domain == "" {
		e.Context.Domain = DefaultDomain
	}
	if e.StartTime.IsZero() {
		e.StartTime = now
	}
	e.StartTime = utc(e.StartTime)
	e.EndTime = utcPtr(e.EndTime)
	e.CreatedAt, e.UpdatedAt = utc(e.CreatedAt), utc(e.UpdatedAt)
	e.Tags = normalizeTags(e.Tags)
	e.Context.Tags = normalizeTags(e.Context.Tags)
	if e.Reflection != nil {
		e.Reflection.normalize(now)
	}
	prev := 0
	for i := range e.Steps {
		s := &e.Steps[i]
		if s.StepNumber == 0 {
			s.StepNumber = prev + 1
		}
		prev = s.StepNumber
		s.Normalize(now)
	}
	if e.Steps == nil {
		e.Steps = []Step{}
	}
}

// Validate checks the episode and its steps against the documented limits.
// The total size limit (MaxEpisodeBytes) is checked by stores, which encode
// the episode anyway.
func (e *Episode) Validate() error {
	var c check
	if e.ID.IsZero() {
		c.failf("episode_id", "is required")
	}
	c.enum("task_type", string(e.TaskType), strs(TaskTypes))
	c.text("task_description", e.TaskDescription, MaxTaskDescriptionBytes, true)
	c.text("context.language", e.Context.Language, MaxNameBytes, false)
	c.text("context.framework", e.Context.Framework, MaxNameBytes, false)
	c.enum("context.complexity", string(e.Context.Complexity), []string{string(ComplexitySimple), string(ComplexityModerate), string(ComplexityComplex)})
	c.text("context.domain", e.Context.Domain, MaxNameBytes, true)
	c.tags("context.tags", e.Context.Tags)
	c.time("start_time", e.StartTime)
	if e.EndTime != nil {
		c.time("end_time", *e.EndTime)
		if c.err == nil && e.EndTime.Before(e.StartTime) {
			c.failf("end_time", "%s is before start_time %s", e.EndTime.Format(time.RFC3339Nano), e.StartTime.Format(time.RFC3339Nano))
		}
	}
	if len(e.Steps) > MaxSteps {
		c.fail(TooMany("steps", len(e.Steps), "steps", MaxSteps))
	}
	prev := 0
	for i := range e.Steps {
		if c.err != nil {
			break
		}
		s := &e.Steps[i]
		field := fmt.Sprintf("steps[%d]", i)
		if s.StepNumber <= prev {
			c.failf(field+".step_number", "is %d; step numbers start at 1 and must strictly increase (previous %d)", s.StepNumber, prev)
		}
		prev = s.StepNumber
		c.fail(s.validate(field))
	}
	if e.Outcome != nil {
		c.fail(e.Outcome.validate("outcome"))
	}
	if e.Reward != nil {
		c.fail(e.Reward.validate("reward"))
	}
	if e.Reflection != nil {
		c.fail(e.Reflection.validate("reflection"))
	}
	if len(e.Patterns) > MaxListItems {
		c.fail(TooMany("patterns", len(e.Patterns), "entries", MaxListItems))
	}
	if len(e.Heuristics) > MaxListItems {
		c.fail(TooMany("heuristics", len(e.Heuristics), "entries", MaxListItems))
	}
	c.tags("tags", e.Tags)
	c.metadata("metadata", e.Metadata)
	if e.Location != nil {
		c.fail(e.Location.validate("location"))
	}
	return c.result()
}

func (l *Location) validate(field string) *Error {
	var c check
	c.finite(field+".lat", l.Lat)
	c.finite(field+".lon", l.Lon)
	if c.err == nil && (l.Lat < -90 || l.Lat > 90) {
		c.failf(field+".lat", "is %v; must be between -90 and 90", l.Lat)
	}
	if c.err == nil && (l.Lon < -180 || l.Lon > 180) {
		c.failf(field+".lon", "is %v; must be between -180 and 180", l.Lon)
	}
	return c.err
}

// Normalize fills a step's timestamp (now when zero), puts times in UTC and
// compacts its parameters.
func (s *Step) Normalize(now time.Time) {
	if s.Timestamp.IsZero() {
		s.Timestamp = now
	}
	s.Timestamp = utc(s.Timestamp)
	if len(s.Parameters) > 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, s.Parameters) == nil {
			s.Parameters = buf.Bytes()
		}
	}
}

// Validate checks a single step, as Store.AppendStep receives it.
func (s *Step) Validate() error {
	if e := s.validate("step"); e != nil {
		return e
	}
	return nil
}

func (s *Step) validate(field string) *Error {
	var c check
	if s.StepNumber < 1 {
		c.failf(field+".step_number", "is %d; step numbers start at 1", s.StepNumber)
	}
	c.time(field+".timestamp", s.Timestamp)
	c.text(field+".tool", s.Tool, MaxTextBytes, true)
	c.text(field+".action", s.Action, MaxTextBytes, true)
	if c.err == nil && len(s.Parameters) > 0 {
		switch {
		case len(s.Parameters) > MaxStepPayloadBytes:
			c.fail(TooLarge(field+".parameters", len(s.Parameters), MaxStepPayloadBytes))
		case !json.Valid(s.Parameters):
			c.failf(field+".parameters", "is not valid JSON")
		case firstNonSpace(s.Parameters) != '{':
			c.failf(field+".parameters", "must be a JSON object")
		}
	}
	if r := s.Result; r != nil && c.err == nil {
		c.enum(field+".result.type", string(r.Type), []string{string(ResultSuccess), string(ResultError), string(ResultTimeout)})
		c.text(field+".result.output", r.Output, MaxStepPayloadBytes, false)
		c.text(field+".result.message", r.Message, MaxStepPayloadBytes, false)
		switch r.Type {
		case ResultSuccess:
			c.absent(field+".result.message", r.Message != "", "a success result")
		case ResultError:
			c.absent(field+".result.output", r.Output != "", "an error result")
		case ResultTimeout:
			c.absent(field+".result.output", r.Output != "", "a timeout result")
		}
	}
	c.nonNegative(field+".latency_ms", s.LatencyMS)
	c.nonNegative(field+".tokens_used", s.TokensUsed)
	c.metadata(field+".metadata", s.Metadata)
	return c.err
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

func (o *Outcome) validate(field string) *Error {
	var c check
	c.enum(field+".type", string(o.Type), []string{string(OutcomeSuccess), string(OutcomePartialSuccess), string(OutcomeFailure), string(OutcomeAbstained)})
	if c.err != nil {
		return c.err
	}
	kind := fmt.Sprintf("a %s outcome", o.Type)
	hasVerdict := o.Type == OutcomeSuccess || o.Type == OutcomePartialSuccess
	c.absent(field+".verdict", !hasVerdict && o.Verdict != "", kind)
	c.absent(field+".artifacts", o.Type != OutcomeSuccess && len(o.Artifacts) > 0, kind)
	c.absent(field+".completed", o.Type != OutcomePartialSuccess && len(o.Completed) > 0, kind)
	c.absent(field+".failed", o.Type != OutcomePartialSuccess && len(o.Failed) > 0, kind)
	c.absent(field+".reason", hasVerdict && o.Reason != "", kind)
	c.absent(field+".error_details", o.Type != OutcomeFailure && o.ErrorDetails != "", kind)
	c.absent(field+".stopped_at_step", o.Type != OutcomeAbstained && o.StoppedAtStep != 0, kind)
	if hasVerdict {
		c.text(field+".verdict", o.Verdict, MaxTextBytes, true)
	} else {
		c.text(field+".reason", o.Reason, MaxTextBytes, true)
	}
	c.texts(field+".artifacts", o.Artifacts, MaxTextBytes)
	c.texts(field+".completed", o.Completed, MaxTextBytes)
	c.texts(field+".failed", o.Failed, MaxTextBytes)
	c.text(field+".error_details", o.ErrorDetails, MaxStepPayloadBytes, false)
	c.nonNegative(field+".stopped_at_step", int64(o.StoppedAtStep))
	return c.err
}

func (r *Reward) validate(field string) *Error {
	var c check
	c.finite(field+".total", r.Total)
	c.finite(field+".base", r.Base)
	c.finite(field+".efficiency", r.Efficiency)
	c.finite(field+".complexity_bonus", r.ComplexityBonus)
	c.finite(field+".quality_multiplier", r.QualityMultiplier)
	c.finite(field+".learning_bonus", r.LearningBonus)
	return c.err
}

func (r *Reflection) normalize(now time.Time) {
	if r.GeneratedAt.IsZero() {
		r.GeneratedAt = now
	}
	r.GeneratedAt = utc(r.GeneratedAt)
}

func (r *Reflection) validate(field string) *Error {
	var c check
	c.texts(field+".successes", r.Successes, MaxTextBytes)
	c.texts(field+".improvements", r.Improvements, MaxTextBytes)
	c.texts(field+".insights", r.Insights, MaxTextBytes)
	c.time(field+".generated_at", r.GeneratedAt)
	return c.err
}

// Normalize fills a completion's defaults as of now: end time and reflection time.
func (cp *Completion) Normalize(now time.Time) {
	if cp.EndTime == nil {
		cp.EndTime = &now
	}
	cp.EndTime = utcPtr(cp.EndTime)
	if cp.Reflection != nil {
		cp.Reflection.normalize(now)
	}
}

// Validate checks a completion on its own; stores also check that EndTime is
// not before the episode's start time.
func (cp *Completion) Validate() error {
	var c check
	c.fail(cp.Outcome.validate("outcome"))
	if cp.Reward != nil {
		c.fail(cp.Reward.validate("reward"))
	}
	if cp.Reflection != nil {
		c.fail(cp.Reflection.validate("reflection"))
	}
	if cp.EndTime != nil {
		c.time("end_time", *cp.EndTime)
	}
	return c.result()
}

// Normalize fills a pattern's defaults as of now (id, domain) and
// canonicalises it (tags, times).
func (p *Pattern) Normalize(now time.Time) {
	if p.ID.IsZero() {
		p.ID = PatternID{newUUIDAt(now)}
	}
	if p.Domain == "" {
		p.Domain = DefaultDomain
	}
	p.Tags = normalizeTags(p.Tags)
	p.Effectiveness.LastUsed = utcPtr(p.Effectiveness.LastUsed)
	p.CreatedAt, p.UpdatedAt = utc(p.CreatedAt), utc(p.UpdatedAt)
}

// Validate checks the pattern, including that only its kind's fields are set.
func (p *Pattern) Validate() error {
	var c check
	if p.ID.IsZero() {
		c.failf("pattern_id", "is required")
	}
	c.enum("kind", string(p.Kind), strs(PatternKinds))
	if c.err != nil {
		return c.err
	}
	kind := fmt.Sprintf("a %s pattern", p.Kind)
	c.absent("tools", p.Kind != PatternToolSequence && len(p.Tools) > 0, kind)
	c.absent("avg_latency_ms", p.Kind != PatternToolSequence && p.AvgLatencyMS != 0, kind)
	c.absent("condition", p.Kind != PatternDecisionPoint && p.Condition != "", kind)
	c.absent("action", p.Kind != PatternDecisionPoint && p.Action != "", kind)
	c.absent("outcome_stats", p.Kind != PatternDecisionPoint && p.OutcomeStats != nil, kind)
	c.absent("error_type", p.Kind != PatternErrorRecovery && p.ErrorType != "", kind)
	c.absent("recovery_steps", p.Kind != PatternErrorRecovery && len(p.RecoverySteps) > 0, kind)
	c.absent("context_features", p.Kind != PatternContextPattern && len(p.ContextFeatures) > 0, kind)
	c.absent("recommended_approach", p.Kind != PatternContextPattern && p.RecommendedApproach != "", kind)
	c.absent("evidence", p.Kind != PatternContextPattern && len(p.Evidence) > 0, kind)
	switch p.Kind {
	case PatternToolSequence:
		if c.err == nil && len(p.Tools) == 0 {
			c.failf("tools", "is required for a tool_sequence pattern")
		}
		c.texts("tools", p.Tools, MaxTextBytes)
		c.finite("avg_latency_ms", p.AvgLatencyMS)
		if c.err == nil && p.AvgLatencyMS < 0 {
			c.failf("avg_latency_ms", "is %v; must not be negative", p.AvgLatencyMS)
		}
	case PatternDecisionPoint:
		c.text("condition", p.Condition, MaxTextBytes, true)
		c.text("action", p.Action, MaxTextBytes, true)
		if s := p.OutcomeStats; s != nil {
			c.nonNegative("outcome_stats.success_count", s.SuccessCount)
			c.nonNegative("outcome_stats.failure_count", s.FailureCount)
			c.nonNegative("outcome_stats.total_count", s.TotalCount)
			c.finite("outcome_stats.avg_duration_secs", s.AvgDurationSecs)
		}
	case PatternErrorRecovery:
		c.text("error_type", p.ErrorType, MaxTextBytes, true)
		c.texts("recovery_steps", p.RecoverySteps, MaxTextBytes)
	case PatternContextPattern:
		if c.err == nil && len(p.ContextFeatures) == 0 {
			c.failf("context_features", "is required for a context_pattern pattern")
		}
		c.texts("context_features", p.ContextFeatures, MaxTextBytes)
		c.text("recommended_approach", p.RecommendedApproach, MaxTextBytes, true)
		if c.err == nil && len(p.Evidence) > MaxListItems {
			c.fail(TooMany("evidence", len(p.Evidence), "entries", MaxListItems))
		}
	}
	c.text("domain", p.Domain, MaxNameBytes, true)
	c.text("language", p.Language, MaxNameBytes, false)
	c.tags("tags", p.Tags)
	c.unit("success_rate", p.SuccessRate)
	c.nonNegative("occurrence_count", p.OccurrenceCount)
	ef := &p.Effectiveness
	c.nonNegative("effectiveness.times_retrieved", ef.TimesRetrieved)
	c.nonNegative("effectiveness.times_applied", ef.TimesApplied)
	c.nonNegative("effectiveness.success_when_applied", ef.SuccessWhenApplied)
	c.nonNegative("effectiveness.failure_when_applied", ef.FailureWhenApplied)
	c.finite("effectiveness.avg_reward_delta", ef.AvgRewardDelta)
	if ef.LastUsed != nil {
		c.time("effectiveness.last_used", *ef.LastUsed)
	}
	return c.result()
}

// Normalize fills a heuristic's defaults as of now (id, domain).
func (h *Heuristic) Normalize(now time.Time) {
	if h.ID.IsZero() {
		h.ID = HeuristicID{newUUIDAt(now)}
	}
	if h.Domain == "" {
		h.Domain = DefaultDomain
	}
	h.CreatedAt, h.UpdatedAt = utc(h.CreatedAt), utc(h.UpdatedAt)
}

// Validate checks the heuristic.
func (h *Heuristic) Validate() error {
	var c check
	if h.ID.IsZero() {
		c.failf("heuristic_id", "is required")
	}
	c.text("condition", h.Condition, MaxTextBytes, true)
	c.text("action", h.Action, MaxTextBytes, true)
	c.unit("confidence", h.Confidence)
	if len(h.Evidence.EpisodeIDs) > MaxListItems {
		c.fail(TooMany("evidence.episode_ids", len(h.Evidence.EpisodeIDs), "entries", MaxListItems))
	}
	c.unit("evidence.success_rate", h.Evidence.SuccessRate)
	c.nonNegative("evidence.sample_size", h.Evidence.SampleSize)
	c.text("domain", h.Domain, MaxNameBytes, true)
	return c.result()
}

// Normalize fills an embedding's default model.
func (e *Embedding) Normalize(now time.Time) {
	if e.Model == "" {
		e.Model = DefaultModel
	}
	e.CreatedAt = utc(e.CreatedAt)
}

// Validate checks the embedding: a known item, a dimension of 1-4096, and
// only finite components.
func (e *Embedding) Validate() error {
	var c check
	c.fail(validateItemType(e.ItemType))
	if c.err == nil && e.ItemID.IsZero() {
		c.failf("item_id", "is required")
	}
	c.text("model", e.Model, MaxNameBytes, true)
	switch {
	case c.err != nil:
	case len(e.Vector) < 1:
		c.failf("vector", "is empty; the dimension must be 1-%d", MaxVectorDim)
	case len(e.Vector) > MaxVectorDim:
		c.fail(TooMany("vector", len(e.Vector), "dimensions", MaxVectorDim))
	}
	for i, v := range e.Vector {
		if c.err != nil {
			break
		}
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			c.failf(fmt.Sprintf("vector[%d]", i), "is %v; components must be finite", v)
		}
	}
	c.metadata("metadata", e.Metadata)
	return c.result()
}

func validateItemType(t ItemType) *Error {
	if len(t) < 1 || len(t) > 32 {
		return Invalid("item_type", "%q must be 1-32 characters of [a-z0-9_] (episode, pattern, heuristic, ...)", truncate(string(t), 40))
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return Invalid("item_type", "%q must be 1-32 characters of [a-z0-9_] (episode, pattern, heuristic, ...)", truncate(string(t), 40))
		}
	}
	return nil
}

// Normalize fills a relationship's default weight (1).
func (r *Relationship) Normalize(now time.Time) {
	if r.Weight == 0 {
		r.Weight = 1
	}
	r.CreatedAt = utc(r.CreatedAt)
}

// Validate checks the relationship: two different episodes, a known type, a
// weight in (0, 1].
func (r *Relationship) Validate() error {
	var c check
	if r.From.IsZero() {
		c.failf("from", "is required")
	}
	if c.err == nil && r.To.IsZero() {
		c.failf("to", "is required")
	}
	if c.err == nil && r.From == r.To {
		c.failf("to", "is the same episode as from; an episode cannot relate to itself")
	}
	c.enum("type", string(r.Type), strs(RelationshipTypes))
	c.finite("weight", r.Weight)
	if c.err == nil && (r.Weight <= 0 || r.Weight > 1) {
		c.failf("weight", "is %v; must be in (0, 1]", r.Weight)
	}
	return c.result()
}

package boltcache

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/engramhq/engram"
)

// The payload codec: a compact binary encoding of the four cached record
// kinds, field by field in declaration order. It replaced CBOR after
// measuring: decoding a 2 KB episode took 10-20 µs with fxamacker/cbor and
// takes 2-3 µs here, most of it allocating the maps and slices the domain
// types need, because every string and raw JSON value of a record shares
// one copy of the payload instead of one allocation each.
//
// Primitives: integers are varints; float64 and float32 are little-endian
// IEEE 754 bits (exact); strings are a uvarint length and the bytes; slices
// and maps are uvarint(n+1) with 0 meaning nil, so nil and empty survive a
// round trip; pointers are a presence byte; times are 0 for the zero time or
// 1, varint Unix seconds, uvarint nanoseconds (decoded in UTC).
//
// A change to the encoding of any field changes recordVersion.

var errShort = errors.New("payload truncated or malformed")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) f64(v float64)    { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }
func (e *encoder) uuid(u engram.UUID) {
	e.b = append(e.b, u[:]...)
}

func (e *encoder) flag(set bool) bool {
	if set {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
	return set
}

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// count writes the length of a slice or map that may be nil.
func (e *encoder) count(n int, isNil bool) bool {
	if isNil {
		e.uvarint(0)
		return false
	}
	e.uvarint(uint64(n) + 1)
	return true
}

func (e *encoder) strs(list []string) {
	if e.count(len(list), list == nil) {
		for _, s := range list {
			e.str(s)
		}
	}
}

func (e *encoder) bytes(b []byte) {
	if e.count(len(b), b == nil) {
		e.b = append(e.b, b...)
	}
}

// strMap writes the entries in key order, so a record always encodes to the
// same bytes.
func (e *encoder) strMap(m map[string]string) {
	if !e.count(len(m), m == nil) {
		return
	}
	var buf [16]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) time(t time.Time) {
	if !e.flag(!t.IsZero()) {
		return
	}
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

func (e *encoder) timePtr(t *time.Time) {
	if e.flag(t != nil) {
		e.time(*t)
	}
}

func uuids[T ~struct{ engram.UUID }](e *encoder, ids []T) {
	if e.count(len(ids), ids == nil) {
		for _, id := range ids {
			e.uuid(struct{ engram.UUID }(id).UUID)
		}
	}
}

// decoder reads a payload from a buffer it owns and never writes, so that
// decoded strings (unsafe.String views) and json.RawMessage values
// (capacity-limited subslices) share its memory instead of each being
// copied. The regions are disjoint: a caller changing a RawMessage's bytes
// changes no string. After the first error every read returns a zero value
// and err stays set; callers check err once at the end.
type decoder struct {
	s     []byte
	i     int
	err   error
	arena []string // backing for the record's string lists; see strSlice
}

// strSlice returns a slice of n strings carved from the decoder's arena, so
// a record's string lists share a few allocations. Its capacity is n: a
// caller's append copies instead of overwriting the next list.
func (d *decoder) strSlice(n int) []string {
	if n > cap(d.arena)-len(d.arena) {
		d.arena = make([]string, 0, max(n, 32))
	}
	l := len(d.arena)
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.i = len(d.s)
}

func (d *decoder) uvarint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.i >= len(d.s) {
			d.fail()
			return 0
		}
		c := d.s[d.i]
		d.i++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				d.fail()
				return 0
			}
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
	}
	d.fail()
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *decoder) int() int {
	v := d.varint()
	if int64(int(v)) != v {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) take(n int) []byte {
	if n < 0 || n > len(d.s)-d.i {
		d.fail()
		return nil
	}
	b := d.s[d.i : d.i+n : d.i+n]
	d.i += n
	return b
}

func (d *decoder) takeString(n int) string {
	b := d.take(n)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (d *decoder) f64() float64 {
	s := d.take(8)
	if len(s) < 8 {
		return 0
	}
	return math.Float64frombits(le64(s))
}

func (d *decoder) uuid() engram.UUID {
	var u engram.UUID
	copy(u[:], d.take(16))
	return u
}

func (d *decoder) flag() bool {
	s := d.take(1)
	if len(s) == 0 {
		return false
	}
	switch s[0] {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i) {
		d.fail()
		return ""
	}
	return d.takeString(int(n))
}

// count reads a slice or map length written by encoder.count: -1 for nil.
// minSize is the fewest bytes one element takes, which bounds the length by
// what is left of the payload, so a corrupt length never allocates much.
func (d *decoder) count(minSize int) int {
	c := d.uvarint()
	if c == 0 {
		return -1
	}
	n := c - 1
	if n > uint64(len(d.s)-d.i)/uint64(minSize) {
		d.fail()
		return -1
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count(1)
	if n < 0 {
		return nil
	}
	out := d.strSlice(n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) bytes() []byte {
	n := d.count(1)
	if n < 0 {
		return nil
	}
	if b := d.take(n); b != nil {
		return b
	}
	return []byte{}
}

func (d *decoder) strMap() map[string]string {
	n := d.count(2)
	if n < 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *decoder) time() time.Time {
	if !d.flag() {
		return time.Time{}
	}
	sec := d.varint()
	ns := d.uvarint()
	if ns >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func (d *decoder) timePtr() *time.Time {
	if !d.flag() {
		return nil
	}
	t := d.time()
	return &t
}

func decodeUUIDs[T ~struct{ engram.UUID }](d *decoder) []T {
	n := d.count(16)
	if n < 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = T(struct{ engram.UUID }{d.uuid()})
	}
	return out
}

// Episode

func encodeEpisode(e *encoder, ep *engram.Episode) {
	e.uuid(ep.ID.UUID)
	e.str(string(ep.TaskType))
	e.str(ep.TaskDescription)
	e.str(ep.Context.Language)
	e.str(ep.Context.Framework)
	e.str(string(ep.Context.Complexity))
	e.str(ep.Context.Domain)
	e.strs(ep.Context.Tags)
	e.time(ep.StartTime)
	e.timePtr(ep.EndTime)
	if e.count(len(ep.Steps), ep.Steps == nil) {
		for i := range ep.Steps {
			encodeStep(e, &ep.Steps[i])
		}
	}
	if o := ep.Outcome; e.flag(o != nil) {
		e.str(string(o.Type))
		e.str(o.Verdict)
		e.strs(o.Artifacts)
		e.strs(o.Completed)
		e.strs(o.Failed)
		e.str(o.Reason)
		e.str(o.ErrorDetails)
		e.varint(int64(o.StoppedAtStep))
	}
	if r := ep.Reward; e.flag(r != nil) {
		e.f64(r.Total)
		e.f64(r.Base)
		e.f64(r.Efficiency)
		e.f64(r.ComplexityBonus)
		e.f64(r.QualityMultiplier)
		e.f64(r.LearningBonus)
	}
	if r := ep.Reflection; e.flag(r != nil) {
		e.strs(r.Successes)
		e.strs(r.Improvements)
		e.strs(r.Insights)
		e.time(r.GeneratedAt)
	}
	uuids(e, ep.Patterns)
	uuids(e, ep.Heuristics)
	e.strs(ep.Tags)
	e.strMap(ep.Metadata)
	if l := ep.Location; e.flag(l != nil) {
		e.f64(l.Lat)
		e.f64(l.Lon)
	}
	e.time(ep.CreatedAt)
	e.time(ep.UpdatedAt)
}

func encodeStep(e *encoder, s *engram.Step) {
	e.varint(int64(s.StepNumber))
	e.time(s.Timestamp)
	e.str(s.Tool)
	e.str(s.Action)
	e.bytes(s.Parameters)
	if r := s.Result; e.flag(r != nil) {
		e.str(string(r.Type))
		e.str(r.Output)
		e.str(r.Message)
	}
	e.varint(s.LatencyMS)
	e.varint(s.TokensUsed)
	e.strMap(s.Metadata)
}

// episodeBlock holds an episode and its optional parts in one allocation.
type episodeBlock struct {
	ep   engram.Episode
	end  time.Time
	out  engram.Outcome
	rew  engram.Reward
	refl engram.Reflection
	loc  engram.Location
}

func decodeEpisode(d *decoder) *engram.Episode {
	blk := &episodeBlock{}
	ep := &blk.ep
	ep.ID.UUID = d.uuid()
	ep.TaskType = engram.TaskType(d.str())
	ep.TaskDescription = d.str()
	ep.Context.Language = d.str()
	ep.Context.Framework = d.str()
	ep.Context.Complexity = engram.Complexity(d.str())
	ep.Context.Domain = d.str()
	ep.Context.Tags = d.strs()
	ep.StartTime = d.time()
	if d.flag() {
		blk.end = d.time()
		ep.EndTime = &blk.end
	}
	if n := d.count(8); n >= 0 {
		ep.Steps = make([]engram.Step, n)
		var results []engram.StepResult // one allocation for every step's result
		for i := range ep.Steps {
			decodeStep(d, &ep.Steps[i], &results, n)
		}
	}
	if d.flag() {
		o := &blk.out
		o.Type = engram.OutcomeType(d.str())
		o.Verdict = d.str()
		o.Artifacts = d.strs()
		o.Completed = d.strs()
		o.Failed = d.strs()
		o.Reason = d.str()
		o.ErrorDetails = d.str()
		o.StoppedAtStep = d.int()
		ep.Outcome = o
	}
	if d.flag() {
		blk.rew = engram.Reward{Total: d.f64(), Base: d.f64(), Efficiency: d.f64(),
			ComplexityBonus: d.f64(), QualityMultiplier: d.f64(), LearningBonus: d.f64()}
		ep.Reward = &blk.rew
	}
	if d.flag() {
		r := &blk.refl
		r.Successes = d.strs()
		r.Improvements = d.strs()
		r.Insights = d.strs()
		r.GeneratedAt = d.time()
		ep.Reflection = r
	}
	ep.Patterns = decodeUUIDs[engram.PatternID](d)
	ep.Heuristics = decodeUUIDs[engram.HeuristicID](d)
	ep.Tags = d.strs()
	ep.Metadata = d.strMap()
	if d.flag() {
		blk.loc = engram.Location{Lat: d.f64(), Lon: d.f64()}
		ep.Location = &blk.loc
	}
	ep.CreatedAt = d.time()
	ep.UpdatedAt = d.time()
	return ep
}

// decodeStep decodes one of n steps; results is the shared backing of their
// results, allocated at the first step that has one.
func decodeStep(d *decoder, s *engram.Step, results *[]engram.StepResult, n int) {
	s.StepNumber = d.int()
	s.Timestamp = d.time()
	s.Tool = d.str()
	s.Action = d.str()
	if p := d.bytes(); p != nil {
		s.Parameters = json.RawMessage(p)
	}
	if d.flag() {
		if *results == nil {
			*results = make([]engram.StepResult, 0, n)
		}
		*results = append(*results, engram.StepResult{Type: engram.ResultType(d.str()), Output: d.str(), Message: d.str()})
		s.Result = &(*results)[len(*results)-1]
	}
	s.LatencyMS = d.varint()
	s.TokensUsed = d.varint()
	s.Metadata = d.strMap()
}

// Pattern

func encodePattern(e *encoder, p *engram.Pattern) {
	e.uuid(p.ID.UUID)
	e.str(string(p.Kind))
	e.strs(p.Tools)
	e.f64(p.AvgLatencyMS)
	e.str(p.Condition)
	e.str(p.Action)
	if s := p.OutcomeStats; e.flag(s != nil) {
		e.varint(s.SuccessCount)
		e.varint(s.FailureCount)
		e.varint(s.TotalCount)
		e.f64(s.AvgDurationSecs)
	}
	e.str(p.ErrorType)
	e.strs(p.RecoverySteps)
	e.strs(p.ContextFeatures)
	e.str(p.RecommendedApproach)
	uuids(e, p.Evidence)
	e.str(p.Domain)
	e.str(p.Language)
	e.strs(p.Tags)
	e.f64(p.SuccessRate)
	e.varint(p.OccurrenceCount)
	f := &p.Effectiveness
	e.varint(f.TimesRetrieved)
	e.varint(f.TimesApplied)
	e.varint(f.SuccessWhenApplied)
	e.varint(f.FailureWhenApplied)
	e.f64(f.AvgRewardDelta)
	e.timePtr(f.LastUsed)
	e.time(p.CreatedAt)
	e.time(p.UpdatedAt)
}

func decodePattern(d *decoder) *engram.Pattern {
	p := &engram.Pattern{}
	p.ID.UUID = d.uuid()
	p.Kind = engram.PatternKind(d.str())
	p.Tools = d.strs()
	p.AvgLatencyMS = d.f64()
	p.Condition = d.str()
	p.Action = d.str()
	if d.flag() {
		p.OutcomeStats = &engram.OutcomeStats{SuccessCount: d.varint(), FailureCount: d.varint(),
			TotalCount: d.varint(), AvgDurationSecs: d.f64()}
	}
	p.ErrorType = d.str()
	p.RecoverySteps = d.strs()
	p.ContextFeatures = d.strs()
	p.RecommendedApproach = d.str()
	p.Evidence = decodeUUIDs[engram.EpisodeID](d)
	p.Domain = d.str()
	p.Language = d.str()
	p.Tags = d.strs()
	p.SuccessRate = d.f64()
	p.OccurrenceCount = d.varint()
	f := &p.Effectiveness
	f.TimesRetrieved = d.varint()
	f.TimesApplied = d.varint()
	f.SuccessWhenApplied = d.varint()
	f.FailureWhenApplied = d.varint()
	f.AvgRewardDelta = d.f64()
	f.LastUsed = d.timePtr()
	p.CreatedAt = d.time()
	p.UpdatedAt = d.time()
	return p
}

// Heuristic

func encodeHeuristic(e *encoder, h *engram.Heuristic) {
	e.uuid(h.ID.UUID)
	e.str(h.Condition)
	e.str(h.Action)
	e.f64(h.Confidence)
	uuids(e, h.Evidence.EpisodeIDs)
	e.f64(h.Evidence.SuccessRate)
	e.varint(h.Evidence.SampleSize)
	e.str(h.Domain)
	e.time(h.CreatedAt)
	e.time(h.UpdatedAt)
}

func decodeHeuristic(d *decoder) *engram.Heuristic {
	h := &engram.Heuristic{}
	h.ID.UUID = d.uuid()
	h.Condition = d.str()
	h.Action = d.str()
	h.Confidence = d.f64()
	h.Evidence.EpisodeIDs = decodeUUIDs[engram.EpisodeID](d)
	h.Evidence.SuccessRate = d.f64()
	h.Evidence.SampleSize = d.varint()
	h.Domain = d.str()
	h.CreatedAt = d.time()
	h.UpdatedAt = d.time()
	return h
}

// Embedding

func encodeEmbedding(e *encoder, m *engram.Embedding) {
	e.uuid(m.ItemID)
	e.str(string(m.ItemType))
	e.str(m.Model)
	if e.count(len(m.Vector), m.Vector == nil) {
		for _, v := range m.Vector {
			e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(v))
		}
	}
	e.time(m.CreatedAt)
	// Expiry and metadata follow only when set, so records written before
	// they existed decode unchanged.
	if !m.ExpiresAt.IsZero() || len(m.Metadata) > 0 || m.TTL != 0 {
		e.time(m.ExpiresAt)
		e.strMap(m.Metadata)
		e.varint(int64(m.TTL)) // 0 in stored records; kept for round trips
	}
}

func decodeEmbedding(d *decoder) *engram.Embedding {
	m := &engram.Embedding{}
	m.ItemID = d.uuid()
	m.ItemType = engram.ItemType(d.str())
	m.Model = d.str()
	if n := d.count(4); n >= 0 {
		raw := d.take(4 * n)
		if len(raw) == 4*n {
			m.Vector = make([]float32, n)
			for i := range m.Vector {
				m.Vector[i] = math.Float32frombits(le32(raw[4*i:]))
			}
		}
	}
	m.CreatedAt = d.time()
	if d.err == nil && d.i < len(d.s) {
		m.ExpiresAt = d.time()
		m.Metadata = d.strMap()
		m.TTL = time.Duration(d.varint())
	}
	return m
}

func le64(s []byte) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s []byte) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

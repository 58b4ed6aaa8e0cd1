package sqlstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/engramhq/engram"
)

// A decoder specialised to the episode document, the record every read,
// list and cache rebuild decodes. encoding/json/v2 spends about 30 µs on a
// 6-step document (reflection, a token stream, an allocation per string);
// this one reads the bytes once, takes every string without escapes as a
// substring of one copy of the document, and allocates the optional parts
// together.
//
// It accepts only what encoding/json writes for an engram.Episode (no
// whitespace, no null, times in UTC with a "Z", integers without fraction
// or exponent, no unknown member) and declines everything else with
// errDecline; decodeDoc then decodes the document with encoding/json/v2 as
// before. So its only promise is: whatever it accepts, it decodes exactly
// as encoding/json/v2 would (FuzzEpisodeDoc checks this on every input the
// fuzzer finds; the inputs it found are kept in testdata/fuzz). Documents
// written by older versions, or damaged ones, take the general decoder and
// get its errors.

// errDecline means "not in the form this decoder reads; use the general one".
var errDecline = errors.New("sqlstore: not a canonical episode document")

// maxRawDepth bounds the nesting of a step's parameters the fast decoder
// reads; deeper ones are declined.
const maxRawDepth = 64

var stepMark = []byte(`{"step_number":`)

// docReader reads one document. s is a string copy of it, so decoded
// strings share one allocation; the arenas do the same for string lists,
// step results and parameters.
type docReader struct {
	b       []byte
	s       string
	i       int
	arena   []string
	results []engram.StepResult
	raw     []byte
}

// episodeParts holds an episode and its optional parts in one allocation.
type episodeParts struct {
	ep   engram.Episode
	end  time.Time
	out  engram.Outcome
	rew  engram.Reward
	refl engram.Reflection
	loc  engram.Location
}

// decodeEpisodeDoc decodes doc into a new episode, or returns errDecline.
func decodeEpisodeDoc(doc []byte) (*engram.Episode, error) {
	r := docReader{b: doc, s: string(doc)}
	p := &episodeParts{}
	if !r.episode(p) || r.i != len(r.b) {
		return nil, errDecline
	}
	return &p.ep, nil
}

func (r *docReader) peek() byte {
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *docReader) eat(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// object reads an object, calling member for each name (without escapes;
// a name with one is declined) with the reader at its value. A member
// returns false to decline. seen bits catch a name given twice: member
// returns the bit of the name it read.
func (r *docReader) object(member func(name string) (bit uint64, ok bool)) bool {
	if !r.eat('{') {
		return false
	}
	if r.eat('}') {
		return true
	}
	var seen uint64
	for {
		name, ok := r.name()
		if !ok || !r.eat(':') {
			return false
		}
		bit, ok := member(name)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if r.eat('}') {
			return true
		}
		if !r.eat(',') {
			return false
		}
	}
}

// name reads a member name without escapes.
func (r *docReader) name() (string, bool) {
	if !r.eat('"') {
		return "", false
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			r.i++
			return r.s[start : r.i-1], true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
		r.i++
	}
	return "", false
}

// str reads a string value.
func (r *docReader) str() (string, bool) {
	if !r.eat('"') {
		return "", false
	}
	start := r.i
	ascii := true
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			v := r.s[start : r.i-1]
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\':
			return r.escaped(start)
		case c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		r.i++
	}
	return "", false
}

// escaped finishes a string that started at start and has an escape at r.i.
func (r *docReader) escaped(start int) (string, bool) {
	out := make([]byte, 0, r.i-start+16)
	out = append(out, r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			return "", false
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			v, ok := r.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(rune(v)) {
				// Only a well-formed pair; a lone half is the general
				// decoder's business (it rejects it).
				if r.i+6 > len(r.b) || r.b[r.i] != '\\' || r.b[r.i+1] != 'u' {
					return "", false
				}
				r.i += 2
				lo, ok := r.hex4()
				if !ok {
					return "", false
				}
				dec := utf16.DecodeRune(rune(v), rune(lo))
				if dec == utf8.RuneError {
					return "", false
				}
				out = utf8.AppendRune(out, dec)
				continue
			}
			out = utf8.AppendRune(out, rune(v))
		default:
			return "", false
		}
	}
	return "", false
}

func (r *docReader) hex4() (uint16, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	var v uint16
	for _, c := range r.b[r.i : r.i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(d)
	}
	r.i += 4
	return v, true
}

// number reads the bytes of a JSON number.
func (r *docReader) number() (string, bool) {
	start := r.i
	r.eat('-')
	if r.eat('0') {
	} else if c := r.peek(); c >= '1' && c <= '9' {
		r.digits()
	} else {
		return "", false
	}
	if r.eat('.') {
		if !r.digits() {
			return "", false
		}
	}
	if r.eat('e') || r.eat('E') {
		if !r.eat('+') {
			r.eat('-')
		}
		if !r.digits() {
			return "", false
		}
	}
	return r.s[start:r.i], true
}

func (r *docReader) digits() bool {
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}

// int64v reads an integer written without fraction or exponent.
func (r *docReader) int64v() (int64, bool) {
	neg := r.eat('-')
	if r.eat('0') {
		if c := r.peek(); c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9') {
			return 0, false
		}
		return 0, true
	}
	var v uint64
	n := 0
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		if n == 0 && r.b[r.i] == '0' {
			return 0, false
		}
		v = v*10 + uint64(r.b[r.i]-'0')
		r.i++
		n++
		if n > 19 {
			return 0, false // out of range; the general decoder says so
		}
	}
	if n == 0 {
		return 0, false
	}
	if c := r.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

func (r *docReader) intv() (int, bool) {
	v, ok := r.int64v()
	if !ok || int64(int(v)) != v {
		return 0, false
	}
	return int(v), true
}

func (r *docReader) float() (float64, bool) {
	s, ok := r.number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// timev reads a time written as RFC 3339 in UTC ("...Z"), with up to nine
// fraction digits.
func (r *docReader) timev() (time.Time, bool) {
	s, ok := r.str()
	if !ok || len(s) < 20 || s[len(s)-1] != 'Z' ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(a, b int) int {
		v := 0
		for _, c := range []byte(s[a:b]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	if day > daysIn(time.Month(month), year) {
		return time.Time{}, false
	}
	nsec := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		v := num(20, len(s)-1)
		if v < 0 {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			v *= 10
		}
		nsec = v
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - int((m-1)%7%2)
}

func (r *docReader) uuid() (engram.UUID, bool) {
	s, ok := r.str()
	if !ok {
		return engram.UUID{}, false
	}
	if s == "" {
		return engram.UUID{}, true
	}
	if len(s) != 36 {
		return engram.UUID{}, false
	}
	u, err := engram.ParseUUID(s)
	return u, err == nil
}

// array reads an array, calling elem with the reader at each element.
func (r *docReader) array(elem func() bool) bool {
	if !r.eat('[') {
		return false
	}
	if r.eat(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if r.eat(']') {
			return true
		}
		if !r.eat(',') {
			return false
		}
	}
}

// strs reads an array of strings into a slice carved from the arena.
func (r *docReader) strs() ([]string, bool) {
	start := len(r.arena)
	ok := r.array(func() bool {
		s, ok := r.str()
		r.arena = append(r.arena, s)
		return ok
	})
	if !ok {
		return nil, false
	}
	n := len(r.arena) - start
	if n == 0 {
		return []string{}, true
	}
	// The arena may have grown (and moved) while the list was read; the
	// list is its last n entries either way. Capacity n: a caller's append
	// copies rather than overwriting the next list.
	return r.arena[start : start+n : start+n], true
}

func (r *docReader) strMap() (map[string]string, bool) {
	m := map[string]string{}
	if !r.eat('{') {
		return nil, false
	}
	if r.eat('}') {
		return m, true
	}
	for {
		k, ok := r.str()
		if !ok || !r.eat(':') {
			return nil, false
		}
		if _, dup := m[k]; dup {
			return nil, false
		}
		v, ok := r.str()
		if !ok {
			return nil, false
		}
		m[k] = v
		if r.eat('}') {
			return m, true
		}
		if !r.eat(',') {
			return nil, false
		}
	}
}

func uuidList[T ~struct{ engram.UUID }](r *docReader) ([]T, bool) {
	out := []T{}
	ok := r.array(func() bool {
		u, ok := r.uuid()
		out = append(out, T(struct{ engram.UUID }{u}))
		return ok
	})
	return out, ok
}

// rawValue reads any JSON value (a step's parameters) and returns a copy
// of its bytes. Objects in it must not name a member twice (compared as
// written; a name with an escape is declined).
func (r *docReader) rawValue() (json.RawMessage, bool) {
	start := r.i
	if !r.skip(0) {
		return nil, false
	}
	n := r.i - start
	if cap(r.raw)-len(r.raw) < n {
		r.raw = make([]byte, 0, max(512, n))
	}
	l := len(r.raw)
	r.raw = append(r.raw, r.b[start:r.i]...)
	return json.RawMessage(r.raw[l : l+n : l+n]), true
}

func (r *docReader) skip(depth int) bool {
	if depth > maxRawDepth {
		return false
	}
	switch c := r.peek(); {
	case c == '{':
		r.i++
		if r.eat('}') {
			return true
		}
		var names []string
		for {
			name, ok := r.name()
			if !ok || !r.eat(':') {
				return false
			}
			for _, n := range names {
				if n == name {
					return false
				}
			}
			names = append(names, name)
			if !r.skip(depth + 1) {
				return false
			}
			if r.eat('}') {
				return true
			}
			if !r.eat(',') {
				return false
			}
		}
	case c == '[':
		return r.array(func() bool { return r.skip(depth + 1) })
	case c == '"':
		_, ok := r.str()
		return ok
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := r.number()
		return ok
	}
	return false // null included: the general decoder decides what it means
}

func (r *docReader) literal(word string) bool {
	if len(r.b)-r.i >= len(word) && r.s[r.i:r.i+len(word)] == word {
		r.i += len(word)
		return true
	}
	return false
}

func (r *docReader) episode(p *episodeParts) bool {
	ep := &p.ep
	return r.object(func(name string) (uint64, bool) {
		var ok bool
		switch name {
		case "episode_id":
			ep.ID.UUID, ok = r.uuid()
			return 1 << 0, ok
		case "task_type":
			var s string
			s, ok = r.str()
			ep.TaskType = engram.TaskType(s)
			return 1 << 1, ok
		case "task_description":
			ep.TaskDescription, ok = r.str()
			return 1 << 2, ok
		case "context":
			return 1 << 3, r.context(&ep.Context)
		case "start_time":
			ep.StartTime, ok = r.timev()
			return 1 << 4, ok
		case "end_time":
			p.end, ok = r.timev()
			ep.EndTime = &p.end
			return 1 << 5, ok
		case "steps":
			// A hint: each step starts with its number, as stored.
			ep.Steps = make([]engram.Step, 0, bytes.Count(r.b[r.i:], stepMark))
			return 1 << 6, r.array(func() bool {
				ep.Steps = append(ep.Steps, engram.Step{})
				return r.step(&ep.Steps[len(ep.Steps)-1])
			})
		case "outcome":
			ep.Outcome = &p.out
			return 1 << 7, r.outcome(&p.out)
		case "reward":
			ep.Reward = &p.rew
			return 1 << 8, r.reward(&p.rew)
		case "reflection":
			ep.Reflection = &p.refl
			return 1 << 9, r.reflection(&p.refl)
		case "patterns":
			ep.Patterns, ok = uuidList[engram.PatternID](r)
			return 1 << 10, ok
		case "heuristics":
			ep.Heuristics, ok = uuidList[engram.HeuristicID](r)
			return 1 << 11, ok
		case "tags":
			ep.Tags, ok = r.strs()
			return 1 << 12, ok
		case "metadata":
			ep.Metadata, ok = r.strMap()
			return 1 << 13, ok
		case "location":
			ep.Location = &p.loc
			return 1 << 14, r.location(&p.loc)
		case "created_at":
			ep.CreatedAt, ok = r.timev()
			return 1 << 15, ok
		case "updated_at":
			ep.UpdatedAt, ok = r.timev()
			return 1 << 16, ok
		}
		return 0, false
	})
}

func (r *docReader) context(c *engram.TaskContext) bool {
	return r.object(func(name string) (uint64, bool) {
		var ok bool
		var s string
		switch name {
		case "language":
			c.Language, ok = r.str()
			return 1 << 0, ok
		case "framework":
			c.Framework, ok = r.str()
			return 1 << 1, ok
		case "complexity":
			s, ok = r.str()
			c.Complexity = engram.Complexity(s)
			return 1 << 2, ok
		case "domain":
			c.Domain, ok = r.str()
			return 1 << 3, ok
		case "tags":
			c.Tags, ok = r.strs()
			return 1 << 4, ok
		}
		return 0, false
	})
}

func (r *docReader) step(st *engram.Step) bool {
	return r.object(func(name string) (uint64, bool) {
		var ok bool
		switch name {
		case "step_number":
			st.StepNumber, ok = r.intv()
			return 1 << 0, ok
		case "timestamp":
			st.Timestamp, ok = r.timev()
			return 1 << 1, ok
		case "tool":
			st.Tool, ok = r.str()
			return 1 << 2, ok
		case "action":
			st.Action, ok = r.str()
			return 1 << 3, ok
		case "parameters":
			st.Parameters, ok = r.rawValue()
			return 1 << 4, ok
		case "result":
			if len(r.results) == cap(r.results) {
				r.results = make([]engram.StepResult, 0, 8)
			}
			r.results = r.results[:len(r.results)+1]
			res := &r.results[len(r.results)-1]
			st.Result = res
			return 1 << 5, r.result(res)
		case "latency_ms":
			st.LatencyMS, ok = r.int64v()
			return 1 << 6, ok
		case "tokens_used":
			st.TokensUsed, ok = r.int64v()
			return 1 << 7, ok
		case "metadata":
			st.Metadata, ok = r.strMap()
			return 1 << 8, ok
		}
		return 0, false
	})
}

func (r *docReader) result(res *engram.StepResult) bool {
	return r.object(func(name string) (uint64, bool) {
		var ok bool
		var s string
		switch name {
		case "type":
			s, ok = r.str()
			res.Type = engram.ResultType(s)
			return 1 << 0, ok
		case "output":
			res.Output, ok = r.str()
			return 1 << 1, ok
		case "message":
			res.Message, ok = r.str()
			return 1 << 2, ok
		}
		return 0, false
	})
}

func (r *docReader) outcome(o *engram.Outcome) bool {
	return r.object(func(name string) (uint64, bool) {
		var ok bool
		var s string
		switch name {
		case "type":
			s, ok = r.str()
			o.Type = engram.OutcomeType(s)
			return 1 << 0, ok
		case "verdict":
			o.Verdict, ok = r.str()
			return 1 << 1, ok
		case "artifacts":
			o.Artifacts, ok = r.strs()
			return 1 << 2, ok
		case "completed":
			o.Completed, ok = r.strs()
			return 1 << 3, ok
		case "failed":
			o.Failed, ok = r.strs()
			return 1 << 4, ok
		case "reason":
			o.Reason, ok = r.str()
			return 1 << 5, ok
		case "error_details":
			o.ErrorDetails, ok = r.str()
			return 1 << 6, ok
		case "stopped_at_step":
			o.StoppedAtStep, ok = r.intv()
			return 1 << 7, ok
		}
		return 0, false
	})
}

func (r *docReader) reward(w *engram.Reward) bool {
	return r.object(func(name string) (uint64, bool) {
		var f *float64
		var bit uint64
		switch name {
		case "total":
			f, bit = &w.Total, 1<<0
		case "base":
			f, bit = &w.Base, 1<<1
		case "efficiency":
			f, bit = &w.Efficiency, 1<<2
		case "complexity_bonus":
			f, bit = &w.ComplexityBonus, 1<<3
		case "quality_multiplier":
			f, bit = &w.QualityMultiplier, 1<<4
		case "learning_bonus":
			f, bit = &w.LearningBonus, 1<<5
		default:
			return 0, false
		}
		var ok bool
		*f, ok = r.float()
		return bit, ok
	})
}

func (r *docReader) reflection(x *engram.Reflection) bool {
	return r.object(func(name string) (uint64, bool) {
		var ok bool
		switch name {
		case "successes":
			x.Successes, ok = r.strs()
			return 1 << 0, ok
		case "improvements":
			x.Improvements, ok = r.strs()
			return 1 << 1, ok
		case "insights":
			x.Insights, ok = r.strs()
			return 1 << 2, ok
		case "generated_at":
			x.GeneratedAt, ok = r.timev()
			return 1 << 3, ok
		}
		return 0, false
	})
}

func (r *docReader) location(l *engram.Location) bool {
	return r.object(func(name string) (uint64, bool) {
		var ok bool
		switch name {
		case "lat":
			l.Lat, ok = r.float()
			return 1 << 0, ok
		case "lon":
			l.Lon, ok = r.float()
			return 1 << 1, ok
		}
		return 0, false
	})
}

package sqlstore

import jsonv2 "github.com/go-json-experiment/json"

// Appending a step without re-encoding the episode. An episode's document
// (encodeEpisode: encoding/json's output, compact, fields in struct order)
// holds its steps, so an append used to read, verify, decode and re-encode
// the whole document: at 1,000 steps that cost three times the append
// itself (BENCHMARKS.md, "Group commit"). Instead, AppendStep scans the
// stored document once for the spans it changes (the steps array and the
// updated_at value), and writes the new step's encoding into the array and
// the new time in place of the old. The result is byte for byte what
// encodeEpisode gives the episode with the step appended
// (TestSpliceStepMatchesEncode), so the digest, a later read and a rebuild
// cannot tell the two paths apart.

// episodeSpans is what scanEpisodeDoc found in a stored document.
type episodeSpans struct {
	// stepsClose is the offset of the steps array's ']'; steps counts its
	// elements and last is the last one (nil when there is none).
	stepsClose int
	steps      int
	last       []byte
	// updatedStart and updatedEnd delimit the updated_at value.
	updatedStart, updatedEnd int
	// complete: the document has an end_time and an outcome (see
	// engram.Episode.Complete; both are omitted when nil).
	complete bool
}

// lastStepNumber is the step number of the last step, 0 without steps.
func (sp *episodeSpans) lastStepNumber() (int, bool) {
	if sp.last == nil {
		return 0, true
	}
	var st struct {
		StepNumber int `json:"step_number"`
	}
	if jsonv2.Unmarshal(sp.last, &st) != nil {
		return 0, false
	}
	return st.StepNumber, true
}

// scanEpisodeDoc finds the spans of doc, a compact JSON object. ok is false
// for anything it does not recognise (the caller then decodes the document
// the long way, which reports real damage).
func scanEpisodeDoc(doc []byte) (sp episodeSpans, ok bool) {
	if len(doc) < 2 || doc[0] != '{' {
		return sp, false
	}
	sp.stepsClose, sp.updatedStart = -1, -1
	var hasEnd, hasOutcome bool
	i := 1
	for {
		if i >= len(doc) || doc[i] != '"' {
			return sp, false
		}
		nameEnd := skipString(doc, i)
		if nameEnd < 0 || nameEnd >= len(doc) || doc[nameEnd] != ':' {
			return sp, false
		}
		name := doc[i+1 : nameEnd-1]
		v := nameEnd + 1
		var end int
		switch string(name) {
		case "steps":
			if v >= len(doc) || doc[v] != '[' {
				return sp, false
			}
			j := v + 1
			if j < len(doc) && doc[j] == ']' {
				end = j + 1
			}
			for end == 0 {
				e := skipValue(doc, j)
				if e < 0 || e >= len(doc) {
					return sp, false
				}
				sp.steps++
				sp.last = doc[j:e]
				if doc[e] == ']' {
					end = e + 1
				} else if doc[e] != ',' {
					return sp, false
				}
				j = e + 1
			}
			sp.stepsClose = end - 1
		default:
			end = skipValue(doc, v)
			if end < 0 {
				return sp, false
			}
			switch string(name) {
			case "updated_at":
				sp.updatedStart, sp.updatedEnd = v, end
			case "end_time":
				hasEnd = true
			case "outcome":
				hasOutcome = true
			}
		}
		if end >= len(doc) {
			return sp, false
		}
		switch doc[end] {
		case ',':
			i = end + 1
			continue
		case '}':
			if end != len(doc)-1 || sp.stepsClose < 0 || sp.updatedStart < 0 || sp.updatedStart < sp.stepsClose {
				return sp, false
			}
			sp.complete = hasEnd && hasOutcome
			return sp, true
		}
		return sp, false
	}
}

// spliceStep returns doc with step (one step's encoding) appended to its
// steps array and updated (a JSON time) in place of its updated_at value.
func spliceStep(doc []byte, sp *episodeSpans, step, updated []byte) []byte {
	out := make([]byte, 0, len(doc)+len(step)+len(updated)+1)
	out = append(out, doc[:sp.stepsClose]...)
	if sp.steps > 0 {
		out = append(out, ',')
	}
	out = append(out, step...)
	out = append(out, doc[sp.stepsClose:sp.updatedStart]...)
	out = append(out, updated...)
	return append(out, doc[sp.updatedEnd:]...)
}

// skipString returns the offset just past the JSON string starting at
// doc[i] (a '"'), -1 when it does not end.
func skipString(doc []byte, i int) int {
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the offset just past the compact JSON value starting
// at doc[i], -1 when there is none.
func skipValue(doc []byte, i int) int {
	if i >= len(doc) {
		return -1
	}
	switch doc[i] {
	case '"':
		return skipString(doc, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(doc); j++ {
			switch doc[j] {
			case '"':
				e := skipString(doc, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	// A number, true, false or null: up to the next delimiter.
	for j := i; j < len(doc); j++ {
		switch doc[j] {
		case ',', '}', ']':
			if j == i {
				return -1
			}
			return j
		}
	}
	return -1
}

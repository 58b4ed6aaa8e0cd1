package engram

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// MaxInputBytes bounds one JSON document read from a user (CLI input or an
// HTTP body): the largest episode plus room for JSON escaping.
const MaxInputBytes = MaxEpisodeBytes + 2<<20

// DecodeJSON reads exactly one JSON value from r into v, reading at most
// limit bytes (0: MaxInputBytes). Decoding is strict: member names match
// the fields' JSON names exactly (case-sensitively), unknown members and a
// member named twice in one object are errors, and so is a string that is
// not valid UTF-8 (never silently replaced). Every failure is an *Error:
// ETOOLARGE past the limit, EINVALID otherwise, with Field set to the JSON
// path of the offending member ("steps[2].tool") where there is one.
//
// Decoding is done by github.com/go-json-experiment/json (the Go team's
// encoding/json/v2) with encoding/json's semantics for everything the
// strictness above does not change.
func DecodeJSON(r io.Reader, v any, limit int64) error {
	if limit <= 0 {
		limit = MaxInputBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return &Error{Code: EINVALID, Message: "read input", Err: err}
	}
	if int64(len(data)) > limit {
		return &Error{Code: ETOOLARGE, Message: fmt.Sprintf("input is over the limit of %s", FormatBytes(int(limit)))}
	}
	return DecodeJSONBytes(data, v)
}

// strictJSON is encoding/json's behaviour made strict (see DecodeJSON).
var strictJSON = jsonv2.JoinOptions(
	jsonv1.DefaultOptionsV1(),
	jsonv1.ReportErrorsWithLegacySemantics(false),
	jsonv2.RejectUnknownMembers(true),
	jsonv2.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// errInvalidUTF8 is the decoder's (unexported) invalid-UTF-8 error.
var errInvalidUTF8 = func() error {
	var s string
	var se *jsontext.SyntacticError
	if errors.As(jsonv2.Unmarshal([]byte("\"\xff\""), &s, strictJSON), &se) {
		return se.Err
	}
	return errors.New("engram: no invalid-UTF-8 error")
}()

// DecodeJSONBytes is DecodeJSON over bytes already in memory.
func DecodeJSONBytes(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &Error{Code: EINVALID, Message: "input is empty; want a JSON object"}
	}
	if err := jsonv2.Unmarshal(data, v, strictJSON); err != nil {
		// The decoder stops at the first problem, which may be a field's
		// value ahead of a syntax error further on; malformed input is
		// reported as such.
		var sem *jsonv2.SemanticError
		if errors.As(err, &sem) {
			if serr := syntaxError(data); serr != nil {
				err = serr
			}
		}
		return jsonError(data, err)
	}
	return nil
}

// syntaxError returns the first syntax error of data, ignoring what the
// strict decoder checks beyond syntax (duplicate names, UTF-8).
func syntaxError(data []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if _, err := dec.ReadValue(); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return err
	}
	return nil
}

func jsonError(data []byte, err error) error {
	var syn *jsontext.SyntacticError
	var sem *jsonv2.SemanticError
	switch {
	case errors.As(err, &syn):
		field := fieldPath(syn.JSONPointer)
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return &Error{Code: EINVALID, Field: field, Message: "is given more than once in one object; name each member once"}
		case errors.Is(syn.Err, errInvalidUTF8):
			line, col := position(data, syn.ByteOffset)
			return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf("is not valid UTF-8 (line %d, column %d)", line, col)}
		case errors.Is(syn.Err, io.ErrUnexpectedEOF):
			return &Error{Code: EINVALID, Message: "malformed JSON: unexpected end of input"}
		}
		line, col := position(data, syn.ByteOffset)
		msg := "?"
		if syn.Err != nil {
			msg = syn.Err.Error()
		}
		if strings.Contains(msg, "after top-level value") {
			return &Error{Code: EINVALID, Message: fmt.Sprintf("input has more than one JSON value (line %d, column %d)", line, col)}
		}
		return &Error{Code: EINVALID, Message: fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, msg)}
	case errors.As(err, &sem):
		field := fieldPath(sem.JSONPointer)
		if errors.Is(sem.Err, jsonv2.ErrUnknownName) {
			if field == "" || strings.HasSuffix(field, ".") {
				return &Error{Code: EINVALID, Field: strings.TrimSuffix(field, "."), Message: "has a member with an empty name; no field is named so"}
			}
			return &Error{Code: EINVALID, Field: field, Message: "is not a known field (names are case-sensitive)"}
		}
		// Errors from UnmarshalText (bad UUIDs, CIDs) keep their message
		// and get the field they were in.
		if e := (*Error)(nil); errors.As(sem.Err, &e) {
			cp := *e
			if field != "" {
				cp.Field = field
			}
			return &cp
		}
		if errors.Is(sem.Err, io.ErrUnexpectedEOF) {
			return &Error{Code: EINVALID, Message: "malformed JSON: unexpected end of input"}
		}
		return &Error{Code: EINVALID, Field: field, Message: semanticMessage(sem)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &Error{Code: EINVALID, Message: "malformed JSON: unexpected end of input"}
	}
	if e := (*Error)(nil); errors.As(err, &e) {
		return e
	}
	return &Error{Code: EINVALID, Message: "invalid JSON: " + err.Error()}
}

// semanticMessage says why a well-formed JSON value does not fit its field.
func semanticMessage(sem *jsonv2.SemanticError) string {
	val := clipText(string(sem.JSONValue))
	goType := ""
	if sem.GoType != nil {
		goType = sem.GoType.String()
	}
	switch {
	case goType == "time.Time" && val == "":
		var pe *time.ParseError
		if errors.As(sem.Err, &pe) {
			return fmt.Sprintf("%q is not an RFC 3339 time (2026-01-02T15:04:05Z)", clipText(pe.Value))
		}
		return "is not an RFC 3339 time (2026-01-02T15:04:05Z)"
	case goType == "time.Time":
		return fmt.Sprintf("%s is not an RFC 3339 time (2026-01-02T15:04:05Z)", val)
	case sem.JSONKind == '0' && (strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint")):
		if sem.Err != nil && strings.Contains(sem.Err.Error(), "range") {
			return fmt.Sprintf("%s is out of range for %s", val, goType)
		}
		return fmt.Sprintf("got %s, want an integer", val)
	case sem.JSONKind == '0' && strings.HasPrefix(goType, "float"):
		return fmt.Sprintf("%s is out of range for a %s", val, goType)
	case sem.GoType != nil && sem.JSONKind != 0 && (sem.Err == nil || isTypeMismatch(sem)):
		return fmt.Sprintf("got a JSON %s, want %s", kindName(sem.JSONKind), goTypeName(goType))
	case sem.Err != nil:
		return sem.Err.Error()
	}
	return "invalid value"
}

// isTypeMismatch reports whether a semantic error is a JSON kind the Go type
// cannot hold (rather than, say, a number out of range or a bad time).
func isTypeMismatch(sem *jsonv2.SemanticError) bool {
	msg := sem.Err.Error()
	return strings.Contains(msg, "cannot unmarshal") || strings.Contains(msg, "unsupported")
}

// fieldPath renders a JSON Pointer ("/steps/2/tool") as the field path
// errors use ("steps[2].tool").
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.ParseUint(tok, 10, 32); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "engram."), strings.HasPrefix(t, "struct"), strings.HasPrefix(t, "*engram."):
		if t == "engram.TaskType" || t == "engram.Complexity" || t == "engram.OutcomeType" || t == "engram.PatternKind" ||
			t == "engram.ResultType" || t == "engram.ItemType" || t == "engram.RelationshipType" || t == "engram.Namespace" ||
			t == "engram.SearchKind" || t == "engram.Tier" {
			return "a string"
		}
		return "an object"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "time.Time", t == "*time.Time":
		return "an RFC 3339 time string"
	}
	return t
}

package engram

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxInputBytes bounds one JSON document read from a user (CLI input or an
// HTTP body): the largest episode plus room for JSON escaping.
const MaxInputBytes = MaxEpisodeBytes + 2<<20

// DecodeJSON reads exactly one JSON value from r into v, reading at most
// limit bytes (0: MaxInputBytes). Unknown fields are rejected, so a typo in
// a field name is an error rather than silently ignored. Every failure is an
// *Error: ETOOLARGE past the limit, EINVALID otherwise, with Field set to the
// offending field where the decoder knows it.
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

// DecodeJSONBytes is DecodeJSON over bytes already in memory.
func DecodeJSONBytes(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &Error{Code: EINVALID, Message: "input is empty; want a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Code: EINVALID, Message: "input has more than one JSON value"}
	}
	return nil
}

func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return &Error{Code: EINVALID, Message: fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, syn.Error())}
	case errors.As(err, &typ):
		return &Error{Code: EINVALID, Field: typ.Field, Message: fmt.Sprintf("got a JSON %s, want %s", typ.Value, goTypeName(typ.Type.String()))}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &Error{Code: EINVALID, Message: "malformed JSON: unexpected end of input"}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &Error{Code: EINVALID, Field: strings.Trim(f, `"`), Message: "is not a known field"}
	}
	// Errors from UnmarshalText (bad UUIDs, times) arrive as plain errors.
	if e := (*Error)(nil); errors.As(err, &e) {
		return e
	}
	return &Error{Code: EINVALID, Message: "invalid JSON value: " + strings.TrimPrefix(msg, "json: ")}
}

func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset-1 && i < int64(len(data)); i++ {
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
			t == "engram.ResultType" || t == "engram.ItemType" || t == "engram.RelationshipType" || t == "engram.Namespace" {
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
	}
	return t
}

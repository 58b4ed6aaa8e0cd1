package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/engramhq/engram"
)

// This file derives JSON Schemas from the Go types the API reads and
// writes, so that the OpenAPI document and the MCP tool inputs describe
// exactly what the handlers decode.

func enumOf[T ~string](vals []T) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string"}
	for _, v := range vals {
		s.Enum = append(s.Enum, string(v))
	}
	return s
}

var typeSchemas = sync.OnceValue(func() map[reflect.Type]*jsonschema.Schema {
	uuid := func(desc string) *jsonschema.Schema {
		return &jsonschema.Schema{Type: "string", Format: "uuid", Description: desc}
	}
	return map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[engram.UUID]():             uuid("a UUID"),
		reflect.TypeFor[engram.EpisodeID]():        uuid("an episode id (UUID)"),
		reflect.TypeFor[engram.PatternID]():        uuid("a pattern id (UUID)"),
		reflect.TypeFor[engram.HeuristicID]():      uuid("a heuristic id (UUID)"),
		reflect.TypeFor[json.RawMessage]():         {Type: "object", Description: "any JSON object"},
		reflect.TypeFor[time.Time]():               {Type: "string", Format: "date-time"},
		reflect.TypeFor[time.Duration]():           {Type: "integer", Description: "nanoseconds"},
		reflect.TypeFor[map[string]any]():          {Type: "object"},
		reflect.TypeFor[engram.TaskType]():         enumOf(engram.TaskTypes),
		reflect.TypeFor[engram.Complexity]():       enumOf([]engram.Complexity{engram.ComplexitySimple, engram.ComplexityModerate, engram.ComplexityComplex}),
		reflect.TypeFor[engram.OutcomeType]():      enumOf([]engram.OutcomeType{engram.OutcomeSuccess, engram.OutcomePartialSuccess, engram.OutcomeFailure, engram.OutcomeAbstained}),
		reflect.TypeFor[engram.ResultType]():       enumOf([]engram.ResultType{engram.ResultSuccess, engram.ResultError, engram.ResultTimeout}),
		reflect.TypeFor[engram.PatternKind]():      enumOf(engram.PatternKinds),
		reflect.TypeFor[engram.RelationshipType](): enumOf(engram.RelationshipTypes),
		reflect.TypeFor[engram.SearchKind]():       enumOf([]engram.SearchKind{engram.SearchEpisode, engram.SearchStep, engram.SearchPattern}),
		reflect.TypeFor[engram.Tier]():             enumOf([]engram.Tier{engram.TierRAM, engram.TierCache, engram.TierDurable}),
	}
})

// schemaFor returns the JSON Schema of t. Properties are not marked
// required (the API fills defaults and reports what is missing by field);
// required, when given, lists the top-level properties that are.
func schemaFor(t reflect.Type, required ...string) (*jsonschema.Schema, error) {
	s, err := jsonschema.ForType(t, &jsonschema.ForOptions{TypeSchemas: typeSchemas()})
	if err != nil {
		return nil, err
	}
	relax(s)
	s.Required = required
	return s, nil
}

// responseSchemaFor is the schema of an answer of type t: members without
// omitempty are always sent, so they are required.
func responseSchemaFor(t reflect.Type) (*jsonschema.Schema, error) {
	return jsonschema.ForType(t, &jsonschema.ForOptions{TypeSchemas: typeSchemas()})
}

// inputRequired lists, for each request body type, the members the server
// requires; it fills the others (ids, times, defaults).
var inputRequired = map[reflect.Type][]string{
	reflect.TypeFor[engram.Episode]():      {"task_description"},
	reflect.TypeFor[engram.Step]():         {"tool", "action"},
	reflect.TypeFor[engram.Completion]():   {"outcome"},
	reflect.TypeFor[engram.Pattern]():      {"kind"},
	reflect.TypeFor[engram.Heuristic]():    {"condition", "action"},
	reflect.TypeFor[engram.Embedding]():    {"item_id", "item_type", "vector"},
	reflect.TypeFor[engram.Relationship](): {"from", "to", "type"},
	reflect.TypeFor[EpisodeBatch]():        {"episodes"},
	reflect.TypeFor[EmbeddingList]():       {"embeddings"},
}

// inputSchemaFor is the schema of a request body of type t: what the
// server requires is required (in a batch, in each record too), the rest
// may be omitted.
func inputSchemaFor(t reflect.Type) (*jsonschema.Schema, error) {
	s, err := schemaFor(t, inputRequired[t]...)
	if err != nil {
		return nil, err
	}
	switch t {
	case reflect.TypeFor[EpisodeBatch]():
		s.Properties["episodes"].Items.Required = inputRequired[reflect.TypeFor[engram.Episode]()]
	case reflect.TypeFor[EmbeddingList]():
		s.Properties["embeddings"].Items.Required = inputRequired[reflect.TypeFor[engram.Embedding]()]
		delete(s.Properties, "next_cursor")
		delete(s.Properties, "stale")
	case reflect.TypeFor[engram.Completion]():
		s.Properties["outcome"].Required = []string{"type"}
	}
	return s, nil
}

// relax drops the required lists throughout s: on input every field may be
// omitted.
func relax(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	s.Required = nil
	for _, p := range s.Properties {
		relax(p)
	}
	relax(s.Items)
	relax(s.AdditionalProperties)
}

// schemaName is the OpenAPI component name of t.
func schemaName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return strings.TrimPrefix(t.Name(), "engram.")
}

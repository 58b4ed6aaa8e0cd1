package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/engramhq/engram"
)

// buildOpenAPI renders the OpenAPI 3.1 document of the route table. Schemas
// come from the Go types the handlers decode and encode (schemaFor), so the
// document cannot drift from them.
func (s *Server) buildOpenAPI() ([]byte, error) {
	schemas := map[string]*jsonschema.Schema{}
	// ref is a response's schema: every member the server always sends is
	// required.
	ref := func(t reflect.Type) (map[string]any, error) {
		name := schemaName(t)
		if _, ok := schemas[name]; !ok {
			sc, err := responseSchemaFor(t)
			if err != nil {
				return nil, fmt.Errorf("server: schema of %s: %w", t, err)
			}
			schemas[name] = sc
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}, nil
	}
	// inRef is a request body's schema: only what the server requires is
	// required (it fills the rest), under the type's name + "Input".
	inRef := func(t reflect.Type) (map[string]any, error) {
		name := schemaName(t) + "Input"
		if _, ok := schemas[name]; !ok {
			sc, err := inputSchemaFor(t)
			if err != nil {
				return nil, fmt.Errorf("server: schema of %s: %w", t, err)
			}
			schemas[name] = sc
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}, nil
	}
	errRef, err := ref(reflect.TypeFor[ErrorBody]())
	if err != nil {
		return nil, err
	}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
	}
	paths := map[string]map[string]any{}
	for _, rt := range s.routes {
		if rt.NoDoc {
			continue
		}
		op := map[string]any{"operationId": rt.Name, "summary": rt.Summary}
		var params []any
		for _, name := range rt.pathParams() {
			p := map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}}
			switch name {
			case "id", "from", "to", "item_id":
				p["schema"] = map[string]any{"type": "string", "format": "uuid"}
			case "model":
				p["description"] = "the embedding model; a model whose name contains / is sent with each / percent-encoded as %2F " +
					"(text-embedding/v3 is text-embedding%2Fv3), or as is: the model is the rest of the path"
			}
			params = append(params, p)
		}
		if rt.Scope == scopeNamespace {
			params = append(params, map[string]any{"$ref": "#/components/parameters/namespace"}, map[string]any{"$ref": "#/components/parameters/namespaceHeader"})
		}
		for _, p := range rt.Query {
			sc := map[string]any{"type": p.Type}
			switch p.Format {
			case "":
			case formatTimeOrDate:
				sc = map[string]any{"type": "string", "anyOf": []any{map[string]any{"format": "date-time"}, map[string]any{"format": "date"}}}
			case formatTimeOrAgo:
				sc = map[string]any{"type": "string", "anyOf": []any{map[string]any{"format": "date-time"}, map[string]any{"format": "date"}, map[string]any{"pattern": agoPattern}}}
			default:
				sc["format"] = p.Format
			}
			if p.Name == "limit" {
				sc["minimum"], sc["maximum"] = 1, engram.MaxQueryLimit
			}
			if rt.Name == "insights" && p.Name == "top" {
				sc["minimum"], sc["maximum"] = 1, engram.MaxInsightsTop
			}
			if rt.Name == "insights" && p.Name == "bucket" {
				sc["enum"] = []string{engram.BucketHour, engram.BucketDay, engram.BucketWeek}
			}
			if p.Repeat {
				sc = map[string]any{"type": "array", "items": sc}
				switch p.Name {
				case "tag":
					sc["maxItems"] = engram.MaxFilterTags
				case "meta":
					sc["maxItems"] = engram.MaxFilterMetadata
				}
			}
			params = append(params, map[string]any{"name": p.Name, "in": "query", "description": p.Desc, "schema": sc, "explode": true})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.Body != nil {
			r, err := inRef(rt.Body)
			if err != nil {
				return nil, err
			}
			op["requestBody"] = map[string]any{"required": !rt.BodyOptional, "content": map[string]any{"application/json": map[string]any{"schema": r}}}
		}
		ok := map[string]any{"description": "success"}
		switch {
		case rt.Resp != nil:
			r, err := ref(rt.Resp)
			if err != nil {
				return nil, err
			}
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": r}}
		case rt.Name == "exportVectors":
			r, err := ref(reflect.TypeFor[engram.Embedding]())
			if err != nil {
				return nil, err
			}
			ok["description"] = "one embedding per line; a stream cut by an error ends with a line in the error shape"
			ok["content"] = map[string]any{"application/x-ndjson": map[string]any{"schema": r}}
		case rt.Name == "metrics":
			ok["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.Name == "openapi":
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		if rt.Stale {
			ok["headers"] = map[string]any{
				headerStale: map[string]any{"description": "true when the answer came from a cache that may lag the durable tier (lists and search also say \"stale\": true in the body)", "schema": map[string]any{"type": "string", "enum": []string{"true"}}},
				headerTier:  map[string]any{"description": "the tier that answered (ram, cache or durable), when the store reports it", "schema": map[string]any{"type": "string"}},
			}
		}
		responses := map[string]any{strconv.Itoa(rt.Status): ok}
		for _, code := range errorStatuses(rt) {
			responses[strconv.Itoa(code)] = errResp(http.StatusText(code))
		}
		op["responses"] = responses
		if rt.Scope == scopePublic {
			op["security"] = []any{}
		}
		if isWrite(rt.Method) && rt.raw == nil {
			params = append(params, map[string]any{"$ref": "#/components/parameters/idempotencyKey"})
			op["parameters"] = params
		}
		if paths[docPath(rt.Path)] == nil {
			paths[docPath(rt.Path)] = map[string]any{}
		}
		paths[docPath(rt.Path)][strings.ToLower(rt.Method)] = op
	}
	// Security tells the truth about this server: without tokens no request
	// needs one (and the server answers only on loopback); with tokens every
	// request but /healthz does.
	security := []any{map[string]any{"bearer": []any{}}}
	authMode := "This server has tokens: every endpoint but /healthz needs Authorization: Bearer TOKEN."
	if s.opts.Tokens.Len() == 0 {
		security = []any{map[string]any{}}
		authMode = "This server runs without tokens: no request needs one, and it answers only on loopback, " +
			"to requests whose Host is localhost, 127.0.0.1 or [::1]. (A server with tokens requires a bearer token on every endpoint but /healthz.)"
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"servers": []any{map[string]any{"url": "/", "description": "the server that served this document"}},
		"info": map[string]any{
			"title":   "engram",
			"version": s.opts.Version,
			"description": "Tiered, durable storage for AI-agent memory. Every error has the shape " +
				`{"error": {"code", "message", "field"}}. The namespace of a request is the namespace query parameter, ` +
				"else the X-Engram-Namespace header, else \"default\". Reads that may come from a stale cache say so in the " +
				"X-Engram-Stale header and, for lists and search, in a \"stale\" member of the body. " + authMode,
		},
		"security": security,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"description": "required on every endpoint except /healthz when the server has tokens"}},
			"parameters": map[string]any{
				"namespace": map[string]any{"name": "namespace", "in": "query", "description": "the namespace (default: \"default\"); 1-64 characters of [a-z0-9_.-]",
					"schema": map[string]any{"type": "string"}},
				"namespaceHeader": map[string]any{"name": headerNamespace, "in": "header", "description": "the namespace, when the query does not name one",
					"schema": map[string]any{"type": "string"}},
				"idempotencyKey": map[string]any{"name": headerIdempotencyKey, "in": "header",
					"description": "makes a retry of this write apply once: a key the store committed already in the namespace answers the first outcome (409 if it was used for a different request); 1-255 printable ASCII characters",
					"schema":      map[string]any{"type": "string", "minLength": 1, "maxLength": engram.MaxIdempotencyKeyLen}},
			},
			"schemas": schemas,
		},
		"paths": paths,
	}
	return json.MarshalIndent(doc, "", "  ")
}

// docPath turns a ServeMux pattern path into an OpenAPI path template.
func docPath(p string) string { return strings.ReplaceAll(p, "...}", "}") }

// errorStatuses lists the error statuses a route can answer.
func errorStatuses(rt *route) []int {
	set := map[int]bool{http.StatusInternalServerError: true}
	if rt.Scope != scopePublic {
		set[http.StatusUnauthorized] = true
		set[http.StatusServiceUnavailable] = true
		set[http.StatusBadRequest] = true
	}
	if !rt.Ops && rt.Scope != scopePublic {
		set[http.StatusTooManyRequests] = true
	}
	if rt.Scope == scopeNamespace || rt.Scope == scopeAll {
		set[http.StatusForbidden] = true
	}
	if rt.Body != nil {
		set[http.StatusRequestEntityTooLarge] = true
	}
	if len(rt.pathParams()) > 0 || rt.Name == "completeEpisode" || rt.Name == "addRelationship" {
		set[http.StatusNotFound] = true
	}
	if rt.Method == "POST" || rt.Method == "PUT" {
		set[http.StatusConflict] = true
	}
	if rt.Name == "sync" || rt.Name == "recall" || rt.Name == "insights" {
		set[http.StatusNotImplemented] = true
	}
	var out []int
	for c := range set {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}

func (s *Server) openapi(c *call) (any, error) { return s.doc, nil }

// Package server serves an engram.Store over HTTP: a JSON API under /v1,
// MCP for agents at /mcp (and, through NewMCP, over stdio), health and
// readiness probes, Prometheus metrics and an OpenAPI document generated
// from the same route table the router uses.
//
// Every route except /healthz requires a bearer token when tokens are
// configured (ParseTokens); a token names the namespaces it may use. Bodies
// are decoded strictly (unknown fields are errors) under a size limit,
// requests are rate-limited per token, and errors have one JSON shape,
// {"error": {"code", "message", "field"}}, whose codes are engram's (see
// StatusOf for the HTTP statuses).
//
// Reads are made with an engram.ReadInfo in their context: when the store
// answers from a cache that may be stale, the response carries
// X-Engram-Stale: true and, for lists and search, "stale": true in the body.
// Single records are sent bare, so the record's JSON is the same as the
// store's.
//
// The optional interfaces engram.Syncer, engram.StatusReporter and
// engram.Insighter upgrade POST /v1/sync (501 without), GET /v1/status (a
// durable-only status without) and GET /v1/insights (501 without).
package server

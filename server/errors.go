package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/engramhq/engram"
)

// Codes the server adds to engram's error codes for conditions that belong to
// HTTP rather than to storage. Like engram's codes they are stable.
const (
	CodeUnauthorized     = "unauthorized"       // 401: no token, or not a known one
	CodeForbidden        = "forbidden"          // 403: the token does not cover the namespace
	CodeRateLimited      = "rate_limited"       // 429: the token's request rate is exhausted
	CodeNotImplemented   = "not_implemented"    // 501: the store lacks the optional interface
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeOverloaded       = "overloaded"         // 503: too many requests in flight
)

// ErrorBody is the one JSON shape of every error response:
//
//	{"error": {"code": "invalid", "message": "is required", "field": "task_description"}}
//
// Field is the JSON path of the input at fault when there is one. Message
// never carries internal details for 5xx statuses; those go to the log.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// StatusOf maps an engram error code (or a server code above) to its HTTP
// status.
func StatusOf(code string) int {
	switch code {
	case engram.EINVALID:
		return http.StatusBadRequest
	case engram.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case engram.ENOTFOUND:
		return http.StatusNotFound
	case engram.ECONFLICT:
		return http.StatusConflict
	case engram.EUNAVAILABLE, engram.ELOCKED, engram.EUNKNOWN, CodeOverloaded:
		return http.StatusServiceUnavailable
	case engram.ENOSPACE:
		return http.StatusInsufficientStorage
	case engram.EGONE:
		return http.StatusGone
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeNotImplemented:
		return http.StatusNotImplemented
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// errorDetail renders err for a response. For a 5xx status the message is
// generic: internal causes are logged, not sent.
func errorDetail(err error) (int, ErrorDetail) {
	code := engram.ErrorCode(err)
	status := StatusOf(code)
	d := ErrorDetail{Code: code, Field: engram.ErrorField(err)}
	switch {
	case status == http.StatusServiceUnavailable:
		d.Message = "the store is unavailable; retry later"
		switch code {
		case CodeOverloaded:
			d.Message = "too many requests in flight; retry later"
		case engram.EUNKNOWN:
			d.Message = "the write's outcome is unknown (the durable commit could not be confirmed); retry it with the same Idempotency-Key to settle it"
		}
		var e *engram.Error
		if code == engram.ELOCKED && errors.As(err, &e) && e.Message != "" {
			d.Message = "locked: " + e.Message
		}
	case code == engram.ENOSPACE:
		d.Message = "the server's disk is full; the write changed nothing, reads keep working, and writes succeed again once space is freed"
		d.Field = ""
	case status >= 500 && code != CodeNotImplemented:
		d.Message = "internal error; the server log has the details"
		d.Field = ""
	default:
		d.Message = clientMessage(err, d.Field)
	}
	return status, d
}

// clientMessage is what a client is told of err: the innermost coded
// error's text without the field (the field has its own member) and without
// the operation context stores wrap around it ("sqlstore: get episode ...").
// A batch's record index ("episodes[3]: ") is kept: it says which record.
func clientMessage(err error, field string) string {
	var e *engram.Error
	inner := err
	for cur := err; errors.As(cur, &e); cur = e.Unwrap() {
		inner = e
		if e.Field != "" || e.Message != "" {
			break
		}
	}
	msg := strings.TrimPrefix(inner.Error(), field+": ")
	full := err.Error()
	if i := strings.Index(full, "]: "); i > 0 && strings.HasSuffix(full, inner.Error()) && !strings.HasPrefix(field, full[:i+1]) {
		if j := strings.LastIndex(full[:i], "["); j > 0 && isPathName(full[:j]) {
			msg = full[:i+3] + msg
		}
	}
	return msg
}

func isPathName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return s != ""
}

// writeError sends err in the error shape and logs what a client is not told.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		// The client went away (or the server is shutting down) mid-request:
		// nobody reads this answer, and it is not the server failing.
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request abandoned",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
		s.metrics.errors.WithLabelValues("abandoned").Inc()
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	status, d := errorDetail(err)
	if status >= 500 && status != http.StatusNotImplemented {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("code", d.Code), slog.String("error", err.Error()))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="engram"`)
	}
	s.metrics.errors.WithLabelValues(d.Code).Inc()
	writeJSON(w, status, ErrorBody{Error: d})
}

// statusClientClosedRequest is the status logged for a request whose client
// disconnected before the answer (the nginx convention; never seen by a client).
const statusClientClosedRequest = 499

// writeJSON sends v as the response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // a failed write means the client went away
}

// httpError is an error with a server code and a message.
func httpError(code, format string, args ...any) error {
	e := &engram.Error{Code: code, Message: format}
	if len(args) > 0 {
		e.Message = sprintf(format, args...)
	}
	return e
}

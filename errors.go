package engram

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: the HTTP API maps them to status codes and the
// CLI to exit codes, so a code is never renamed.
const (
	EINVALID     = "invalid"     // bad input; Field names what was wrong
	ETOOLARGE    = "too_large"   // input over a documented size limit
	ENOTFOUND    = "not_found"   // no record with that key in that namespace
	ECONFLICT    = "conflict"    // the key exists already, or the change races another
	EUNAVAILABLE = "unavailable" // a tier needed to answer is down; retry later
	ECORRUPT     = "corrupt"     // stored bytes failed verification
	ELOCKED      = "locked"      // another process holds a file we need
	EINTERNAL    = "internal"    // a bug or an unexpected failure
	// EUNKNOWN: the durable commit's outcome is unknown (its sync to disk
	// failed after the write was handed to the file system). The write may or
	// may not be there after a restart; retry it with the same idempotency key
	// to settle it.
	EUNKNOWN = "unknown"
	// ENOSPACE: a write was refused because a file system is full. Reads keep
	// working; writes succeed again once space is freed, without a restart.
	ENOSPACE = "no_space"
	// EGONE: the change feed no longer holds the entries asked for (they are
	// older than its retention horizon). A reader that gets it rebuilds.
	EGONE = "gone"
)

// Error is the one error type engram returns at its API boundary. Code is one
// of the E* constants; Field, when set, names the input field at fault in the
// JSON spelling ("steps[2].parameters"); Message says what was wrong and, for a
// limit, what the limit is. Err, when set, is the underlying cause.
type Error struct {
	Code    string
	Field   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if msg == "" {
		msg = e.Code
	}
	if e.Field != "" {
		return e.Field + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is one of the sentinel errors below (or any
// *Error without a Field or Message) with the same code, so that
// errors.Is(err, engram.ErrNotFound) matches every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Field != "" || t.Message != "" || t.Err != nil {
		return false
	}
	return t.Code == e.Code
}

// Sentinels to match with errors.Is. They match any *Error with their code.
var (
	ErrInvalid     = &Error{Code: EINVALID}
	ErrTooLarge    = &Error{Code: ETOOLARGE}
	ErrNotFound    = &Error{Code: ENOTFOUND}
	ErrConflict    = &Error{Code: ECONFLICT}
	ErrUnavailable = &Error{Code: EUNAVAILABLE}
	ErrCorrupt     = &Error{Code: ECORRUPT}
	ErrLocked      = &Error{Code: ELOCKED}
	ErrUnknown     = &Error{Code: EUNKNOWN}
	ErrNoSpace     = &Error{Code: ENOSPACE}
	ErrGone        = &Error{Code: EGONE}
)

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorField returns the Field of the first *Error in err's chain that has one.
func ErrorField(err error) string {
	for err != nil {
		if e, ok := err.(*Error); ok && e.Field != "" {
			return e.Field
		}
		err = errors.Unwrap(err)
	}
	return ""
}

// Within returns err with its Field placed inside the list element
// list[i] ("embeddings[1]" + "vector" is "embeddings[1].vector"), so a batch
// error names the record at fault by its JSON path. Errors that are not
// *Error are wrapped with the element's path.
func Within(list string, i int, err error) error {
	path := fmt.Sprintf("%s[%d]", list, i)
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("%s: %w", path, err)
	}
	c := *e
	if c.Field == "" {
		c.Field = path
	} else {
		c.Field = path + "." + c.Field
	}
	return &c
}

// Invalid returns an EINVALID error for field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// TooLarge returns an ETOOLARGE error saying field is size bytes over limit.
func TooLarge(field string, size, limit int) *Error {
	return &Error{Code: ETOOLARGE, Field: field,
		Message: fmt.Sprintf("is %d bytes; the limit is %s", size, FormatBytes(limit))}
}

// TooMany returns an ETOOLARGE error saying field has n entries (what: "steps",
// "entries", "dimensions") against limit.
func TooMany(field string, n int, what string, limit int) *Error {
	return &Error{Code: ETOOLARGE, Field: field,
		Message: fmt.Sprintf("has %d %s; the limit is %d", n, what, limit)}
}

// NotFound returns an ENOTFOUND error naming what was not found.
func NotFound(what string, key any) *Error {
	return &Error{Code: ENOTFOUND, Message: fmt.Sprintf("%s %v not found", what, key)}
}

// Unavailable wraps cause as an EUNAVAILABLE error.
func Unavailable(what string, cause error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: what + " unavailable", Err: cause}
}

// FormatBytes renders n bytes with a binary unit when it divides exactly
// ("1 MiB", "10 KiB") and as a plain byte count otherwise.
func FormatBytes(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d bytes (%d GiB)", n, n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d bytes (%d MiB)", n, n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d bytes (%d KiB)", n, n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

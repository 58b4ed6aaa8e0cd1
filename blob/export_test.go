package blob

import "net/http"

// SetWrapTransport makes stores opened afterwards send their requests
// through wrap; the returned func restores the default. Tests that use it
// do not run in parallel.
func SetWrapTransport(wrap func(http.RoundTripper) http.RoundTripper) (restore func()) {
	wrapTransport = wrap
	return func() { wrapTransport = nil }
}

package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/engramhq/engram"
)

// Defaults for Options.
const (
	DefaultMaxBodyBytes      = 8 << 20
	DefaultMaxBodyMemory     = 256 << 20
	DefaultMaxInFlight       = 512
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxPageBytes      = 16 << 20
)

// Headers the API reads and sends.
const (
	headerNamespace = "X-Engram-Namespace" // the namespace, when the query does not name one
	headerStale     = "X-Engram-Stale"     // "true" on reads answered from a possibly stale cache
	headerTier      = "X-Engram-Tier"      // the tier that answered a read, when the store says
	headerRequestID = "X-Request-Id"       // echoed, or made up when absent
	// headerIdempotencyKey, on a write, makes a retry of it apply once: the
	// store answers a key it committed already with the first outcome.
	headerIdempotencyKey = "Idempotency-Key"
)

// Options configure a Server. The zero value of every field is its default.
type Options struct {
	// Tokens are the bearer tokens clients must present. Empty: no
	// authentication, and Serve refuses listeners off the loopback interface.
	Tokens *Tokens
	// MaxBodyBytes bounds a request body; 0: DefaultMaxBodyBytes (8 MiB).
	// Episodes up to engram.MaxEpisodeBytes need engram.MaxInputBytes.
	MaxBodyBytes int64
	// MaxBodyMemory bounds the request bodies held in memory at once, summed
	// over requests; a request waits for room. 0: DefaultMaxBodyMemory.
	// Raised to MaxBodyBytes if smaller.
	MaxBodyMemory int64
	// MaxInFlight bounds the requests served at once (the operational
	// endpoints do not count); past it requests get 503. 0: DefaultMaxInFlight.
	MaxInFlight int
	// MaxBatch bounds the records of one batch request; 0 or more than
	// engram.MaxBatch: engram.MaxBatch.
	MaxBatch int
	// MaxVectorDim bounds an embedding's dimension; 0 or more than
	// engram.MaxVectorDim: engram.MaxVectorDim.
	MaxVectorDim int
	// RateLimit is the sustained requests per second one client may make
	// (a client is a token, or an address when there are no tokens);
	// 0: unlimited. RateBurst is the bucket size; 0: max(1, RateLimit).
	RateLimit float64
	RateBurst int
	// Timeouts of the HTTP server (see net/http.Server); 0: the defaults above.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Serve drains in-flight requests once
	// its context is cancelled; 0: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes bounds request headers; 0: DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxPageBytes bounds the records of one list response, JSON-encoded:
	// a page that would be larger is cut short and ends with a next_cursor
	// where the rest begins (a page always holds at least one record).
	// 0: DefaultMaxPageBytes (16 MiB).
	MaxPageBytes int
	// Logger receives one line per request and every internal error; nil:
	// nothing is logged. Tokens are never logged.
	Logger *slog.Logger
	// Version is reported by the MCP server and the OpenAPI document; "": "dev".
	Version string
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Tokens == nil {
		o.Tokens = &Tokens{}
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBodyMemory == 0 {
		o.MaxBodyMemory = DefaultMaxBodyMemory
	}
	o.MaxBodyMemory = max(o.MaxBodyMemory, o.MaxBodyBytes)
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxBatch <= 0 || o.MaxBatch > engram.MaxBatch {
		o.MaxBatch = engram.MaxBatch
	}
	if o.MaxVectorDim <= 0 || o.MaxVectorDim > engram.MaxVectorDim {
		o.MaxVectorDim = engram.MaxVectorDim
	}
	if o.RateBurst == 0 {
		o.RateBurst = max(1, int(o.RateLimit))
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&o.ReadHeaderTimeout, DefaultReadHeaderTimeout}, {&o.ReadTimeout, DefaultReadTimeout},
		{&o.WriteTimeout, DefaultWriteTimeout}, {&o.IdleTimeout, DefaultIdleTimeout}, {&o.ShutdownTimeout, DefaultShutdownTimeout}} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxPageBytes == 0 {
		o.MaxPageBytes = DefaultMaxPageBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = "dev"
	}
}

// Validate reports the first unusable option.
func (o *Options) Validate() error {
	switch {
	case o.MaxBodyBytes < 0:
		return engram.Invalid("max_body_bytes", "must not be negative")
	case o.MaxPageBytes < 0:
		return engram.Invalid("max_page_bytes", "must not be negative")
	case o.MaxInFlight < 0:
		return engram.Invalid("max_in_flight", "must not be negative")
	case o.RateLimit < 0 || o.RateLimit != o.RateLimit:
		return engram.Invalid("rate_limit", "must be a non-negative number")
	case o.RateBurst < 0:
		return engram.Invalid("rate_burst", "must not be negative")
	case o.ReadHeaderTimeout < 0 || o.ReadTimeout < 0 || o.WriteTimeout < 0 || o.IdleTimeout < 0 || o.ShutdownTimeout < 0:
		return engram.Invalid("timeouts", "must not be negative")
	}
	return nil
}

// Server serves one engram.Store over HTTP (the JSON API under /v1, MCP at
// /mcp, health, readiness and metrics). Safe for concurrent use. The Server
// does not own the store: whoever opened it closes it, after Serve returns.
type Server struct {
	store      engram.Store
	opts       Options
	log        *slog.Logger
	routes     []*route
	metrics    *metrics
	limiter    *rateLimiter
	inflight   chan struct{}       // a slot per request in flight
	bodyMem    *semaphore.Weighted // bytes of request bodies in memory
	handler    http.Handler
	mcpHandler http.Handler
	doc        []byte            // the OpenAPI document, built once
	epJSON     episodeJSONReader // store, when it can hand out encoded episodes
}

// New returns a server for store. It serves nothing until Serve, or until
// Handler is mounted on a server of the caller's.
func New(store engram.Store, opts Options) (*Server, error) {
	if store == nil {
		return nil, errors.New("server: nil store")
	}
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		store:    store,
		opts:     opts,
		log:      opts.Logger,
		routes:   routes(),
		limiter:  newRateLimiter(opts.RateLimit, opts.RateBurst),
		inflight: make(chan struct{}, opts.MaxInFlight),
		bodyMem:  semaphore.NewWeighted(opts.MaxBodyMemory),
	}
	s.epJSON, _ = store.(episodeJSONReader)
	s.metrics = newMetrics(s, s.routes)
	doc, err := s.buildOpenAPI()
	if err != nil {
		return nil, err
	}
	s.doc = doc
	if s.mcpHandler, err = s.buildMCPHandler(); err != nil {
		return nil, err
	}
	s.handler = s.buildHandler()
	return s, nil
}

// Handler returns the server's HTTP handler: every route, with
// authentication, limits, request ids, logging and metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on ln until ctx is cancelled, then stops accepting,
// drains the requests in flight (for at most Options.ShutdownTimeout) and
// returns nil. It closes ln. It refuses a listener that is not on the
// loopback interface when no tokens are configured.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.opts.Tokens.Len() == 0 && !IsLoopback(ln.Addr()) {
		ln.Close()
		return fmt.Errorf("server: refusing to serve on %s without tokens: anyone who can reach it could read and write every namespace; configure tokens or listen on 127.0.0.1", ln.Addr())
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining requests in flight", "timeout", s.opts.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		srv.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	s.log.Info("shut down: every request drained")
	return nil
}

// IsLoopback reports whether addr is on the loopback interface (127.0.0.0/8
// or ::1). Unix sockets count: only local processes reach them.
func IsLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// unmatchedRoute labels requests no route matched.
const unmatchedRoute = "unmatched"

func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	paths := http.NewServeMux() // method-less patterns: 405 for a known path, 404 otherwise
	allow := map[string][]string{}
	for _, rt := range s.routes {
		mux.Handle(rt.Pattern(), s.wrap(rt))
		if rt.Method != "" {
			if allow[rt.Path] == nil {
				paths.Handle(rt.Path, s.wrap(&route{Name: unmatchedRoute, Path: rt.Path, Scope: scopeAny, handle: func(s *Server, c *call) (any, error) {
					c.w.Header().Set("Allow", strings.Join(allow[rt.Path], ", "))
					return nil, httpError(CodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", c.r.Method, rt.Path, strings.Join(allow[rt.Path], ", "))
				}}))
			}
			allow[rt.Path] = append(allow[rt.Path], rt.Method)
		}
	}
	paths.Handle("/", s.wrap(&route{Name: unmatchedRoute, Path: "/", Scope: scopeAny, handle: func(s *Server, c *call) (any, error) {
		return nil, &engram.Error{Code: engram.ENOTFOUND, Message: fmt.Sprintf("no endpoint %s; see /v1/openapi.json", c.r.URL.Path)}
	}}))
	mux.Handle("/", paths)
	// Browsers may send simple cross-site POSTs to a server on localhost;
	// refuse unsafe requests that a browser marks cross-origin (by
	// Sec-Fetch-Site, or an Origin that is not the Host), with tokens or
	// without. Together with the Host check of a token-less server (DNS
	// rebinding, origin.go) and the JSON Content-Type rule, a web page can
	// neither write to engram nor read from it.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, httpError(CodeForbidden, "cross-origin request refused"))
	}))
	return s.withRequestID(s.withHostCheck(cop.Handler(mux)))
}

// withRequestID gives every request an id (the client's X-Request-Id when it
// is short and plain, a new one otherwise), echoes it, and turns a panic in
// a handler into a logged 500.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(headerRequestID)
		if !plainID(id) {
			id = newRequestID()
		}
		w.Header().Set(headerRequestID, id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type requestIDKey struct{}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers (MCP) flush through the recorder.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap is the pipeline every route runs: authenticate, rate-limit, bound
// the requests in flight, check the query, resolve and authorise the
// namespace, reserve memory for the body, run the handler, write the answer,
// then log and count the request.
func (s *Server) wrap(rt *route) http.Handler {
	// The route's latency series exists from the start (newMetrics); its
	// counter of 200s is made on the first one. Both are then kept here
	// instead of looked up by label on every request.
	latency := s.metrics.latency.WithLabelValues(rt.Name)
	var ok200 atomic.Pointer[prometheus.Counter]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		c := &call{w: rec, r: r, route: rt}
		c.ctx = engram.WithReadInfo(r.Context(), &c.ri)
		if !rt.Ops {
			s.metrics.inflight.Inc()
			defer s.metrics.inflight.Dec()
		}
		err := s.admit(c)
		defer s.release(c)
		if err == nil {
			if rt.raw != nil {
				// The other handlers read c.ctx; a raw one has only the request.
				c.r = r.WithContext(c.ctx)
				rt.raw(s).ServeHTTP(rec, c.r)
			} else {
				var v any
				v, err = rt.handle(s, c)
				if err == nil {
					s.respond(c, v)
				}
			}
		}
		if err != nil {
			s.writeError(rec, r, err)
		}
		if rt.Stale && err == nil {
			s.metrics.observeRead(&c.ri)
		}
		elapsed := time.Since(start)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if status == http.StatusOK {
			cp := ok200.Load()
			if cp == nil {
				c := s.metrics.requests.WithLabelValues(rt.Name, "200")
				cp = &c
				ok200.Store(cp)
			}
			(*cp).Inc()
		} else {
			s.metrics.requests.WithLabelValues(rt.Name, strconv.Itoa(status)).Inc()
		}
		latency.Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		if s.log.Enabled(r.Context(), level) {
			client := ""
			if c.p != nil {
				client = c.p.id
			}
			s.log.LogAttrs(r.Context(), level, "request",
				slog.String("request_id", requestID(r.Context())), slog.String("method", r.Method), slog.String("route", rt.Name),
				slog.String("path", r.URL.Path), slog.Int("status", status), slog.Duration("duration", elapsed),
				slog.Int64("bytes", rec.bytes), slog.String("client", client), slog.String("namespace", string(c.ns)),
				slog.String("remote", r.RemoteAddr))
		}
	})
}

// admit runs the checks before a handler. What it takes (a slot in
// flight, body memory) is held in c until release gives it back; release
// must be called once the request is done, whatever admit returned.
func (s *Server) admit(c *call) (err error) {
	rt, r := c.route, c.r
	if rt.Scope == scopePublic {
		return nil
	}
	if c.p, err = s.opts.Tokens.authenticate(r.Header); err != nil {
		return err
	}
	if !rt.Ops {
		if !s.limiter.allow(clientKey(c.p, r)) {
			c.w.Header().Set("Retry-After", "1")
			return httpError(CodeRateLimited, "rate limit of %g requests per second exceeded; retry later", s.opts.RateLimit)
		}
		select {
		case s.inflight <- struct{}{}:
			c.slot = true
		default:
			c.w.Header().Set("Retry-After", "1")
			return httpError(CodeOverloaded, "too many requests in flight")
		}
	}
	q := r.URL.Query()
	if rt.raw == nil {
		if err := checkQuery(q, rt.Query); err != nil {
			return err
		}
	}
	if keys := r.Header.Values(headerIdempotencyKey); len(keys) > 0 && rt.raw == nil && isWrite(rt.Method) {
		if len(keys) > 1 {
			return engram.Invalid(headerIdempotencyKey, "is given %d times; give it once", len(keys))
		}
		if err := engram.ValidateIdempotencyKey(keys[0]); err != nil {
			var e *engram.Error
			if errors.As(err, &e) {
				cp := *e
				cp.Field = headerIdempotencyKey
				err = &cp
			}
			return err
		}
		c.ctx = engram.WithIdempotencyKey(c.ctx, keys[0])
	}
	switch rt.Scope {
	case scopeNamespace:
		if c.ns, err = namespaceOf(q, r.Header); err != nil {
			return err
		}
		if !c.p.allows(c.ns) {
			return httpError(CodeForbidden, "this token may not use namespace %q", c.ns)
		}
	case scopeAll:
		if !c.p.all {
			return httpError(CodeForbidden, "this endpoint spans every namespace; it needs a token granted *")
		}
	}
	if r.Body != nil && r.Body != http.NoBody && (rt.Body != nil || rt.raw != nil) {
		n := s.opts.MaxBodyBytes
		if r.ContentLength > n {
			return &engram.Error{Code: engram.ETOOLARGE, Message: fmt.Sprintf("the request body is %d bytes; the limit is %s", r.ContentLength, engram.FormatBytes(int(n)))}
		}
		if r.ContentLength >= 0 {
			n = r.ContentLength
		}
		if n > 0 {
			if err := s.bodyMem.Acquire(r.Context(), n); err != nil {
				return engram.Unavailable("request body memory", err)
			}
			c.bodyHeld = n
		}
	}
	return nil
}

// release gives back what admit took for c, the body memory first.
func (s *Server) release(c *call) {
	if c.bodyHeld > 0 {
		s.bodyMem.Release(c.bodyHeld)
		c.bodyHeld = 0
	}
	if c.slot {
		<-s.inflight
		c.slot = false
	}
}

func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodDelete || method == http.MethodPatch
}

// readBody reads the whole request body, at most MaxBodyBytes of it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, engram.Invalid("Content-Type", "%q is not application/json", clip(ct))
		}
	}
	if r.Body == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= s.opts.MaxBodyBytes {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &engram.Error{Code: engram.ETOOLARGE, Message: fmt.Sprintf("the request body is over the limit of %s", engram.FormatBytes(int(s.opts.MaxBodyBytes)))}
	case err != nil && !errors.Is(err, io.EOF):
		return nil, &engram.Error{Code: engram.EINVALID, Message: "reading the request body failed", Err: err}
	}
	return buf.Bytes(), nil
}

// respond writes a handler's answer with the read's provenance headers.
func (s *Server) respond(c *call, v any) {
	tier, stale := c.ri.Get()
	if tier != "" {
		c.w.Header()[headerTier] = tierValue(tier)
	}
	if stale {
		c.w.Header().Set(headerStale, "true")
	}
	status := c.route.Status
	if c.status != 0 {
		status = c.status
	}
	if e, ok := v.(encodedJSON); ok {
		h := c.w.Header()
		h["Content-Type"] = jsonContentType
		h["X-Content-Type-Options"] = noSniff
		c.w.WriteHeader(status)
		c.w.Write(*e.buf)
		putJSONBuf(e.buf)
		return
	}
	if raw, ok := v.([]byte); ok {
		c.w.Header().Set("Content-Type", "application/json")
		c.w.WriteHeader(status)
		c.w.Write(raw)
		return
	}
	writeJSON(c.w, status, v)
}

// Header values every answer of a kind carries, shared instead of made per
// request (net/http only reads a response's header values; nothing here
// changes one in place).
var (
	jsonContentType = []string{"application/json"}
	noSniff         = []string{"nosniff"}
	tierValues      = map[engram.Tier][]string{}
)

func init() {
	for _, t := range []engram.Tier{engram.TierRAM, engram.TierCache, engram.TierDurable} {
		tierValues[t] = []string{string(t)}
	}
}

// tierValue is the X-Engram-Tier header value of tier.
func tierValue(tier engram.Tier) []string {
	if v, ok := tierValues[tier]; ok {
		return v
	}
	return []string{string(tier)}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Package rest serves the operator REST API (echo): health, network
// stats, jobs, nodes, payments, the activity log, event histories for
// audits, a Server-Sent Events stream of new events, and the server's own
// log lines and configuration, described by the
// OpenAPI document at /api/openapi.json. Routes, their query parameters
// and middleware are set up in one place (this file); errors are mapped
// to {"error":{"code","message"}} answers in one place (errors.go).
//
// Every route but /api/health, /api/openapi.json and /metrics needs a
// user token whose role claim is operator or admin; /api/admin/* needs
// admin.
package rest

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/ratelimit"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Verifier checks a bearer token: *auth.Issuer.
type Verifier interface {
	Verify(token string) (auth.Principal, error)
}

// Deps are the ports the API reads. Jobs, Nodes, Store, Codec and Auth
// are required; a nil Stats, Activity, Payments, Logs or Config makes its
// endpoint answer 503 unavailable.
type Deps struct {
	Jobs     projections.JobQueries
	Nodes    projections.NodeQueries
	Stats    projections.StatsQueries
	Activity projections.ActivityQueries
	Payments projections.PaymentQueries
	// Store is read for event histories and subscribed to for the stream;
	// Codec (commands.NewCodec()) decodes their payloads.
	Store eventstore.Store
	Codec projections.Codec
	Auth  Verifier
	// Health reports the state of each component (eventstore, database,
	// redis, solana); nil checks the event store only (StoreCheck).
	Health func(ctx context.Context) map[string]Component
	// Head is where a stream that names no position starts: the read
	// model's position (Runner.Position). Nil: the stream reads the log
	// from the start and sends only what comes after it caught up.
	Head func() uint64
	Now  func() time.Time
	// Rebuild runs online rebuilds (admin only); nil answers 503.
	Rebuild Rebuilder
	// Operations makes the API's writes (deposit refunds, node bans); nil
	// answers 503.
	Operations Operations
	// Logs holds the server's recent log lines (/api/logs); nil answers
	// 503.
	Logs *logbuf.Buffer
	// Config is the effective configuration (/api/config, always served
	// redacted); nil answers 503.
	Config *config.Config
	// EscrowAddress is the settlement escrow wallet's address, shown in
	// /api/config; "" with settlement off.
	EscrowAddress string
}

// Options tunes the server; zero fields take defaults.
type Options struct {
	// CORSOrigins are the browser origins allowed cross-origin
	// (config server.cors_origins); empty = same-origin only, "*" = any.
	CORSOrigins []string
	// MaxJobsPerNode is scheduler.max_jobs_per_node, for free_slots.
	MaxJobsPerNode int
	// Middleware runs around every request, inside the request id and
	// outside the access log (metrics.Metrics.Echo()).
	Middleware []echo.MiddlewareFunc
	// Metrics, when set, is served at GET /metrics without a token.
	Metrics http.Handler
	// Heartbeat is the interval of keep-alive comments on the event
	// stream (default 15 s).
	Heartbeat time.Duration
	// MaxStreams bounds the concurrent event streams (default 64);
	// StreamsPerPrincipal bounds those of one token subject (0: only
	// MaxStreams).
	MaxStreams          int
	StreamsPerPrincipal int
	// Limits rates each principal's requests: the token's subject, else
	// the client's IP (nil: no limit).
	Limits *ratelimit.Principals
	// WriteTimeout bounds writing one answer, and each write of a
	// stream (default 30 s).
	WriteTimeout time.Duration
	// MaxReplyBytes bounds the records of one list answer (default 4
	// MiB): a page stops before it and hands out the cursor of the next.
	MaxReplyBytes int
	// HealthTimeout bounds the health checks (default 3 s).
	HealthTimeout time.Duration
	// Version is reported by /api/health.
	Version string
	// TLS, when set, makes Start serve HTTPS (tlsconf.Reloader.ServerConfig).
	TLS *tls.Config
	// Started is when the process started, for uptime_seconds (default:
	// when New is called).
	Started time.Time
}

// Roles that may read the API (the token's "role" claim).
const (
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Server is the REST API.
type Server struct {
	deps    Deps
	opts    Options
	log     *slog.Logger
	echo    *echo.Echo
	http    *http.Server
	started time.Time
	doc     []byte // the OpenAPI document as served

	params     map[string][]string // "GET /api/jobs" → accepted query parameters
	streams    atomic.Int64
	perStreams *ratelimit.Slots

	closing   chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	lis       net.Listener
}

// endpoint is one route: its method (GET when empty) and path (echo
// syntax), the query parameters it accepts, who may call it, and its
// handler.
type endpoint struct {
	method string
	path   string
	params []string
	open   bool
	user   bool // any user token (the handler checks what the caller may do), not only operators
	admin  bool // admins only (operators are refused)
	stream bool // long-lived: manages its own write deadlines
	h      echo.HandlerFunc
}

// New builds the server with every route registered.
func New(deps Deps, opts Options, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if opts.MaxJobsPerNode <= 0 {
		opts.MaxJobsPerNode = projections.DefaultMaxJobsPerNode
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 64
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.MaxReplyBytes <= 0 {
		opts.MaxReplyBytes = 4 << 20
	}
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = 3 * time.Second
	}
	if opts.Started.IsZero() {
		opts.Started = deps.Now()
	}
	s := &Server{deps: deps, opts: opts, log: log, started: opts.Started, params: map[string][]string{}, closing: make(chan struct{}),
		perStreams: ratelimit.NewSlots(opts.StreamsPerPrincipal)}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.HTTPErrorHandler = s.handleError
	e.JSONSerializer = jsonSerializer{}
	s.echo = e

	e.Use(s.requestID)
	e.Use(opts.Middleware...)
	e.Use(s.accessLog, s.recover)
	if len(opts.CORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  opts.CORSOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodOptions},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "Last-Event-ID", echo.HeaderXRequestID},
			ExposeHeaders: []string{echo.HeaderXRequestID, ReadPositionHeader},
			MaxAge:        600,
		}))
	}

	list := []string{"limit", "cursor"}
	endpoints := []endpoint{
		{path: "/api/health", open: true, h: s.getHealth},
		{path: "/api/openapi.json", open: true, h: s.getOpenAPI},
		{path: "/api/stats", h: s.getStats},
		{path: "/api/jobs", params: append([]string{"status", "type", "owner"}, list...), h: s.listJobs},
		{path: "/api/jobs/:id", h: s.getJob},
		{path: "/api/jobs/:id/events", params: list, h: s.jobEvents},
		{path: "/api/nodes", params: append([]string{"online", "device", "region", "min_price", "max_price", "sort", "order"}, list...), h: s.listNodes},
		{path: "/api/nodes/:id", h: s.getNode},
		{path: "/api/nodes/:id/metrics", params: append([]string{"from", "to"}, list...), h: s.nodeMetrics},
		{path: "/api/nodes/:id/events", params: list, h: s.nodeEvents},
		{path: "/api/payments", params: append([]string{"status"}, list...), h: s.listPayments},
		{path: "/api/activity", params: list, h: s.listActivity},
		{path: "/api/logs", params: []string{"level", "after", "limit"}, h: s.getLogs},
		{path: "/api/config", h: s.getConfig},
		{path: "/api/events/stream", params: []string{"after", "access_token"}, stream: true, h: s.streamEvents},
		{method: http.MethodPost, path: "/api/admin/rebuild", admin: true, h: s.startRebuild},
		{path: "/api/admin/rebuild", admin: true, h: s.getRebuild},
		{method: http.MethodPost, path: "/api/deposits/:signature/refund", user: true, h: s.refundDepositAsPayer},
		{method: http.MethodPost, path: "/api/admin/deposits/:signature/refund", admin: true, h: s.refundDepositAsOperator},
		{method: http.MethodPost, path: "/api/admin/nodes/:id/ban", admin: true, h: s.banNode},
		{method: http.MethodPost, path: "/api/admin/nodes/:id/unban", admin: true, h: s.unbanNode},
		{method: http.MethodDelete, path: "/api/admin/nodes/:id", params: []string{"reason"}, admin: true, h: s.deleteNode},
	}
	if opts.Metrics != nil {
		endpoints = append(endpoints, endpoint{path: "/metrics", open: true, h: echo.WrapHandler(opts.Metrics)})
	}
	for _, ep := range endpoints {
		mw := []echo.MiddlewareFunc{strictQuery(ep.path, ep.params)}
		if !ep.open {
			mw = append(mw, s.requireUser(slices.Contains(ep.params, "access_token"), !ep.user))
		}
		if ep.path != "/api/health" { // load balancers probe it from one address
			mw = append(mw, s.rateLimit)
		}
		if ep.admin {
			mw = append(mw, requireAdmin)
		}
		if !ep.stream {
			mw = append(mw, s.writeDeadline)
		}
		method := cmp.Or(ep.method, http.MethodGet)
		e.Add(method, ep.path, ep.h, mw...)
		s.params[method+" "+ep.path] = ep.params
	}
	s.doc = s.servedDocument()

	s.http = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s
}

// Handler returns the API as an http.Handler (for httptest, or to mount).
func (s *Server) Handler() http.Handler { return s.echo }

// Route is a registered route: method, path (echo syntax, /api/jobs/:id)
// and the query parameters it accepts.
type Route struct {
	Method, Path string
	Params       []string
}

// Routes lists the routes echo has registered.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.echo.Routes() {
		out = append(out, Route{Method: r.Method, Path: r.Path, Params: slices.Clone(s.params[r.Method+" "+r.Path])})
	}
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Method+" "+a.Path, b.Method+" "+b.Path) })
	return out
}

// Start listens on addr (host:port; port 0 picks one, see Addr) and
// serves in the background. Serve errors other than a shutdown are
// logged.
func (s *Server) Start(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("rest: listen %s: %w", addr, err)
	}
	if s.opts.TLS != nil {
		lis = tls.NewListener(lis, s.opts.TLS)
	}
	s.mu.Lock()
	s.lis = lis
	s.mu.Unlock()
	go func() {
		if err := s.Serve(lis); err != nil {
			s.log.Error("rest: serve", "address", lis.Addr().String(), "err", err)
		}
	}()
	return nil
}

// Serve serves on lis until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	s.lis = lis
	s.mu.Unlock()
	if err := s.http.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Addr is the address the server listens on (nil before Start or Serve).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return nil
	}
	return s.lis.Addr()
}

// Shutdown ends the event streams, stops accepting requests and waits for
// the ones in flight until ctx ends; then it closes the connections left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	return err
}

// strictQuery refuses query parameters the route does not know,
// parameters given more than once, and a query string Go's parser would
// drop parts of (a raw ";", a bad %-escape): a misspelt or mangled
// filter must not silently select everything.
func strictQuery(path string, allowed []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if e := malformedQuery(c.Request().URL.RawQuery); e != nil {
				return e
			}
			for name, vals := range c.QueryParams() {
				if !slices.Contains(allowed, name) {
					accepts := "no query parameters"
					if len(allowed) > 0 {
						accepts = "only " + strings.Join(allowed, ", ")
					}
					return badParam(inQuery, name, "is not a parameter of %s, which accepts %s", path, accepts)
				}
				if len(vals) > 1 {
					return badParam(inQuery, name, "is given %d times; give it once", len(vals))
				}
			}
			return next(c)
		}
	}
}

// malformedQuery finds the first pair of a raw query string that
// url.ParseQuery would reject (and drop).
func malformedQuery(raw string) *Error {
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		name, kerr := url.QueryUnescape(key)
		if kerr != nil || name == "" {
			name = key
		}
		if strings.Contains(pair, ";") {
			return badParam(inQuery, name, "contains a raw ';'; escape it as %%3B (the query string is not valid)")
		}
		if _, err := url.QueryUnescape(value); err != nil || kerr != nil {
			return badParam(inQuery, name, "has a bad %%-escape; escape '%%' as %%25 (the query string is not valid)")
		}
	}
	return nil
}

// jsonSerializer writes JSON without escaping <, > and & (messages quote
// `Bearer <JWT>`); the API reads no bodies.
type jsonSerializer struct{}

func (jsonSerializer) Serialize(c echo.Context, v any, indent string) error {
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(v)
}

func (jsonSerializer) Deserialize(c echo.Context, v any) error {
	return json.NewDecoder(c.Request().Body).Decode(v)
}

// writeDeadline bounds the time to write an answer, so a client that does
// not read cannot hold a connection forever.
func (s *Server) writeDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		return next(c)
	}
}

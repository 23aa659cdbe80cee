package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/labstack/echo/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// UnaryServerInterceptor counts and times unary gRPC calls by full method
// and status code. Chain it first, so it sees the code the client gets.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		m.grpcDone(info.FullMethod, err, start)
		return resp, err
	}
}

// StreamServerInterceptor counts and times streaming gRPC calls (the whole
// stream) by full method and status code.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		start := time.Now()
		err := next(srv, ss)
		m.grpcDone(info.FullMethod, err, start)
		return err
	}
}

func (m *Metrics) grpcDone(method string, err error, start time.Time) {
	m.grpcRequests.WithLabelValues(method, status.Code(err).String()).Inc()
	m.grpcDuration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

// UnmatchedRoute is the route label of REST requests no route matched, so
// that scanners probing random paths cannot blow up the series count.
const UnmatchedRoute = "unmatched"

// Echo returns a middleware counting and timing REST requests by method,
// route template (c.Path(), e.g. /api/jobs/:id) and status code. An error
// the handler returns and nothing has written yet is counted with the
// status it will get: an *echo.HTTPError's code, else 500.
func (m *Metrics) Echo() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			code := c.Response().Status
			if err != nil && !c.Response().Committed {
				code = http.StatusInternalServerError
				var he *echo.HTTPError
				if errors.As(err, &he) {
					code = he.Code
				}
			}
			route := c.Path()
			if route == "" || code == http.StatusNotFound && !known(c, route) {
				route = UnmatchedRoute
			}
			method := c.Request().Method
			if !standardMethod(method) {
				method = "other"
			}
			m.httpRequests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
			m.httpDuration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
			return err
		}
	}
}

// known reports whether route is one of the echo instance's registered
// route templates: for a request no route matched, echo reports the path
// of the nearest node of its routing tree.
func known(c echo.Context, route string) bool {
	for _, r := range c.Echo().Routes() {
		if r.Path == route {
			return true
		}
	}
	return false
}

func standardMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// Append results.
const (
	resultOK       = "ok"
	resultConflict = "conflict"
	resultError    = "error"
)

// Store returns inner with Append timed into
// cyxwiz_eventstore_append_duration_seconds and appended events counted.
// Every other method is inner's.
func (m *Metrics) Store(inner eventstore.Store) eventstore.Store {
	return &timedStore{Store: inner, m: m}
}

type timedStore struct {
	eventstore.Store
	m *Metrics
}

func (s *timedStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, events...)
	result := resultOK
	switch {
	case errors.Is(err, eventstore.ErrWrongExpectedRevision):
		result = resultConflict
	case err != nil:
		result = resultError
	default:
		s.m.appendedEvents.Add(float64(len(events)))
	}
	s.m.appendDuration.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return res, err
}

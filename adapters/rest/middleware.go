package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/ratelimit"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

const requestIDKey = "request_id"

type requestIDCtx struct{}

// RequestIDFrom returns the request id of a request's context.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtx{}).(string)
	return id
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// validRequestID accepts a client's X-Request-ID: 1 to 128 visible ASCII
// characters, so that it is safe to echo and to log.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestID echoes the client's X-Request-ID, or makes one up, and puts it
// in the answer's headers, the request's context and every log line.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		c.Set(requestIDKey, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		if s.deps.Head != nil {
			// Taken before the handler reads: the answer reflects at least this position.
			c.Response().Header().Set(ReadPositionHeader, strconv.FormatUint(s.deps.Head(), 10))
		}
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), requestIDCtx{}, id)))
		return next(c)
	}
}

// ReadPositionHeader names the answer header carrying the log position the
// read model had applied when the request was read: an answer reflects at
// least every event up to it. A client following /api/events/stream
// compares it with the last event it saw to know whether an answer may
// still miss that event.
const ReadPositionHeader = "X-Read-Position"

// accessLog writes any error answer (so that outer middleware sees the
// final status) and logs the request: at debug level, at info for server
// errors. The query string is not logged: it may carry an access token.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		lvl := slog.LevelDebug
		if status >= 500 {
			lvl = slog.LevelInfo
		}
		r := c.Request()
		s.log.Log(r.Context(), lvl, "rest", "method", r.Method, "path", r.URL.Path, "route", c.Path(), "status", status,
			"ms", time.Since(start).Milliseconds(), "request_id", requestIDOf(c))
		return nil
	}
}

// recover turns a panic in a handler into a 500 answer and a log line
// with the stack.
func (s *Server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("rest: panic in handler", "path", c.Request().URL.Path, "request_id", requestIDOf(c),
					"panic", r, "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// mintRoleHint says how to get a token this API accepts.
const mintRoleHint = "mint one with `cyxwiz-central token --sub NAME --role operator`"

func unauthenticated(c echo.Context, msg string) *Error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="cyxwiz-central"`)
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: msg}
}

func forbidden(format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodePermissionDenied, Message: fmt.Sprintf(format, args...)}
}

// requireAdmin, after requireUser, lets through admins only.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p, ok := auth.PrincipalFrom(c.Request().Context()); !ok || p.Role != RoleAdmin {
			return forbidden("this endpoint changes the server and needs a token whose role is admin; mint one with `cyxwiz-central token --sub NAME --role admin`")
		}
		return next(c)
	}
}

// requireUser lets through requests with a valid user token — whose role
// is operator or admin when operator is set: 401 without a token or with a
// bad one, 403 for any other caller. queryToken also accepts
// ?access_token= when there is no Authorization header, for browsers'
// EventSource, which cannot set headers.
func (s *Server) requireUser(queryToken, operator bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		check := s.checkUser(queryToken, operator, next)
		return func(c echo.Context) error {
			err := check(c)
			_, authed := auth.PrincipalFrom(c.Request().Context())
			var e *Error
			if !authed && errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
				// A flood of bad tokens has no principal of its own: its
				// IP pays.
				if ok, wait := s.opts.Limits.Allow(ratelimit.IP, remoteIP(c.Request()), time.Now()); !ok {
					return tooManyRequests(c, wait, "rate limit: this ip sends refused tokens faster than the server allows requests without one; retry in %s", wait.Round(time.Millisecond))
				}
			}
			return err
		}
	}
}

// checkUser is requireUser without the rate of refusals.
func (s *Server) checkUser(queryToken, operator bool, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		header := c.Request().Header.Get(echo.HeaderAuthorization)
		var token string
		switch {
		case header == "" && queryToken && c.QueryParams().Has("access_token"):
			token = c.QueryParam("access_token")
		case header == "":
			msg := "this endpoint needs a token: send the header `Authorization: Bearer <JWT>` with a token whose role is operator or admin; " + mintRoleHint
			if queryToken {
				msg = "this endpoint needs a token: send the header `Authorization: Bearer <JWT>`, or ?access_token=<JWT> where headers cannot be set (EventSource), with a token whose role is operator or admin; " + mintRoleHint
			}
			return unauthenticated(c, msg)
		default:
			t, err := auth.FromBearer(header)
			if err != nil {
				return unauthenticated(c, err.Error())
			}
			token = t
		}
		p, err := s.deps.Auth.Verify(token)
		if err != nil {
			var ae *auth.Error
			if !errors.As(err, &ae) {
				s.log.Warn("rest: token check failed", "request_id", requestIDOf(c), "err", err)
				return unauthenticated(c, "the token could not be checked")
			}
			return unauthenticated(c, err.Error())
		}
		switch {
		case p.Kind != auth.KindUser:
			return forbidden("a node session token cannot read the operator API; send a user token whose role is operator or admin; %s", mintRoleHint)
		case operator && p.Role != RoleOperator && p.Role != RoleAdmin:
			role := "no role"
			if p.Role != "" {
				role = fmt.Sprintf("role %q", p.Role)
			}
			return forbidden("the operator API needs a token whose role is operator or admin; the token of %q has %s; %s", p.Subject, role, mintRoleHint)
		}
		r := c.Request()
		c.SetRequest(r.WithContext(auth.WithPrincipal(r.Context(), p)))
		return next(c)
	}
}

// rateLimit counts the request against its principal (the token's
// subject, else the client IP) and answers 429 with Retry-After past the
// principal's rate.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		kind, key := ratelimit.IP, remoteIP(c.Request())
		if p, ok := auth.PrincipalFrom(c.Request().Context()); ok {
			kind, key = ratelimit.User, p.Subject
		}
		if ok, wait := s.opts.Limits.Allow(kind, key, time.Now()); !ok {
			return tooManyRequests(c, wait, "rate limit: this %s makes requests faster than the server allows (see [limits] in config.toml); retry in %s", kind, wait.Round(time.Millisecond))
		}
		return next(c)
	}
}

// tooManyRequests is a 429 that says, in Retry-After, when to retry.
func tooManyRequests(c echo.Context, wait time.Duration, format string, args ...any) *Error {
	c.Response().Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
	return &Error{Status: http.StatusTooManyRequests, Code: CodeResourceExhausted, Message: fmt.Sprintf(format, args...)}
}

// remoteIP is the address the request came from (not X-Forwarded-For,
// which a client may forge to dodge its limit).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

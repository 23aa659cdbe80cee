package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	"github.com/labstack/echo/v4"
)

// Error codes of the {"error":{"code","message"}} body.
const (
	CodeInvalidArgument    = "invalid_argument"    // 400
	CodeUnauthenticated    = "unauthenticated"     // 401
	CodePermissionDenied   = "permission_denied"   // 403
	CodeNotFound           = "not_found"           // 404
	CodeMethodNotAllowed   = "method_not_allowed"  // 405
	CodeConflict           = "conflict"            // 409
	CodeFailedPrecondition = "failed_precondition" // 400
	CodeResourceExhausted  = "resource_exhausted"  // 429
	CodeUnavailable        = "unavailable"         // 503
	CodeInternal           = "internal"            // 500
)

// domainErrors maps the domain's error kinds to HTTP as Google's API
// design guide maps the gRPC codes the gRPC adapter gives them.
var domainErrors = []struct {
	kind   error
	status int
	code   string
}{
	{domain.ErrInvalidArgument, http.StatusBadRequest, CodeInvalidArgument},
	{domain.ErrNotFound, http.StatusNotFound, CodeNotFound},
	{domain.ErrPermissionDenied, http.StatusForbidden, CodePermissionDenied},
	{domain.ErrFailedPrecondition, http.StatusBadRequest, CodeFailedPrecondition},
	{domain.ErrAlreadyExists, http.StatusConflict, CodeConflict},
	{domain.ErrResourceExhausted, http.StatusTooManyRequests, CodeResourceExhausted},
}

// StatusOf is the HTTP status REST answers err with (500 for an error it
// does not know).
func StatusOf(err error) int {
	var e *Error
	if errors.As(fromQuery(err), &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}

// Error is an answer other than success: the HTTP status, a stable code,
// a message a person can act on and, for a bad parameter, its name.
type Error struct {
	Status  int
	Code    string
	Message string
	Param   string // the query, path or header parameter at fault, if any
}

func (e *Error) Error() string { return e.Message }

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Param     string `json:"param,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Parameter locations, for messages.
const (
	inQuery  = "query parameter"
	inPath   = "path parameter"
	inHeader = "header"
)

// badParam is a 400 naming the parameter and where it was.
func badParam(where, name, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Param: name,
		Message: fmt.Sprintf("%s %q: %s", where, name, fmt.Sprintf(format, args...))}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

func unavailable(format string, args ...any) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: fmt.Sprintf(format, args...)}
}

// fromQuery turns an error of a read model or the store into an answer:
// a page token the model refuses is the client's bad cursor; a closed
// store or a cancelled request is unavailable; one of the domain's error
// kinds is answered as domainErrors says; anything else is internal
// (logged by handleError, answered without details).
func fromQuery(err error) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, projections.ErrBadPageToken):
		return badParam(inQuery, "cursor", "%v; use the next_cursor of the previous page of the same list, with the same filters, or omit it to start again", err)
	case errors.Is(err, eventstore.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return unavailable("the server is shutting down or overloaded; retry shortly")
	}
	for _, d := range domainErrors {
		if errors.Is(err, d.kind) {
			return &Error{Status: d.status, Code: d.code, Message: err.Error()}
		}
	}
	return err
}

// handleError is echo's HTTPErrorHandler: every error answer goes out
// here, as an errorBody.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var e *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &he):
		e = fromHTTPError(he, c)
	default:
		s.log.Error("rest: internal error", "method", c.Request().Method, "path", c.Request().URL.Path,
			"request_id", requestIDOf(c), "err", err)
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
			Message: "internal error; the server logged the details under this request_id"}
	}
	body := errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Param: e.Param, RequestID: requestIDOf(c)}}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(e.Status)
	} else {
		werr = c.JSON(e.Status, body)
	}
	if werr != nil {
		s.log.Debug("rest: write error answer", "err", werr)
	}
}

// fromHTTPError maps echo's own errors (no route, wrong method) to ours.
func fromHTTPError(he *echo.HTTPError, c echo.Context) *Error {
	r := c.Request()
	switch he.Code {
	case http.StatusNotFound:
		return &Error{Status: he.Code, Code: CodeNotFound,
			Message: fmt.Sprintf("no such endpoint: %s %s; the API is described at /api/openapi.json", r.Method, r.URL.Path)}
	case http.StatusMethodNotAllowed:
		return &Error{Status: he.Code, Code: CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s is not allowed on %s; the API is read-only (GET)", r.Method, r.URL.Path)}
	}
	code := CodeInternal
	switch {
	case he.Code == http.StatusUnauthorized:
		code = CodeUnauthenticated
	case he.Code == http.StatusForbidden:
		code = CodePermissionDenied
	case he.Code == http.StatusServiceUnavailable:
		code = CodeUnavailable
	case he.Code >= 400 && he.Code < 500:
		code = CodeInvalidArgument
	}
	return &Error{Status: he.Code, Code: code, Message: fmt.Sprint(he.Message)}
}

package rest

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Rebuilder runs online rebuilds of the read models: a replay of the log
// into tables built aside, swapped in once caught up, while the server
// serves.
type Rebuilder interface {
	// StartRebuild starts one and returns its status at once; while one
	// runs it fails with ErrRebuildRunning, and where rebuilding online
	// makes no sense (read models in memory) with ErrRebuildUnsupported.
	StartRebuild(ctx context.Context) (RebuildStatus, error)
	// RebuildStatus is the running or the last rebuild's status.
	RebuildStatus() RebuildStatus
}

// Rebuild errors, answered 409.
var (
	ErrRebuildRunning     = errors.New("a rebuild is already running")
	ErrRebuildUnsupported = errors.New("this server cannot rebuild its read models online")
)

// Rebuild states.
const (
	RebuildIdle     = "idle"     // none since the server started
	RebuildRunning  = "running"  // replaying into the schema beside the live one
	RebuildSwapping = "swapping" // caught up; the live read model is adopting it
	RebuildDone     = "done"
	RebuildFailed   = "failed"
)

// RebuildStatus is GET /api/admin/rebuild's answer.
type RebuildStatus struct {
	State        string     `json:"state"`
	Schema       string     `json:"schema,omitempty"` // where the rebuild is built
	Position     uint64     `json:"position"`         // events replayed
	Head         uint64     `json:"head"`             // the log's last position when last looked at
	EventsPerSec float64    `json:"events_per_second"`
	ETASeconds   float64    `json:"eta_seconds"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	Error        string     `json:"error,omitempty"`
	Retired      string     `json:"retired_schema,omitempty"`
	SwappedAt    uint64     `json:"swapped_at_position,omitempty"` // the live checkpoint at the swap
}

func (s *Server) startRebuild(c echo.Context) error {
	if s.deps.Rebuild == nil {
		return unavailable("online rebuilds are not configured on this server")
	}
	st, err := s.deps.Rebuild.StartRebuild(c.Request().Context())
	switch {
	case errors.Is(err, ErrRebuildRunning), errors.Is(err, ErrRebuildUnsupported):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}
	case err != nil:
		return err
	}
	return c.JSON(http.StatusAccepted, st)
}

func (s *Server) getRebuild(c echo.Context) error {
	if s.deps.Rebuild == nil {
		return unavailable("online rebuilds are not configured on this server")
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, s.deps.Rebuild.RebuildStatus())
}

package rest

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// The server about itself: its recent log lines (/api/logs) and its
// effective configuration (/api/config).

// logLevels are the levels ?level= selects (a line at or above it).
var logLevels = newEnum[slog.Level](
	"debug", slog.LevelDebug,
	"info", slog.LevelInfo,
	"warn", slog.LevelWarn,
	"error", slog.LevelError,
)

// levelName is a log line's level as logLevels names it.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// LogLineJSON is one of the server's log lines.
type LogLineJSON struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Level string    `json:"level"` // debug, info, warn, error
	Text  string    `json:"text"`  // the message and its attributes, key=value
}

// LogListJSON is a page of /api/logs. LastSeq is the after of the next
// poll: every line at the level asked for up to it was in this page or
// an earlier one. Seqs count from 1 in each run of the server, which
// LogID names: a poller that finds another LogID than the last answer's
// (the server restarted) polls again from after=0.
type LogListJSON struct {
	LogID   string        `json:"log_id"`
	Lines   []LogLineJSON `json:"lines"`
	LastSeq uint64        `json:"last_seq"`
}

// getLogs serves the server's recent log lines with seq > after, at or
// above level (default info), oldest first.
func (s *Server) getLogs(c echo.Context) error {
	if s.deps.Logs == nil {
		return unavailable("the server's log lines are not kept in this build")
	}
	q := query{c}
	level := slog.LevelInfo
	if q.has("level") {
		l, e := logLevels.parse(inQuery, "level", q.get("level"))
		if e != nil {
			return e
		}
		level = l
	}
	var after uint64
	if q.has("after") {
		raw := q.get("after")
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			return badParam(inQuery, "after", "must be the last_seq of an earlier answer (a whole number ≥ 0; 0 = the oldest line kept); got %s", quote(raw))
		}
		after = n
	}
	limit, e := q.limit(DefaultHistoryLimit)
	if e != nil {
		return e
	}
	// The newest seq first: a line added after it has a greater seq, so a
	// page that is not full holds every line up to it.
	head := s.deps.Logs.Seq()
	lines := s.deps.Logs.Since(level, after, limit)
	out := LogListJSON{LogID: s.deps.Logs.ID(), Lines: make([]LogLineJSON, len(lines)), LastSeq: head}
	for i, l := range lines {
		out.Lines[i] = LogLineJSON{Seq: l.Seq, Time: l.Time.UTC(), Level: levelName(l.Level), Text: l.Text}
	}
	if n := len(lines); n > 0 && (n == limit || lines[n-1].Seq > head) {
		out.LastSeq = lines[n-1].Seq
	}
	return c.JSON(http.StatusOK, out)
}

// getConfig serves the effective configuration, secrets masked: each
// section of config.toml by key (config.Config.Map), the escrow wallet's
// address when settlement is on, and the server's version.
func (s *Server) getConfig(c echo.Context) error {
	if s.deps.Config == nil {
		return unavailable("the server's configuration is not available in this build")
	}
	out := map[string]any{}
	for sec, keys := range s.deps.Config.Map() { // Map redacts
		out[sec] = keys
	}
	if s.deps.EscrowAddress != "" && s.deps.Config.Blockchain.Enabled() {
		out["escrow_address"] = s.deps.EscrowAddress
	}
	out["version"] = s.opts.Version
	return c.JSON(http.StatusOK, out)
}

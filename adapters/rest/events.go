package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/labstack/echo/v4"
)

func (s *Server) jobEvents(c echo.Context) error {
	id, e := pathID(c, "job")
	if e != nil {
		return e
	}
	return s.history(c, "job", id, domain.JobStream(id))
}

func (s *Server) nodeEvents(c echo.Context) error {
	id, e := pathID(c, "node")
	if e != nil {
		return e
	}
	return s.history(c, "node", id, domain.NodeStream(id))
}

// history answers a page of a stream's events, oldest first, straight
// from the log: deleted jobs included, for audits.
func (s *Server) history(c echo.Context, kind, id, stream string) error {
	q := query{c}
	limit, e := q.limit(DefaultHistoryLimit)
	if e != nil {
		return e
	}
	from, _, e := decodeCursor(q, cursorHistory)
	if e != nil {
		return e
	}
	recs, err := s.deps.Store.ReadStream(c.Request().Context(), stream, from, limit+1)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return notFound("no %s %s in the log", kind, id)
	}
	if err != nil {
		return fromQuery(err)
	}
	out := EventListJSON{Stream: stream, Events: make([]EventJSON, 0, min(limit, len(recs)))}
	for i := range recs[:min(limit, len(recs))] {
		out.Events = append(out.Events, s.eventJSON(&recs[i]))
	}
	if n := fitJSON(s, out.Events); n < len(out.Events) {
		out.Events = out.Events[:n]
		out.NextCursor = encodeCursor(cursorHistory, recs[n-1].Revision+1)
	} else if len(recs) > limit {
		out.NextCursor = encodeCursor(cursorHistory, recs[limit-1].Revision+1)
	}
	return c.JSON(http.StatusOK, out)
}

// retryMillis is the reconnection delay the stream suggests to clients.
const retryMillis = 2000

// replayPage is how many events a stream's replay reads from the log at a
// time: its memory is one page.
const replayPage = 32

// streamStart returns the position a stream starts after: the
// Last-Event-ID header of a reconnecting client, else ?after=; set is
// false when neither is given.
func streamStart(c echo.Context) (after uint64, set bool, e *Error) {
	if h := c.Request().Header.Get("Last-Event-ID"); h != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(h), 10, 64)
		if err != nil {
			return 0, false, badParam(inHeader, "Last-Event-ID", "must be the id of an event this stream sent (a global log position, a whole number); got %s", quote(h))
		}
		return n, true, nil
	}
	q := query{c}
	if !q.has("after") {
		return 0, false, nil
	}
	raw := q.get("after")
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, false, badParam(inQuery, "after", "must be a global log position (a whole number ≥ 0; 0 = from the start); got %s", quote(raw))
	}
	return n, true, nil
}

// streamEvents sends the events appended to the log as Server-Sent
// Events, in log order: id is the event's global position, event its
// type, data its EventJSON. It starts after the Last-Event-ID header of a
// reconnecting client, else after ?after=, else at the read model's
// position (new events only). Comments keep the connection alive; the
// stream ends when the client goes away or the server shuts down.
func (s *Server) streamEvents(c echo.Context) error {
	after, set, e := streamStart(c)
	if e != nil {
		return e
	}
	if n := s.streams.Add(1); n > int64(s.opts.MaxStreams) {
		s.streams.Add(-1)
		return unavailable("too many event streams are open (at most %d); retry later", s.opts.MaxStreams)
	}
	defer s.streams.Add(-1)
	p, _ := auth.PrincipalFrom(c.Request().Context())
	release, ok := s.perStreams.Acquire(p.Subject)
	if !ok {
		return tooManyRequests(c, time.Duration(retryMillis)*time.Millisecond,
			"%q already has %d event streams open, the most one token subject may (limits.streams_per_principal); close one", p.Subject, s.perStreams.Max())
	}
	defer release()

	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	skipReplay := false // send only what comes after the log as it is now
	if !set {
		if s.deps.Head != nil {
			after = s.deps.Head()
		} else {
			skipReplay = true
		}
	}
	// A replay is read from the log a page at a time and written out
	// before the next page is read, so a stream holds one page however
	// far back it starts; the subscription then starts where the replay
	// ended, near the head.
	var page []eventstore.RecordedEvent
	if !skipReplay {
		var err error
		if page, err = s.deps.Store.ReadAll(ctx, after, replayPage); err != nil {
			return fromQuery(err)
		}
	}

	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream; charset=utf-8")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write(fmt.Appendf(nil, "retry: %d\n: cyxwiz event stream after position %d\n\n", retryMillis, after)) != nil {
		return nil
	}
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	// The stream ends when its token does: an `error` event says so, and
	// the client reconnects with a fresh token (and Last-Event-ID).
	var expired <-chan time.Time
	if !p.ExpiresAt.IsZero() {
		t := time.NewTimer(time.Until(p.ExpiresAt))
		defer t.Stop()
		expired = t.C
	}
	expiredFrame := []byte("event: error\ndata: {\"code\":\"" + CodeUnauthenticated + "\",\"message\":\"the stream's token expired; reconnect with a fresh token and Last-Event-ID\"}\n\n")
	// While replaying, the closed channel keeps the next page ready; the
	// subscription starts once a page comes back short.
	replaying, subC := make(chan struct{}), (<-chan eventstore.Message)(nil)
	close(replaying)
	var sub eventstore.Subscription
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	// replay writes a page; false: the stream is over.
	replay := func(page []eventstore.RecordedEvent) bool {
		for i := range page {
			if write(s.frame(&page[i])) != nil {
				return false
			}
		}
		if len(page) > 0 {
			after = page[len(page)-1].Position
		}
		if !skipReplay && len(page) == replayPage {
			return true
		}
		replaying = nil
		var err error
		if sub, err = s.deps.Store.SubscribeAll(ctx, after); err != nil {
			s.log.Warn("rest: event stream subscription", "request_id", requestIDOf(c), "err", err)
			return false
		}
		subC = sub.C()
		return true
	}
	if !replay(page) {
		return nil
	}
	page = nil // one page held at a time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		case <-expired:
			_ = write(expiredFrame)
			return nil
		case <-replaying:
			page, err := s.deps.Store.ReadAll(ctx, after, replayPage)
			if err != nil {
				s.log.Warn("rest: event stream replay", "request_id", requestIDOf(c), "err", err)
				return nil
			}
			if !replay(page) {
				return nil
			}
		case <-heartbeat.C:
			if write([]byte(": heartbeat\n\n")) != nil {
				return nil
			}
		case m, ok := <-subC:
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					s.log.Warn("rest: event stream subscription ended", "request_id", requestIDOf(c), "err", err)
				}
				return nil
			}
			var frame []byte
			switch {
			case m.CaughtUp:
				skipReplay = false
				frame = []byte(": live\n\n")
			case m.Event == nil || skipReplay:
				continue
			default:
				frame = s.frame(m.Event)
			}
			if write(frame) != nil {
				return nil
			}
		}
	}
}

// frame is one event as an SSE message.
func (s *Server) frame(r *eventstore.RecordedEvent) []byte {
	ev := s.eventJSON(r)
	data, err := json.Marshal(ev)
	if err != nil { // EventJSON holds only valid JSON: never happens
		data = []byte(`{}`)
	}
	name := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, ev.Event)
	return fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", r.Position, name, data)
}

package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	"github.com/labstack/echo/v4"
)

// Component states reported by health checks.
const (
	ComponentOK       = "ok"
	ComponentMemory   = "memory"   // an in-process stand-in: read models or leases kept in memory
	ComponentDisabled = "disabled" // switched off by configuration (blockchain.network = "disabled")
	ComponentDegraded = "degraded" // working, but slow or behind
	ComponentDown     = "down"
)

// Component is the state of one dependency, with an optional detail.
type Component struct {
	Status string
	Detail string
}

// critical components: the server cannot serve without them.
var critical = []string{"eventstore", "database"}

// StoreCheck probes the event store with a read.
func StoreCheck(ctx context.Context, store eventstore.Store) Component {
	_, err := store.ReadStream(ctx, "$health-probe", 0, 1)
	switch {
	case err == nil, errors.Is(err, eventstore.ErrStreamNotFound):
		return Component{Status: ComponentOK}
	case errors.Is(err, eventstore.ErrClosed):
		return Component{Status: ComponentDown, Detail: "the event store is closed"}
	}
	return Component{Status: ComponentDown, Detail: err.Error()}
}

// Overall status of /api/health.
const (
	StatusHealthy   = "healthy"
	StatusDegraded  = "degraded"
	StatusUnhealthy = "unhealthy"
)

// overall is unhealthy when a critical component is down, degraded when
// any component is down or degraded, else healthy.
func overall(comps map[string]Component) string {
	status := StatusHealthy
	for name, c := range comps {
		switch c.Status {
		case ComponentDown:
			for _, cr := range critical {
				if name == cr {
					return StatusUnhealthy
				}
			}
			status = StatusDegraded
		case ComponentDegraded:
			status = StatusDegraded
		}
	}
	return status
}

func (s *Server) getHealth(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.opts.HealthTimeout)
	defer cancel()
	var comps map[string]Component
	if s.deps.Health != nil {
		comps = s.deps.Health(ctx)
	} else {
		comps = map[string]Component{"eventstore": StoreCheck(ctx, s.deps.Store)}
	}
	now := s.deps.Now()
	out := HealthJSON{Status: overall(comps), Components: make(map[string]string, len(comps)),
		UptimeSeconds: int64(max(0, now.Sub(s.started).Seconds())), Version: s.opts.Version, Time: now.UTC()}
	for name, comp := range comps {
		out.Components[name] = comp.Status
		if comp.Detail != "" {
			if out.Details == nil {
				out.Details = map[string]string{}
			}
			out.Details[name] = comp.Detail
		}
	}
	code := http.StatusOK
	if out.Status == StatusUnhealthy {
		code = http.StatusServiceUnavailable
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(code, out)
}

func (s *Server) getOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", s.doc)
}

func (s *Server) getStats(c echo.Context) error {
	if s.deps.Stats == nil {
		return unavailable("network statistics are not available in this build")
	}
	now := s.deps.Now()
	st, err := s.deps.Stats.NetworkStats(c.Request().Context(), now)
	if err != nil {
		return fromQuery(err)
	}
	return c.JSON(http.StatusOK, statsJSON(&st, now))
}

func (s *Server) listJobs(c echo.Context) error {
	q := query{c}
	f := projections.JobFilter{}
	var e *Error
	if f.Statuses, e = q.statuses(); e != nil {
		return e
	}
	if q.has("type") {
		t, e := jobTypes.parse(inQuery, "type", q.get("type"))
		if e != nil {
			return e
		}
		f.Type = &t
	}
	if f.Owner, e = q.text("owner"); e != nil {
		return e
	}
	if f.PageSize, e = q.limit(DefaultLimit); e != nil {
		return e
	}
	f.PageToken = q.get("cursor")
	if q.has("cursor") && f.PageToken == "" {
		return badParam(inQuery, "cursor", "must not be empty; omit it to start from the first page")
	}
	jobs, next, total, err := s.deps.Jobs.ListJobs(c.Request().Context(), f)
	if err != nil {
		return fromQuery(err)
	}
	out := JobListJSON{Jobs: make([]JobJSON, len(jobs)), Total: total}
	if h, ok := s.deps.Jobs.(projections.JobHorizon); ok {
		out.RetainedAfterPosition = h.JobsHorizon()
	}
	for i := range jobs {
		out.Jobs[i] = jobJSON(&jobs[i])
	}
	n := fitJSON(s, out.Jobs)
	out.Jobs = out.Jobs[:n]
	_, out.NextCursor = projections.TrimJobs(f, jobs, next, n)
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getJob(c echo.Context) error {
	id, e := pathID(c, "job")
	if e != nil {
		return e
	}
	v, found, err := s.deps.Jobs.GetJob(c.Request().Context(), id)
	if err != nil {
		return fromQuery(err)
	}
	if !found {
		return notFound("no job %s (or it was deleted; its history stays at /api/jobs/%s/events)", id, id)
	}
	return c.JSON(http.StatusOK, jobJSON(&v))
}

func (s *Server) listNodes(c echo.Context) error {
	q := query{c}
	now := s.deps.Now()
	f := projections.NodeListFilter{Now: now}
	var e *Error
	offline := false
	if q.has("online") {
		online, e := booleans.parse(inQuery, "online", q.get("online"))
		if e != nil {
			return e
		}
		f.OnlineOnly, offline = online, !online
	}
	if q.has("device") {
		if f.Device, e = devices.parse(inQuery, "device", q.get("device")); e != nil {
			return e
		}
	}
	if f.Region, e = q.text("region"); e != nil {
		return e
	}
	if f.MinPrice, e = q.price("min_price"); e != nil {
		return e
	}
	if f.MaxPrice, e = q.price("max_price"); e != nil {
		return e
	}
	if f.MaxPrice > 0 && f.MinPrice > f.MaxPrice {
		return badParam(inQuery, "min_price", "must not exceed max_price (%g); got %g", f.MaxPrice, f.MinPrice)
	}
	if q.has("sort") {
		if f.Sort, e = nodeSorts.parse(inQuery, "sort", q.get("sort")); e != nil {
			return e
		}
	}
	// Price lists cheapest first; the other orders best first.
	f.Descending = f.Sort != projections.SortByPrice
	if q.has("order") {
		if f.Descending, e = orders.parse(inQuery, "order", q.get("order")); e != nil {
			return e
		}
	}
	limit, e := q.limit(DefaultLimit)
	if e != nil {
		return e
	}
	if q.has("cursor") && q.get("cursor") == "" {
		return badParam(inQuery, "cursor", "must not be empty; omit it to start from the first page")
	}
	var page projections.NodePage
	var err error
	if offline {
		page, err = s.listOffline(c.Request().Context(), f, limit, q.get("cursor"))
	} else {
		f.PageSize, f.PageToken = limit, q.get("cursor")
		page, err = s.deps.Nodes.ListNodes(c.Request().Context(), f)
	}
	if err != nil {
		return fromQuery(err)
	}
	nodes := make([]NodeJSON, len(page.Nodes))
	for i := range page.Nodes {
		nodes[i] = nodeJSON(&page.Nodes[i], now, s.opts.MaxJobsPerNode)
	}
	if n := fitJSON(s, nodes); n < len(nodes) {
		nodes = nodes[:n]
		if offline {
			f.OnlineOnly = false
			projections.TrimNodes(&page, f, s.opts.MaxJobsPerNode, n)
			page.Next = offlinePrefix + page.Next
		} else {
			projections.TrimNodes(&page, f, s.opts.MaxJobsPerNode, n)
		}
	}
	out := NodeListJSON{Nodes: nodes, Total: page.Total, Online: page.Online,
		NextCursor: page.Next, NetworkAvgPrice: page.NetworkAvgPrice, NetworkTotalCompute: page.NetworkTotalCompute}
	return c.JSON(http.StatusOK, out)
}

// listOffline lists the offline nodes f selects (online=false). The read
// model's filter knows only "online only", so this reads its pages of
// every node f selects and keeps the offline ones; the cursor is the read
// model's token of the last node returned, marked with offlinePrefix.
func (s *Server) listOffline(ctx context.Context, f projections.NodeListFilter, limit int, cursor string) (projections.NodePage, error) {
	if cursor != "" {
		token, ok := strings.CutPrefix(cursor, offlinePrefix)
		if !ok || token == "" {
			return projections.NodePage{}, badParam(inQuery, "cursor", "is not a cursor of the offline node list (online=false); use its next_cursor, or omit it to start again")
		}
		f.PageToken = token
	}
	f.OnlineOnly, f.PageSize = false, projections.MaxPageSize
	order := projections.NodeOrder{Sort: f.Sort, Descending: f.Descending, Now: f.Now, MaxJobs: s.opts.MaxJobsPerNode}
	var out projections.NodePage
	for first := true; ; first = false {
		p, err := s.deps.Nodes.ListNodes(ctx, f)
		if err != nil {
			return projections.NodePage{}, err
		}
		if first {
			out.Total, out.NetworkAvgPrice, out.NetworkTotalCompute = p.Total-p.Online, p.NetworkAvgPrice, p.NetworkTotalCompute
		}
		for i := range p.Nodes {
			if p.Nodes[i].Online {
				continue
			}
			if len(out.Nodes) == limit {
				last := &out.Nodes[limit-1]
				out.Next = offlinePrefix + projections.EncodeNodeToken(f, order.Key(last))
				return out, nil
			}
			out.Nodes = append(out.Nodes, p.Nodes[i])
		}
		if p.Next == "" || p.Next == f.PageToken {
			return out, nil
		}
		f.PageToken = p.Next
	}
}

func (s *Server) getNode(c echo.Context) error {
	id, e := pathID(c, "node")
	if e != nil {
		return e
	}
	v, found, err := s.deps.Nodes.GetNode(c.Request().Context(), id)
	if err != nil {
		return fromQuery(err)
	}
	if !found {
		return notFound("no node %s", id)
	}
	return c.JSON(http.StatusOK, nodeJSON(&v, s.deps.Now(), s.opts.MaxJobsPerNode))
}

func (s *Server) nodeMetrics(c echo.Context) error {
	id, e := pathID(c, "node")
	if e != nil {
		return e
	}
	q := query{c}
	from, e := q.time("from")
	if e != nil {
		return e
	}
	to, e := q.time("to")
	if e != nil {
		return e
	}
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		return badParam(inQuery, "from", "must not be after to (%s)", to.Format(time.RFC3339Nano))
	}
	limit, e := q.limit(DefaultHistoryLimit)
	if e != nil {
		return e
	}
	after, resume, e := decodeCursor(q, cursorMetrics)
	if e != nil {
		return e
	}
	if resume {
		if t := time.Unix(0, int64(after)); t.After(from) {
			from = t
		}
	}
	ctx := c.Request().Context()
	if _, found, err := s.deps.Nodes.GetNode(ctx, id); err != nil {
		return fromQuery(err)
	} else if !found {
		return notFound("no node %s", id)
	}
	points, err := s.deps.Nodes.NodeMetrics(ctx, id, from, to)
	if err != nil {
		return fromQuery(err)
	}
	out := MetricListJSON{NodeID: id, Metrics: make([]MetricPointJSON, 0, min(limit, len(points)))}
	for i := range points[:min(limit, len(points))] {
		out.Metrics = append(out.Metrics, metricJSON(points[i].At, &points[i].Sample))
	}
	if len(points) > limit {
		// Samples of a node are at least a sampling interval apart, so
		// the next page starts a nanosecond after the last one returned.
		out.NextCursor = encodeCursor(cursorMetrics, uint64(points[limit-1].At.UnixNano()+1))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) listPayments(c echo.Context) error {
	if s.deps.Payments == nil {
		return unavailable("payments are not available in this build")
	}
	q := query{c}
	status := ""
	if q.has("status") {
		var e *Error
		if status, e = paymentStatuses.parse(inQuery, "status", q.get("status")); e != nil {
			return e
		}
	}
	limit, e := q.limit(DefaultLimit)
	if e != nil {
		return e
	}
	var before time.Time
	if key, ok, e := decodeCursor(q, cursorPayments); e != nil {
		return e
	} else if ok {
		before = time.Unix(0, int64(key)).UTC()
	}
	ask := probeSize(limit)
	ps, err := s.deps.Payments.ListPayments(c.Request().Context(), status, ask, before)
	if err != nil {
		return fromQuery(err)
	}
	n, next := min(limit, len(ps)), more(len(ps), limit, ask)
	// The next page starts strictly before the cursor's time, so a page must
	// not end inside a run of payments updated at the same instant: it ends
	// before the run instead, or, when the run fills the page, takes all of
	// it (up to the largest page).
	if len(ps) > limit && ps[limit].UpdatedAt.Equal(ps[limit-1].UpdatedAt) {
		k := limit - 1
		for k > 0 && ps[k-1].UpdatedAt.Equal(ps[limit].UpdatedAt) {
			k--
		}
		if k > 0 {
			n = k
		} else {
			if ps, err = s.deps.Payments.ListPayments(c.Request().Context(), status, projections.MaxPageSize, before); err != nil {
				return fromQuery(err)
			}
			n = 0
			for n < len(ps) && ps[n].UpdatedAt.Equal(ps[0].UpdatedAt) {
				n++
			}
			next = n < len(ps) || len(ps) == projections.MaxPageSize
		}
	}
	out := PaymentListJSON{Payments: make([]PaymentJSON, 0, n)}
	for _, p := range ps[:n] {
		out.Payments = append(out.Payments, PaymentJSON{JobID: p.JobID, Status: p.Status, Amount: p.Amount, Lamports: p.Lamports,
			Payer: p.Payer, NodeID: p.NodeID, Payee: p.Payee, PayoutLamports: p.PayoutLamports, FeeLamports: p.FeeLamports,
			RefundLamports: p.RefundLamports, EscrowSignature: p.EscrowSignature, Signature: p.Signature, Reason: p.Reason,
			CreatedAt: ts(p.CreatedAt), UpdatedAt: ts(p.UpdatedAt), SettledAt: ts(p.SettledAt)})
	}
	// Within the byte budget too, again not ending inside a run (a run
	// that starts the page is kept whole, as a page always moves on).
	if fit := fitJSON(s, out.Payments); fit < n {
		k := fit
		for k > 0 && ps[k-1].UpdatedAt.Equal(ps[k].UpdatedAt) {
			k--
		}
		if k == 0 {
			for k = 1; k < n && ps[k].UpdatedAt.Equal(ps[0].UpdatedAt); k++ {
			}
		}
		out.Payments, n, next = out.Payments[:k], k, next || k < n
	}
	if next && n > 0 {
		out.NextCursor = encodeCursor(cursorPayments, uint64(ps[n-1].UpdatedAt.UnixNano()))
	}
	return c.JSON(http.StatusOK, out)
}

// probeSize is the page size to ask a read model for, to learn whether a
// page of limit items has a successor: one more, unless that passes the
// read models' largest page.
func probeSize(limit int) int {
	if limit < projections.MaxPageSize {
		return limit + 1
	}
	return limit
}

// more reports whether a page of limit items, asked as ask and answered
// with got, has a successor. At the largest page size a full page is
// taken to have one (the next may be empty).
func more(got, limit, ask int) bool {
	return got > limit || (ask == limit && got == limit)
}

func (s *Server) listActivity(c echo.Context) error {
	if s.deps.Activity == nil {
		return unavailable("the activity log is not available in this build")
	}
	q := query{c}
	limit, e := q.limit(DefaultLimit)
	if e != nil {
		return e
	}
	before, _, e := decodeCursor(q, cursorActivity)
	if e != nil {
		return e
	}
	ask := probeSize(limit)
	acts, err := s.deps.Activity.RecentActivity(c.Request().Context(), ask, before)
	if err != nil {
		return fromQuery(err)
	}
	out := ActivityListJSON{Activity: make([]ActivityJSON, 0, min(limit, len(acts)))}
	for _, a := range acts[:min(limit, len(acts))] {
		out.Activity = append(out.Activity, ActivityJSON{Position: a.Position, Time: a.At.UTC().Format(time.RFC3339Nano),
			Event: a.Event, Stream: a.Stream, JobID: a.JobID, NodeID: a.NodeID, Actor: a.Actor, Summary: a.Summary})
	}
	if n := fitJSON(s, out.Activity); n < len(out.Activity) {
		out.Activity = out.Activity[:n]
		out.NextCursor = encodeCursor(cursorActivity, out.Activity[n-1].Position)
	} else if more(len(acts), limit, ask) && acts[limit-1].Position > 1 {
		out.NextCursor = encodeCursor(cursorActivity, acts[limit-1].Position)
	}
	return c.JSON(http.StatusOK, out)
}

// fitJSON is how many of items fit in one answer (Options.MaxReplyBytes).
func fitJSON[T any](s *Server, items []T) int {
	return projections.FitBytes(len(items), s.opts.MaxReplyBytes, func(i int) int {
		b, err := json.Marshal(items[i])
		if err != nil {
			return 0
		}
		return len(b) + 1
	})
}

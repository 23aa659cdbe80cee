package memory

import (
	"context"
	"sort"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// NetworkStats implements projections.StatsQueries from counters the
// model keeps as it applies events: its cost does not grow with the jobs
// or the nodes. A zero now is the time of the call.
func (m *Model) NetworkStats(_ context.Context, now time.Time) (projections.NetworkStats, error) {
	hours, err := projections.StatsHours(projections.StatsWindow(projections.OrNow(now)))
	if err != nil {
		return projections.NetworkStats{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := projections.NetworkStats{NodesTotal: len(m.nodes), NodesOnline: m.nodesOnline}
	for t := range numTypes {
		for st := range numStatuses {
			n := m.allCounts[t][st] // deleted jobs are not counted
			s.JobsTotal += n
			switch domain.JobStatus(st) {
			case domain.JobStatusPending:
				s.JobsPending += n
			case domain.JobStatusAssigned, domain.JobStatusRunning:
				s.JobsRunning += n
			}
		}
	}
	s.SetHourly(m.hourly(hours))
	return s, nil
}

// HourlyStats implements projections.StatsQueries.
func (m *Model) HourlyStats(_ context.Context, from, to time.Time) ([]projections.HourStats, error) {
	hours, err := projections.StatsHours(from, to)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.hourly(hours), nil
}

// hourly returns the stats of hours, under m.mu.
func (m *Model) hourly(hours []time.Time) []projections.HourStats {
	out := make([]projections.HourStats, len(hours))
	for i, h := range hours {
		out[i] = m.hours[h.Unix()].Stats(h)
	}
	return out
}

// RecentActivity implements projections.ActivityQueries over the newest
// Config.MaxActivity lines; limit is a page size (projections.PageSize).
func (m *Model) RecentActivity(_ context.Context, limit int, before uint64) ([]projections.Activity, error) {
	size := projections.PageSize(limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	r := &m.activity
	end := r.len()
	if before > 0 {
		end = sort.Search(end, func(i int) bool { return r.at(i).Position >= before })
	}
	out := make([]projections.Activity, 0, min(size, end))
	for i := end - 1; i >= 0 && len(out) < size; i-- {
		a, _ := projections.ActivityOf(*r.at(i))
		out = append(out, a)
	}
	return out, nil
}

// ring is the bounded activity log: the envelopes of its lines in
// position order; once full, a new one overwrites the oldest. It keeps
// envelopes, not lines: a replay pushes every event of the log, and only
// the lines read are worth writing (projections.ActivityOf, at read time,
// is as pure as at apply time).
type ring struct {
	buf   []projections.Envelope
	start int // index of the oldest line
}

// keep returns the envelope the ring keeps for e, an event with a line.
// What it holds is mostly shared with the views (strings, the node's
// spec); a submission's initial data is not (the job view drops it) and
// can be a megabyte, so it is dropped here too, at the cost of a copy.
// TestActivityMatchesActivityOf checks that the lines stay those of the
// whole events.
func keep(e *projections.Envelope) projections.Envelope {
	k := *e
	if ev, ok := e.Event.(domain.JobSubmitted); ok && ev.Spec.InitialData != nil {
		ev.Spec.InitialData = nil
		k.Event = ev
	}
	return k
}

func (r *ring) len() int { return len(r.buf) }

// at returns the i-th oldest line.
func (r *ring) at(i int) *projections.Envelope {
	i += r.start
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return &r.buf[i]
}

// push adds e as the newest line when it has one
// (projections.InActivity), keeping at most limit; a line at or below the
// newest position is a repeat and is dropped.
func (r *ring) push(e *projections.Envelope, limit int) {
	if !projections.InActivity(e.Event) {
		return
	}
	n := len(r.buf)
	if n > 0 && e.Position <= r.at(n-1).Position {
		return
	}
	if n < limit {
		if n == cap(r.buf) { // grow by doubling, never past limit
			buf := make([]projections.Envelope, n, min(limit, max(64, 2*n)))
			copy(buf, r.buf)
			r.buf = buf
		}
		r.buf = append(r.buf, keep(e))
		return
	}
	r.buf[r.start] = keep(e)
	if r.start++; r.start == n {
		r.start = 0
	}
}

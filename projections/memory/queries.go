package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// GetJob implements projections.JobQueries.
// A job let go of (Config.KeepFinished) is read from Config.Archive.
func (m *Model) GetJob(ctx context.Context, id string) (projections.JobView, bool, error) {
	m.mu.RLock()
	v := m.jobs[id]
	if v != nil {
		defer m.mu.RUnlock()
		if v.Deleted {
			return projections.JobView{}, false, nil
		}
		return v.Clone(), true, nil
	}
	m.mu.RUnlock()
	a, ok, err := m.archived(ctx, id)
	if err != nil || !ok || a.Deleted {
		return projections.JobView{}, false, err
	}
	return a, true, nil
}

// ListJobs implements projections.JobQueries.
func (m *Model) ListJobs(_ context.Context, f projections.JobFilter) ([]projections.JobView, string, int, error) {
	after, err := projections.DecodeJobToken(f)
	if err != nil {
		return nil, "", 0, err
	}
	size := projections.PageSize(f.PageSize)
	m.mu.RLock()
	defer m.mu.RUnlock()
	src := m.order
	if f.Owner != "" {
		src = m.byOwner[f.Owner]
	}
	i := len(src)
	if after > 0 {
		i = sort.Search(len(src), func(k int) bool { return src[k].SubmittedPosition >= after })
	}
	total := m.total(&f)
	// From the newest job, the counters say how many matches are left to
	// find: the walk stops at the last one instead of at the oldest job, so
	// a filter that matches nothing costs nothing. Below a cursor the
	// matches above it are unknown, and the walk goes on to the end.
	left := len(src)
	if after == 0 {
		left = total
	}
	jobs := make([]projections.JobView, 0, min(size, total))
	for i--; i >= 0 && len(jobs) < size && left > 0; i-- {
		if f.Matches(src[i]) {
			jobs = append(jobs, src[i].Clone())
			left--
		}
	}
	next := ""
	for ; i >= 0 && left > 0; i-- {
		if f.Matches(src[i]) { // there is a next page
			next = projections.EncodeJobToken(f, jobs[len(jobs)-1].SubmittedPosition)
			break
		}
	}
	return jobs, next, total, nil
}

// total counts the jobs f selects, from the counters.
func (m *Model) total(f *projections.JobFilter) int {
	c := &m.allCounts
	if f.Owner != "" {
		if c = m.counts[f.Owner]; c == nil {
			return 0
		}
	}
	n := 0
	for t := range numTypes {
		if f.Type != nil && int(*f.Type) != t {
			continue
		}
		for s := range numStatuses {
			if f.MatchesStatus(domain.JobStatus(s)) {
				n += c[t][s]
			}
		}
	}
	return n
}

// WatchJob implements projections.JobWatcher. Watching a job the model
// does not know yet waits for it; a deleted job's channel is closed. A
// job let go of starts from its archived (finished) view.
func (m *Model) WatchJob(jobID string) (<-chan projections.JobUpdate, func()) {
	if a, ok, err := m.archived(context.Background(), jobID); err == nil && ok {
		if a.Deleted {
			return ended()
		}
		return m.hub.Watch(jobID, &a)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	v := m.jobs[jobID]
	if v != nil && v.Deleted {
		return ended()
	}
	return m.hub.Watch(jobID, v)
}

// ended is the watch of a deleted job: a closed channel.
func ended() (<-chan projections.JobUpdate, func()) {
	c := make(chan projections.JobUpdate)
	close(c)
	return c, func() {}
}

// GetNode implements projections.NodeQueries.
func (m *Model) GetNode(_ context.Context, id string) (projections.NodeView, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v := m.nodes[id]
	if v == nil {
		return projections.NodeView{}, false, nil
	}
	return v.Clone(), true, nil
}

// ListNodes implements projections.NodeQueries.
func (m *Model) ListNodes(_ context.Context, f projections.NodeListFilter) (projections.NodePage, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return projections.PageNodes(m.nodeOrder, f, m.cfg.MaxJobsPerNode)
}

// FindNodes implements projections.NodeQueries.
func (m *Model) FindNodes(_ context.Context, f projections.NodeFindFilter) (projections.NodeMatches, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return projections.MatchNodes(m.nodeOrder, f, m.cfg.MaxJobsPerNode)
}

// NodeMetrics implements projections.NodeQueries; an unknown node has none.
func (m *Model) NodeMetrics(_ context.Context, id string, from, to time.Time) ([]projections.MetricPoint, error) {
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return nil, fmt.Errorf("%w: the metrics range ends (%s) before it starts (%s)", domain.ErrInvalidArgument, to, from)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	pts := m.metrics[id]
	lo, hi := 0, len(pts)
	if !from.IsZero() {
		lo = sort.Search(len(pts), func(i int) bool { return !pts[i].At.Before(from) })
	}
	if !to.IsZero() {
		hi = sort.Search(len(pts), func(i int) bool { return pts[i].At.After(to) })
	}
	if lo >= hi {
		return []projections.MetricPoint{}, nil
	}
	return slices.Clone(pts[lo:hi]), nil
}

// PendingJobs implements projections.SchedulerSnapshot.
func (m *Model) PendingJobs() []domain.QueuedJob {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.queue.page(domain.QueuedJob{}, true, len(m.pending))
}

// Candidates implements projections.SchedulerSnapshot.
func (m *Model) Candidates() []domain.Candidate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return projections.Candidates(m.nodeOrder)
}

// Assignments implements projections.SchedulerSnapshot.
func (m *Model) Assignments() []domain.Assignment {
	m.mu.RLock()
	out := make([]domain.Assignment, 0, len(m.active))
	for _, v := range m.active {
		out = append(out, v.Assignment())
	}
	m.mu.RUnlock()
	projections.SortAssignments(out)
	return out
}

// Reservations implements projections.SchedulerSnapshot.
func (m *Model) Reservations() []domain.Reservation {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return projections.Reservations(m.nodeOrder)
}

// OnlineNodes implements projections.SchedulerSnapshot.
func (m *Model) OnlineNodes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return projections.OnlineNodes(m.nodeOrder)
}

// NodeOwner implements projections.SchedulerSnapshot.
func (m *Model) NodeOwner(id string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if v := m.nodes[id]; v != nil {
		return v.Owner, true
	}
	return "", false
}

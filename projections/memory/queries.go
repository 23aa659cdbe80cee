package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// GetJob implements projections.JobQueries.
func (m *Model) GetJob(_ context.Context, id string) (projections.JobView, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v := m.jobs[id]
	if v == nil || v.Deleted {
		return projections.JobView{}, false, nil
	}
	return v.Clone(), true, nil
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
// does not know yet waits for it; a deleted job's channel is closed.
func (m *Model) WatchJob(jobID string) (<-chan projections.JobUpdate, func()) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v := m.jobs[jobID]
	if v != nil && v.Deleted {
		c := make(chan projections.JobUpdate)
		close(c)
		return c, func() {}
	}
	return m.hub.Watch(jobID, v)
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

type keyed struct {
	v *projections.NodeView
	k projections.NodeCursor
	p int // preference (FindNodes)
}

func checkSort(s projections.NodeSort) error {
	if !s.Valid() {
		return fmt.Errorf("%w: unknown node sort order %d", domain.ErrInvalidArgument, s)
	}
	return nil
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// ListNodes implements projections.NodeQueries.
func (m *Model) ListNodes(_ context.Context, f projections.NodeListFilter) (projections.NodePage, error) {
	if err := checkSort(f.Sort); err != nil {
		return projections.NodePage{}, err
	}
	cursor, resume, err := projections.DecodeNodeToken(f)
	if err != nil {
		return projections.NodePage{}, err
	}
	order := projections.NodeOrder{Sort: f.Sort, Descending: f.Descending, Now: orNow(f.Now), MaxJobs: m.cfg.MaxJobsPerNode}
	size := projections.PageSize(f.PageSize)

	m.mu.RLock()
	defer m.mu.RUnlock()
	var page projections.NodePage
	var matches []keyed
	var networkNodes int
	var networkPrice float64
	for _, v := range m.nodeOrder {
		if v.Online && !v.Banned {
			networkNodes++
			networkPrice += v.Spec.Pricing.PricePerHour
			page.NetworkTotalCompute += v.Spec.ComputeScore
		}
		if !f.Matches(v) {
			continue
		}
		if v.Online {
			page.Online++
		}
		matches = append(matches, keyed{v: v, k: order.Key(v)})
	}
	if networkNodes > 0 {
		page.NetworkAvgPrice = networkPrice / float64(networkNodes)
	}
	page.Total = len(matches)
	slices.SortFunc(matches, func(a, b keyed) int { return order.Compare(a.k, b.k) })
	start := 0
	if resume {
		start = sort.Search(len(matches), func(i int) bool { return order.Compare(matches[i].k, cursor) > 0 })
	}
	end := min(start+size, len(matches))
	page.Nodes = make([]projections.NodeView, 0, end-start)
	for _, k := range matches[start:end] {
		page.Nodes = append(page.Nodes, k.v.Clone())
	}
	if end < len(matches) {
		page.Next = projections.EncodeNodeToken(f, matches[end-1].k)
	}
	return page, nil
}

// FindNodes implements projections.NodeQueries.
func (m *Model) FindNodes(_ context.Context, f projections.NodeFindFilter) (projections.NodeMatches, error) {
	if err := checkSort(f.Sort); err != nil {
		return projections.NodeMatches{}, err
	}
	limit := f.MaxResults
	switch {
	case limit <= 0:
		limit = projections.DefaultFindResults
	case limit > projections.MaxFindResults:
		limit = projections.MaxFindResults
	}
	order := projections.FindOrder(f.Sort, orNow(f.Now), m.cfg.MaxJobsPerNode)

	m.mu.RLock()
	defer m.mu.RUnlock()
	var res projections.NodeMatches
	var matches []keyed
	var sum float64
	for _, v := range m.nodeOrder {
		if !f.Matches(v) {
			continue
		}
		p := v.Spec.Pricing.PricePerHour
		if len(matches) == 0 || p < res.MinPrice {
			res.MinPrice = p
		}
		res.MaxPrice = max(res.MaxPrice, p)
		sum += p
		matches = append(matches, keyed{v: v, k: order.Key(v), p: f.Preference(v)})
	}
	res.TotalMatching = len(matches)
	if len(matches) > 0 {
		res.AvgPrice = sum / float64(len(matches))
	}
	slices.SortFunc(matches, func(a, b keyed) int {
		if a.p != b.p {
			return b.p - a.p
		}
		return order.Compare(a.k, b.k)
	})
	res.Nodes = make([]projections.NodeView, 0, min(limit, len(matches)))
	for _, k := range matches[:min(limit, len(matches))] {
		res.Nodes = append(res.Nodes, k.v.Clone())
	}
	return res, nil
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

// PendingJobs implements projections.SchedulerSnapshot. The ordered
// queue is cached: after a few changes it is patched in one pass (the
// changed jobs taken out, the new ones merged in), after many it is sorted
// again.
func (m *Model) PendingJobs() []domain.QueuedJob {
	m.mu.RLock()
	defer m.mu.RUnlock()
	q := &m.queue
	q.Lock()
	defer q.Unlock()
	switch {
	case m.pendFull:
		q.jobs = q.jobs[:0]
		for _, j := range m.pending {
			q.jobs = append(q.jobs, j)
		}
		slices.SortFunc(q.jobs, queueCompare)
		m.pendFull = false
		clear(m.pendDelta)
	case len(m.pendDelta) > 0:
		kept := q.jobs
		if m.pendLeft { // else every change is a job new to the queue
			kept = slices.DeleteFunc(q.jobs, func(j domain.QueuedJob) bool {
				_, changed := m.pendDelta[j.JobID]
				return changed
			})
		}
		var added []domain.QueuedJob
		for id := range m.pendDelta {
			if j, ok := m.pending[id]; ok {
				added = append(added, j)
			}
		}
		slices.SortFunc(added, queueCompare)
		q.jobs = mergeQueue(kept, added)
		clear(m.pendDelta)
	}
	m.pendLeft = false
	return slices.Clone(q.jobs)
}

// mergeQueue merges the ordered added into the ordered kept, in kept's
// array, from the back.
func mergeQueue(kept, added []domain.QueuedJob) []domain.QueuedJob {
	k, a := len(kept), len(added)
	out := slices.Grow(kept, a)[:k+a]
	i, j := k-1, a-1
	for w := k + a - 1; j >= 0; w-- {
		if i >= 0 && queueCompare(out[i], added[j]) > 0 {
			out[w] = out[i]
			i--
		} else {
			out[w] = added[j]
			j--
		}
	}
	return out
}

// Candidates implements projections.SchedulerSnapshot.
func (m *Model) Candidates() []domain.Candidate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]domain.Candidate, len(m.nodeOrder))
	for i, v := range m.nodeOrder {
		out[i] = v.Candidate()
	}
	return out
}

// Assignments implements projections.SchedulerSnapshot.
func (m *Model) Assignments() []domain.Assignment {
	m.mu.RLock()
	out := make([]domain.Assignment, 0, len(m.active))
	for _, v := range m.active {
		out = append(out, v.Assignment())
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b domain.Assignment) int {
		if c := a.AssignedAt.Compare(b.AssignedAt); c != 0 {
			return c
		}
		return strings.Compare(a.JobID, b.JobID)
	})
	return out
}

// Reservations implements projections.SchedulerSnapshot.
func (m *Model) Reservations() []domain.Reservation {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []domain.Reservation
	for _, v := range m.nodeOrder {
		out = append(out, v.Reservations...)
	}
	return out
}

// OnlineNodes implements projections.SchedulerSnapshot.
func (m *Model) OnlineNodes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for _, v := range m.nodeOrder {
		if v.Online {
			out = append(out, v.ID)
		}
	}
	return out
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

// queueCompare is domain.QueueLess as a comparison: higher priority, then
// older, then smaller id first.
func queueCompare(a, b domain.QueuedJob) int {
	if a.Priority != b.Priority {
		return int(b.Priority) - int(a.Priority)
	}
	if c := a.SubmittedAt.Compare(b.SubmittedAt); c != 0 {
		return c
	}
	return strings.Compare(a.JobID, b.JobID)
}

package projections

import (
	"slices"
	"strings"
	"sync"

	"github.com/cyxwiz/central-server/domain"
)

// QueueCache keeps a read model's queue (its pending jobs, in
// domain.QueueLess order) between scheduler passes: the jobs that entered
// or left the queue since it was sorted are patched in, and past a share
// of the queue it is sorted again. The PostgreSQL model uses it (the
// in-memory model keeps its queue in a B-tree and pages it, memory/queue.go). Reset and Touch run under the model's write lock; Jobs under its
// read lock (the cache's own lock orders concurrent readers).
type QueueCache struct {
	mu    sync.Mutex
	jobs  []domain.QueuedJob
	delta map[string]struct{}
	full  bool // rebuild from scratch
	left  bool // a job left the queue
}

// Reset makes the next Jobs sort the whole queue.
func (q *QueueCache) Reset() {
	q.full, q.left = true, false
	q.delta = make(map[string]struct{})
}

// Touch notes that job id entered or left the queue, which now holds
// queued jobs. Past a small share of the queue, a rebuild is cheaper than
// the delta.
func (q *QueueCache) Touch(id string, left bool, queued int) {
	if left {
		q.left = true
	}
	if q.full {
		return
	}
	if len(q.delta) >= max(1024, queued/8) {
		q.full = true
		clear(q.delta)
		return
	}
	q.delta[id] = struct{}{}
}

// Jobs returns the queue in order, brought up to date with pending (the
// model's pending jobs by id).
func (q *QueueCache) Jobs(pending map[string]domain.QueuedJob) []domain.QueuedJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.full:
		q.jobs = q.jobs[:0]
		for _, j := range pending {
			q.jobs = append(q.jobs, j)
		}
		slices.SortFunc(q.jobs, queueCompare)
		q.full = false
		clear(q.delta)
	case len(q.delta) > 0:
		kept := q.jobs
		if q.left { // else every change is a job new to the queue
			kept = slices.DeleteFunc(q.jobs, func(j domain.QueuedJob) bool {
				_, changed := q.delta[j.JobID]
				return changed
			})
		}
		var added []domain.QueuedJob
		for id := range q.delta {
			if j, ok := pending[id]; ok {
				added = append(added, j)
			}
		}
		slices.SortFunc(added, queueCompare)
		q.jobs = mergeQueue(kept, added)
		clear(q.delta)
	}
	q.left = false
	return slices.Clone(q.jobs)
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

// The scheduler's snapshot of the fleet, over every node in id order, as
// both read models answer it.

// Candidates returns every node as the placement sees it.
func Candidates(nodes []*NodeView) []domain.Candidate {
	out := make([]domain.Candidate, len(nodes))
	for i, v := range nodes {
		out[i] = v.Candidate()
	}
	return out
}

// Reservations returns every node's reserved slots.
func Reservations(nodes []*NodeView) []domain.Reservation {
	var out []domain.Reservation
	for _, v := range nodes {
		out = append(out, v.Reservations...)
	}
	return out
}

// OnlineNodes returns the ids of the nodes online.
func OnlineNodes(nodes []*NodeView) []string {
	var out []string
	for _, v := range nodes {
		if v.Online {
			out = append(out, v.ID)
		}
	}
	return out
}

// SortAssignments orders assignments oldest first, then by job id.
func SortAssignments(as []domain.Assignment) {
	slices.SortFunc(as, func(a, b domain.Assignment) int {
		if c := a.AssignedAt.Compare(b.AssignedAt); c != 0 {
			return c
		}
		return strings.Compare(a.JobID, b.JobID)
	})
}

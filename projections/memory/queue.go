package memory

import (
	"github.com/cyxwiz/central-server/domain"
	"github.com/google/btree"
)

// queue is the pending jobs in queue order (domain.QueueLess), in a
// B-tree: a job enters or leaves in O(log n), and the scheduler reads the
// head a page at a time (PendingJobsAfter) instead of copying the whole
// queue at every pass. Written under the model's write lock, read under
// its read lock (concurrent reads of a google/btree are safe).
type queue struct {
	t *btree.BTreeG[domain.QueuedJob]
}

func newQueue() queue { return queue{btree.NewG(32, queueLess)} }

func queueLess(a, b domain.QueuedJob) bool {
	return domain.QueueLess(a.Priority, a.SubmittedAt, a.JobID, b.Priority, b.SubmittedAt, b.JobID)
}

// set puts j in the queue in place of old (when had).
func (q queue) set(j, old domain.QueuedJob, had bool) {
	if had {
		q.t.Delete(old)
	}
	q.t.ReplaceOrInsert(j)
}

func (q queue) remove(j domain.QueuedJob) { q.t.Delete(j) }

// page returns up to n jobs after after (from the head when first), in
// order.
func (q queue) page(after domain.QueuedJob, first bool, n int) []domain.QueuedJob {
	if q.t.Len() == 0 || n <= 0 {
		return nil // as the PostgreSQL model answers an empty queue
	}
	out := make([]domain.QueuedJob, 0, min(n, q.t.Len()))
	take := func(j domain.QueuedJob) bool {
		if !first && !queueLess(after, j) {
			return true // after itself
		}
		out = append(out, j)
		return len(out) < n
	}
	if first {
		q.t.Ascend(take)
	} else {
		q.t.AscendGreaterOrEqual(after, take)
	}
	return out
}

// PendingJobsAfter implements commands.QueuePages: up to n jobs of the
// queue after after (from its head when first), in order.
func (m *Model) PendingJobsAfter(after domain.QueuedJob, first bool, n int) []domain.QueuedJob {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.queue.page(after, first, n)
}

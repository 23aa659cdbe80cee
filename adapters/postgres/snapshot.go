package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// mirror is the in-memory part of the model: every node, and the jobs the
// scheduler reads (the queue and the jobs on nodes). It is replaced or
// changed only under Model.mu's write lock, after a commit; node views
// are never changed in place, so a reader may keep one after unlocking.
type mirror struct {
	nodes   map[string]*projections.NodeView
	order   []*projections.NodeView // by id
	pending map[string]domain.QueuedJob
	active  map[string]domain.Assignment
	// counted holds the keys of job_counts' rows: a batch that passes a
	// job through a key already there needs no write for it.
	counted map[countKey]struct{}
}

func newMirror() *mirror {
	return &mirror{
		nodes:   make(map[string]*projections.NodeView),
		pending: make(map[string]domain.QueuedJob),
		active:  make(map[string]domain.Assignment),
		counted: make(map[countKey]struct{}),
	}
}

// putNode stores v (a new pointer) as the node's view.
func (mr *mirror) putNode(v *projections.NodeView) {
	if _, ok := mr.nodes[v.ID]; ok {
		i, _ := slices.BinarySearchFunc(mr.order, v.ID, byNodeID)
		mr.order[i] = v
	} else {
		i, _ := slices.BinarySearchFunc(mr.order, v.ID, byNodeID)
		mr.order = slices.Insert(mr.order, i, v)
	}
	mr.nodes[v.ID] = v
}

func byNodeID(x *projections.NodeView, id string) int { return strings.Compare(x.ID, id) }

// loadMirror reads the mirror in q's snapshot.
func loadMirror(ctx context.Context, q pgx.Tx) (*mirror, error) {
	mr := newMirror()
	rows, err := q.Query(ctx, `SELECT `+nodeColumns+` FROM nodes ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	for rows.Next() {
		v, err := scanNode(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		mr.nodes[v.ID] = v
		mr.order = append(mr.order, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	slices.SortFunc(mr.order, func(a, b *projections.NodeView) int { return strings.Compare(a.ID, b.ID) })
	if err := loadReservations(ctx, q, mr.nodes, nil); err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `SELECT id, owner, priority, required_device, estimated_memory, status, node_id, accepted,
		submitted_at, assigned_at, accepted_at, started_at
		FROM jobs WHERE (status = 0 AND NOT deleted) OR status IN (1, 2)`)
	if err != nil {
		return nil, fmt.Errorf("read open jobs: %w", err)
	}
	for rows.Next() {
		var id, owner, node string
		var prio, dev, status int16
		var mem int64
		var accepted bool
		var submitted, assigned, acceptedAt, started *time.Time
		if err := rows.Scan(&id, &owner, &prio, &dev, &mem, &status, &node, &accepted, &submitted, &assigned, &acceptedAt, &started); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read open jobs: %w", err)
		}
		if st := domain.JobStatus(status); st == domain.JobPending {
			mr.pending[id] = domain.QueuedJob{JobID: id, Priority: domain.Priority(prio), SubmittedAt: fromTS(submitted),
				Req: domain.Requirements{Device: domain.DeviceType(dev), Memory: mem}}
		} else {
			mr.active[id] = domain.Assignment{JobID: id, NodeID: node, Owner: owner, Status: st, Accepted: accepted,
				AssignedAt: fromTS(assigned), AcceptedAt: fromTS(acceptedAt), StartedAt: fromTS(started)}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read open jobs: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT owner, job_type, status FROM job_counts`)
	if err != nil {
		return nil, fmt.Errorf("read job counts: %w", err)
	}
	for rows.Next() {
		var k countKey
		var typ, status int16
		if err := rows.Scan(&k.owner, &typ, &status); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read job counts: %w", err)
		}
		k.typ, k.status = domain.JobType(typ), domain.JobStatus(status)
		mr.counted[k] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read job counts: %w", err)
	}
	return mr, nil
}

// loadReservations fills the reservations of nodes (all of them when ids
// is nil, else those in ids).
func loadReservations(ctx context.Context, q pgx.Tx, nodes map[string]*projections.NodeView, ids []string) error {
	sql := `SELECT node_id, job_id, reserved_at FROM node_reservations ORDER BY node_id, slot`
	var args []any
	if ids != nil {
		sql = `SELECT node_id, job_id, reserved_at FROM node_reservations WHERE node_id = ANY($1) ORDER BY node_id, slot`
		args = append(args, ids)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("read reservations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r domain.Reservation
		var at *time.Time
		if err := rows.Scan(&r.NodeID, &r.JobID, &at); err != nil {
			return fmt.Errorf("read reservations: %w", err)
		}
		r.At = fromTS(at)
		if v := nodes[r.NodeID]; v != nil {
			v.Reservations = append(v.Reservations, r)
		}
	}
	return rows.Err()
}

// queueCache is PendingJobs' ordered queue, kept up to date as the memory
// model keeps its own: the jobs that entered or left the queue since it
// was sorted are patched in, and past a share of the queue it is sorted
// again. Apply records changes under Model.mu's write lock; PendingJobs
// consumes them under the read lock and the cache's own lock.
type queueCache struct {
	sync.Mutex
	jobs  []domain.QueuedJob
	delta map[string]struct{}
	full  bool // rebuild from scratch
	left  bool // a job left the queue
}

func (q *queueCache) reset() {
	q.full, q.left = true, false
	q.delta = make(map[string]struct{})
}

// touch notes, under Model.mu's write lock, that id entered or left the
// queue of size n.
func (q *queueCache) touch(id string, left bool, n int) {
	if left {
		q.left = true
	}
	if q.full {
		return
	}
	if len(q.delta) >= max(1024, n/8) {
		q.full = true
		clear(q.delta)
		return
	}
	q.delta[id] = struct{}{}
}

// PendingJobs implements projections.SchedulerSnapshot.
func (m *Model) PendingJobs() []domain.QueuedJob {
	m.mu.RLock()
	defer m.mu.RUnlock()
	q := &m.queue
	q.Lock()
	defer q.Unlock()
	pending := m.mir.pending
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
		if q.left {
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

// mergeQueue merges the ordered added into the ordered kept, from the back.
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
	out := make([]domain.Candidate, len(m.mir.order))
	for i, v := range m.mir.order {
		out[i] = v.Candidate()
	}
	return out
}

// Assignments implements projections.SchedulerSnapshot.
func (m *Model) Assignments() []domain.Assignment {
	m.mu.RLock()
	out := make([]domain.Assignment, 0, len(m.mir.active))
	for _, a := range m.mir.active {
		out = append(out, a)
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
	for _, v := range m.mir.order {
		out = append(out, v.Reservations...)
	}
	return out
}

// OnlineNodes implements projections.SchedulerSnapshot.
func (m *Model) OnlineNodes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for _, v := range m.mir.order {
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
	if v := m.mir.nodes[id]; v != nil {
		return v.Owner, true
	}
	return "", false
}

package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

func (mr *mirror) removeNode(id string) {
	if _, ok := mr.nodes[id]; !ok {
		return
	}
	i, _ := slices.BinarySearchFunc(mr.order, id, byNodeID)
	mr.order = slices.Delete(mr.order, i, i+1)
	delete(mr.nodes, id)
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
		if st := domain.JobStatus(status); st == domain.JobStatusPending {
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

// PendingJobs implements projections.SchedulerSnapshot: the ordered queue
// is cached (projections.QueueCache), patched from the jobs each batch
// moved in or out of the mirror's pending set.
func (m *Model) PendingJobs() []domain.QueuedJob {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.queue.Jobs(m.mir.pending)
}

// Candidates implements projections.SchedulerSnapshot.
func (m *Model) Candidates() []domain.Candidate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return projections.Candidates(m.mir.order)
}

// Assignments implements projections.SchedulerSnapshot.
func (m *Model) Assignments() []domain.Assignment {
	m.mu.RLock()
	out := make([]domain.Assignment, 0, len(m.mir.active))
	for _, a := range m.mir.active {
		out = append(out, a)
	}
	m.mu.RUnlock()
	projections.SortAssignments(out)
	return out
}

// Reservations implements projections.SchedulerSnapshot.
func (m *Model) Reservations() []domain.Reservation {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return projections.Reservations(m.mir.order)
}

// OnlineNodes implements projections.SchedulerSnapshot.
func (m *Model) OnlineNodes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return projections.OnlineNodes(m.mir.order)
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

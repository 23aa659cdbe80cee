package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// jobWork is a job during a batch: its view, whether a row existed
// before the batch, and what it counted in job_counts then.
type jobWork struct {
	v       projections.JobView
	known   bool   // the view exists (before the batch, or opened in it)
	opened  bool   // by a JobSubmitted of this batch: the row is new
	spec    []byte // the stored spec, until decoded (see scanJobState)
	changed bool
}

// fullView completes the spec of a view read from the table, for the
// watchers.
func (jw *jobWork) fullView() error {
	if jw.spec == nil {
		return nil
	}
	err := decodeSpec(&jw.v, jw.spec)
	jw.spec = nil
	return err
}

type countKey struct {
	owner  string
	typ    domain.JobType
	status domain.JobStatus
}

// nodeWork is a node during a batch.
type nodeWork struct {
	v       projections.NodeView
	known   bool
	changed bool
	full    bool                  // its registration (owner, spec) changed: write the whole row
	deleted bool                  // NodeDeleted: its rows go
	base    *projections.NodeView // the mirror's view before the batch; nil for a new node
}

// batchWork is everything a batch changes, built in Go before one round
// trip writes it.
type batchWork struct {
	jobs     map[string]*jobWork
	jobOrder []string
	// counts are the changes to job_counts: every (owner, type, status) a
	// job that is not deleted passes through gets an entry, 0 or not, so
	// the rows of job_counts do not depend on where batches end.
	counts   map[countKey]int64
	nodes    map[string]*nodeWork
	nodeIDs  []string
	samples  sampleCols
	activity activityCols
	hours    map[time.Time]*projections.HourCounts
	updates  []projections.JobUpdate
	payments map[string]*paymentWork // by job id
	payOrder []string
}

// Apply implements projections.ReadModel: one transaction per batch. It
// locks the checkpoint row, skips the envelopes at or below it, reads the
// rows of the batch's jobs, folds the events in Go with projections'
// folds, writes every changed row with one statement per table, and saves
// the checkpoint, all in that transaction. A crash anywhere before the
// commit leaves nothing of the batch; after the commit, the mirror is
// updated and watchers get the batch's updates.
func (m *Model) Apply(ctx context.Context, batch []projections.Envelope, checkpoint uint64) error {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	if err := m.checkReady(); err != nil {
		return err
	}
	cur := m.Checkpoint()
	if !m.fedSet {
		m.fed, m.fedSet = cur, true
	}
	if checkpoint <= cur && !slices.ContainsFunc(batch, func(e projections.Envelope) bool { return e.Position > cur }) {
		// Nothing new: a replayed batch, or one another writer applied
		// (its watchers here still get the updates).
		m.catchUpWatchers(batch, m.fed, cur)
		m.fed = max(m.fed, lastPosition(batch))
		return nil
	}
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres read model: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	stored, err := readCheckpoint(ctx, tx, m.opts.Name, true)
	if err != nil {
		return fmt.Errorf("postgres read model: %w", err)
	}
	base := m.mir
	reloaded := false
	if stored < cur {
		// Batches this process committed are gone (a restored backup, or a
		// PostgreSQL crash with AsyncCommit): the runner, which resumes
		// from this process's position, would never deliver them again.
		err := fmt.Errorf("%w: stored %d, this process committed up to %d; restart to replay from the stored checkpoint",
			ErrCheckpointBehind, stored, cur)
		m.log.Error(err.Error(), "schema", m.schema)
		return err
	}
	if stored > cur {
		// Another writer moved the checkpoint: the mirror is stale.
		m.log.Warn("postgres read model: the checkpoint moved under this process; reloading", "schema", m.schema,
			"stored", stored, "mine", cur)
		if base, err = loadMirror(ctx, tx); err != nil {
			return fmt.Errorf("postgres read model: reload: %w", err)
		}
		reloaded = true
	}
	// From the fold, which decides who gets updates, to the commit, no
	// watch starts: a watcher registered in between would miss the batch.
	m.visMu.Lock()
	w, last, err := m.fold(ctx, tx, base, batch, stored)
	if err != nil {
		m.visMu.Unlock()
		return err
	}
	next := max(stored, checkpoint, last)
	if err := m.write(ctx, tx, w, base, next); err != nil {
		m.visMu.Unlock()
		return err
	}
	if m.beforeCommit != nil {
		m.beforeCommit(next)
	}
	if err := tx.Commit(ctx); err != nil {
		m.visMu.Unlock()
		return fmt.Errorf("postgres read model: commit: %w", err)
	}
	m.mu.Lock()
	if reloaded {
		m.mir = base
		m.queue.Reset()
	}
	m.publishMirror(w)
	m.checkpoint = next
	m.mu.Unlock()
	m.visMu.Unlock()
	if reloaded {
		m.catchUpWatchers(batch, m.fed, stored)
	}
	m.fed = max(m.fed, lastPosition(batch))
	for _, u := range w.updates {
		m.hub.Publish(u)
	}
	return nil
}

// lastPosition is the position of the batch's last envelope (0 if none).
func lastPosition(batch []projections.Envelope) uint64 {
	if len(batch) == 0 {
		return 0
	}
	return batch[len(batch)-1].Position
}

// catchUpWatchers gives this process's watchers the updates of the
// batch's job events in (from, to], which another writer applied.
func (m *Model) catchUpWatchers(batch []projections.Envelope, from, to uint64) {
	skipped := map[string][]projections.Envelope{}
	var order []string
	for _, e := range batch {
		if e.Position <= from || e.Position > to {
			continue
		}
		if id, ok := projections.JobIDOf(e.Event); ok && m.hub.Watching(id) {
			if skipped[id] == nil {
				order = append(order, id)
			}
			skipped[id] = append(skipped[id], e)
		}
	}
	for _, id := range order {
		m.hub.CatchUp(id, skipped[id])
	}
}

// fold folds the envelopes after from into views read from tx (jobs) and
// base (nodes). It returns the position of the last envelope folded.
func (m *Model) fold(ctx context.Context, tx pgx.Tx, base *mirror, batch []projections.Envelope, from uint64) (*batchWork, uint64, error) {
	w := &batchWork{
		jobs:     make(map[string]*jobWork),
		nodes:    make(map[string]*nodeWork),
		hours:    make(map[time.Time]*projections.HourCounts),
		counts:   make(map[countKey]int64),
		payments: make(map[string]*paymentWork),
	}
	jobs, payments := w.touched(batch, from)
	if err := readJobs(ctx, tx, w, jobs); err != nil {
		return nil, 0, fmt.Errorf("postgres read model: %w", err)
	}
	if err := readPayments(ctx, tx, w, payments); err != nil {
		return nil, 0, fmt.Errorf("postgres read model: %w", err)
	}
	var last uint64
	for i := range batch {
		e := &batch[i]
		if e.Position <= from {
			continue
		}
		last = e.Position
		if id, ok := projections.JobIDOf(e.Event); ok {
			if err := w.foldJob(id, e, m.hub.Watching); err != nil {
				return nil, 0, fmt.Errorf("postgres read model: %w", err)
			}
		}
		if id, ok := projections.NodeIDOf(e.Event); ok {
			w.foldNode(base, id, e)
		}
		if id, p, ok := projections.MetricPointOf(e.Event); ok && w.node(base, id).known {
			w.samples.add(e.Position, id, p)
		}
		if a, ok := projections.ActivityOf(*e); ok {
			w.activity.add(a)
		}
		if job, ok := projections.PaymentJobOf(e.Event); ok {
			w.foldPayment(job, e)
		}
	}
	return w, last, nil
}

// storedIDs are the ids of rows a batch touches, as stored (see text),
// with the batch's id of each.
type storedIDs struct {
	ids      []string
	byStored map[string]string
}

func (s *storedIDs) add(id string) {
	if s.byStored == nil {
		s.byStored = map[string]string{}
	}
	s.ids = append(s.ids, text(id))
	s.byStored[text(id)] = id
}

// touched makes a work entry for every job and payment the envelopes after
// from touch, and returns their ids, to read their rows.
func (w *batchWork) touched(batch []projections.Envelope, from uint64) (jobs, payments storedIDs) {
	for i := range batch {
		if batch[i].Position <= from {
			continue
		}
		if id, ok := projections.PaymentJobOf(batch[i].Event); ok && w.payments[id] == nil {
			w.payments[id] = &paymentWork{}
			payments.add(id)
		}
		if id, ok := projections.JobIDOf(batch[i].Event); ok && w.jobs[id] == nil {
			w.jobs[id] = &jobWork{}
			jobs.add(id)
		}
	}
	return jobs, payments
}

// read runs query (which takes the stored ids as $1) and hands each row
// to each; what names the rows in errors.
func (s *storedIDs) read(ctx context.Context, tx pgx.Tx, what, query string, each func(pgx.Row) error) error {
	if len(s.ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, query, s.ids)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// readJobs fills the work entries of the jobs with their stored rows.
func readJobs(ctx context.Context, tx pgx.Tx, w *batchWork, jobs storedIDs) error {
	return jobs.read(ctx, tx, "jobs", `SELECT `+jobColumns+` FROM jobs WHERE id = ANY($1)`, func(row pgx.Row) error {
		v, spec, err := scanJobState(row)
		if err != nil {
			return err
		}
		if jw := w.jobs[jobs.byStored[v.ID]]; jw != nil { // else two ids stored alike (see text): the first wins
			jw.v, jw.known, jw.spec = v, true, spec
		}
		return nil
	})
}

// foldJob folds e, an event of job id, into the batch's work: the hourly
// statistics, the job's view and the per-status counts, and an update for
// its watchers when watching(id).
func (w *batchWork) foldJob(id string, e *projections.Envelope, watching func(string) bool) error {
	jw := w.jobs[id]
	var before *projections.JobView
	if jw.known {
		before = &jw.v
	}
	if hour, d, ok := projections.StatsDelta(before, *e); ok {
		h := w.hours[hour]
		if h == nil {
			h = new(projections.HourCounts)
			w.hours[hour] = h
		}
		h.Add(d)
	}
	if _, opens := e.Event.(domain.JobSubmitted); jw.known == opens {
		return nil // an event of an unknown job, or a job opened twice
	}
	if !jw.changed {
		jw.changed = true
		w.jobOrder = append(w.jobOrder, id)
	}
	if jw.known && !jw.v.Deleted {
		w.counts[countKey{jw.v.Owner, jw.v.Spec.Type, jw.v.Status}]--
	}
	jw.opened = jw.opened || !jw.known
	jw.known = true
	projections.ApplyJob(&jw.v, *e)
	normJob(&jw.v)
	if !jw.v.Deleted {
		w.counts[countKey{jw.v.Owner, jw.v.Spec.Type, jw.v.Status}]++
	}
	if watching(id) {
		if err := jw.fullView(); err != nil {
			return err
		}
		w.updates = append(w.updates, projections.UpdateFor(&jw.v, *e))
	}
	return nil
}

// foldNode folds e, an event of node id, into the batch's work.
func (w *batchWork) foldNode(base *mirror, id string, e *projections.Envelope) {
	nw := w.node(base, id)
	if _, opens := e.Event.(domain.NodeRegistered); nw.known == opens {
		return // an event of an unknown node, or a node registered twice
	}
	if !nw.changed {
		nw.changed = true
		w.nodeIDs = append(w.nodeIDs, id)
	}
	switch e.Event.(type) {
	case domain.NodeRegistered, domain.NodeUpdated:
		nw.full = true
	}
	nw.known = true
	projections.ApplyNode(&nw.v, *e)
	normNode(&nw.v)
	if nw.v.Deleted {
		nw.known, nw.deleted = false, true // what follows on its stream is ignored
	}
}

// node returns the work entry of a node, from the mirror on first use.
func (w *batchWork) node(base *mirror, id string) *nodeWork {
	nw := w.nodes[id]
	if nw == nil {
		nw = &nodeWork{}
		if v := base.nodes[id]; v != nil {
			nw.v, nw.known, nw.base = *v, true, v // a shallow copy: folds replace, never change, slices
		}
		w.nodes[id] = nw
	}
	return nw
}

// write sends every change of w and the new checkpoint in one round trip.
func (m *Model) write(ctx context.Context, tx pgx.Tx, w *batchWork, base *mirror, checkpoint uint64) error {
	b := &pgx.Batch{}
	if m.opts.AsyncCommit {
		b.Queue(`SET LOCAL synchronous_commit = off`)
	}
	if err := w.queueJobs(b, base); err != nil {
		return fmt.Errorf("postgres read model: %w", err)
	}
	gone, err := w.queueNodes(b) // deleted nodes: their rows go after this batch's samples are in
	if err != nil {
		return fmt.Errorf("postgres read model: %w", err)
	}
	if len(w.samples.position) > 0 {
		b.Queue(insertSamples, w.samples.args()...)
	}
	if len(gone) > 0 {
		b.Queue(`DELETE FROM node_reservations WHERE node_id = ANY($1)`, gone)
		b.Queue(`DELETE FROM metric_samples WHERE node_id = ANY($1)`, gone)
		b.Queue(`DELETE FROM nodes WHERE id = ANY($1)`, gone)
	}
	if len(w.activity.position) > 0 {
		b.Queue(insertActivity, w.activity.args()...)
	}
	w.queueHours(b)
	if err := w.queuePayments(b); err != nil {
		return fmt.Errorf("postgres read model: %w", err)
	}
	b.Queue(`UPDATE checkpoints SET position = $2 WHERE name = $1`, m.opts.Name, int64(checkpoint))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres read model: write batch: %w", err)
	}
	return nil
}

// queueJobs queues the batch's job rows (new ones whole, the others' state)
// and the changed per-owner counts.
func (w *batchWork) queueJobs(b *pgx.Batch, base *mirror) error {
	if len(w.jobOrder) == 0 {
		return nil
	}
	var opened, updated jobCols
	for _, id := range w.jobOrder {
		jw := w.jobs[id]
		c := &updated
		if jw.opened {
			c = &opened
		}
		if err := c.add(&jw.v, jw.opened); err != nil {
			return err
		}
	}
	if len(opened.id) > 0 {
		b.Queue(upsertJobs, opened.args()...)
	}
	if len(updated.id) > 0 {
		b.Queue(updateJobStates, updated.stateArgs()...)
	}
	var owners []string
	var types, statuses []int16
	var ns []int64
	for k, d := range w.counts {
		if _, there := base.counted[k]; there && d == 0 {
			continue
		}
		typ, err1 := small(int(k.typ), "job type")
		st, err2 := small(int(k.status), "status")
		if err1 != nil || err2 != nil {
			return fmt.Errorf("job counts: %w", errors.Join(err1, err2))
		}
		owners, types, statuses, ns = append(owners, text(k.owner)), append(types, typ), append(statuses, st), append(ns, d)
	}
	if len(owners) > 0 {
		b.Queue(upsertCounts, owners, types, statuses, ns)
	}
	return nil
}

// queueNodes queues the batch's node rows (new or re-registered ones whole,
// the others' state) and the reservations of nodes whose reservations changed.
// It returns the deleted nodes, whose rows the caller deletes.
func (w *batchWork) queueNodes(b *pgx.Batch) (gone []string, err error) {
	if len(w.nodeIDs) == 0 {
		return nil, nil
	}
	var nc, sc nodeCols // new or whole rows; state changes only
	var rc reservationCols
	var resNodes []string
	for _, id := range w.nodeIDs {
		nw := w.nodes[id]
		if nw.deleted {
			gone = append(gone, text(id))
			continue
		}
		c := &sc
		if nw.full {
			c = &nc
		}
		if err := c.add(&nw.v, nw.full); err != nil {
			return nil, err
		}
		if nw.base == nil || !slices.Equal(nw.base.Reservations, nw.v.Reservations) {
			resNodes = append(resNodes, text(id))
			rc.add(&nw.v)
		}
	}
	if len(nc.id) > 0 {
		b.Queue(upsertNodes, nc.args()...)
	}
	if len(sc.id) > 0 {
		b.Queue(updateNodeStates, sc.stateArgs()...)
	}
	if len(resNodes) > 0 {
		b.Queue(`DELETE FROM node_reservations WHERE node_id = ANY($1)`, resNodes)
		if len(rc.node) > 0 {
			b.Queue(insertReservations, rc.node, rc.job, rc.slot, rc.at)
		}
	}
	return gone, nil
}

// queueHours queues the batch's additions to the hourly statistics.
func (w *batchWork) queueHours(b *pgx.Batch) {
	if len(w.hours) == 0 {
		return
	}
	var hours []time.Time
	var sub, comp, fail, canc, timed, dur []int64
	for h, c := range w.hours {
		hours = append(hours, h)
		sub, comp, fail = append(sub, int64(c.Submitted)), append(comp, int64(c.Completed)), append(fail, int64(c.Failed))
		canc, timed, dur = append(canc, int64(c.Cancelled)), append(timed, int64(c.Timed)), append(dur, c.DurationMs)
	}
	b.Queue(upsertHours, hours, sub, comp, fail, canc, timed, dur)
}

// publishMirror applies the batch's committed changes to the mirror;
// the caller holds mu's write lock.
func (m *Model) publishMirror(w *batchWork) {
	mr := m.mir
	for k := range w.counts {
		mr.counted[k] = struct{}{}
	}
	for _, id := range w.nodeIDs {
		if w.nodes[id].deleted {
			mr.removeNode(id)
			continue
		}
		v := w.nodes[id].v // a fresh copy, owned by the mirror from now on
		mr.putNode(&v)
	}
	for _, id := range w.jobOrder {
		v := &w.jobs[id].v
		_, wasPending := mr.pending[id]
		if v.Pending() {
			mr.pending[id] = v.QueuedJob() // fixed at submission: a job in the queue keeps its place
			if !wasPending {
				m.queue.Touch(id, false, len(mr.pending))
			}
		} else if wasPending {
			delete(mr.pending, id)
			m.queue.Touch(id, true, len(mr.pending))
		}
		if v.Active() {
			mr.active[id] = v.Assignment()
		} else {
			delete(mr.active, id)
		}
	}
}

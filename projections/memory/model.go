// Package memory is the in-memory read model: every view of projections,
// indexed for the API's lists and the scheduler's snapshot, with hourly
// counters for the network statistics and a bounded activity log, rebuilt
// by replaying the log at start. It is safe for concurrent use: a batch is
// applied under a write lock, so queries never see half of one.
package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// Config tunes a Model; zero fields take defaults.
type Config struct {
	// MaxJobsPerNode is the slot count per node behind free slots (sort by
	// availability); default projections.DefaultMaxJobsPerNode.
	MaxJobsPerNode int
	// MaxMetricPoints is how many samples are kept per node, the oldest
	// dropped first; default 1440 (a day at one a minute: about 115 kB a
	// node). PostgreSQL keeps them all.
	MaxMetricPoints int
	// WatchBuffer is the updates a job watcher may fall behind; default
	// projections.DefaultWatchBuffer.
	WatchBuffer int
	// MaxActivity is how many lines of the activity log are kept, the
	// oldest dropped first; default DefaultMaxActivity. PostgreSQL may
	// keep more.
	MaxActivity int
	// KeepFinished is how many finished jobs (completed, failed,
	// cancelled or deleted) stay in memory, the oldest submitted let go
	// first; 0 keeps them all. A job let go of is still answered by
	// GetJob and WatchJob through Archive; lists reach back to
	// JobsHorizon.
	KeepFinished int
	// Archive reads a job the model let go of (projections.LogArchive
	// reads its stream from the log); without one such a job is not found.
	Archive projections.JobArchive
}

// DefaultMaxActivity is the default of Config.MaxActivity: a few MB.
const DefaultMaxActivity = 10_000

// Model is the in-memory read model.
type Model struct {
	cfg Config
	hub *projections.Hub

	mu         sync.RWMutex
	checkpoint uint64

	jobs      map[string]*projections.JobView
	order     []*projections.JobView            // by SubmittedPosition
	byOwner   map[string][]*projections.JobView // by SubmittedPosition
	counts    map[string]*counts                // per owner, deleted jobs excluded
	allCounts counts
	pending   map[string]domain.QueuedJob // pending, not deleted
	active    map[string]*projections.JobView
	finished  int    // finished jobs in memory
	horizon   uint64 // highest SubmittedPosition of a job let go of

	nodes       map[string]*projections.NodeView
	nodeOrder   []*projections.NodeView // by id
	nodesOnline int
	metrics     map[string][]projections.MetricPoint

	hours    map[int64]projections.HourCounts // by the hour's Unix time; under 1 MB a year
	activity ring                             // the newest Config.MaxActivity lines
	payments payments

	queue queue // the pending jobs in order
}

var (
	_ projections.ReadModel       = (*Model)(nil)
	_ projections.Queries         = (*Model)(nil)
	_ projections.StatsQueries    = (*Model)(nil)
	_ projections.ActivityQueries = (*Model)(nil)
	_ projections.PaymentQueries  = (*Model)(nil)
	_ projections.WalletQueries   = (*Model)(nil)
)

const (
	numTypes    = int(domain.JobTypePreprocessing) + 1
	numStatuses = int(domain.JobStatusCancelled) + 1
)

// counts are job counts by type and status.
type counts [numTypes][numStatuses]int

func (c *counts) add(typ domain.JobType, status domain.JobStatus, d int) {
	t, s := int(typ), int(status)
	if t >= 0 && t < numTypes && s >= 0 && s < numStatuses {
		c[t][s] += d
	}
}

// New returns an empty model.
func New(cfg Config) *Model {
	if cfg.MaxJobsPerNode <= 0 {
		cfg.MaxJobsPerNode = projections.DefaultMaxJobsPerNode
	}
	if cfg.MaxMetricPoints <= 0 {
		cfg.MaxMetricPoints = 24 * 60
	}
	if cfg.MaxActivity <= 0 {
		cfg.MaxActivity = DefaultMaxActivity
	}
	m := &Model{
		cfg:      cfg,
		hub:      projections.NewHub(cfg.WatchBuffer),
		jobs:     make(map[string]*projections.JobView),
		byOwner:  make(map[string][]*projections.JobView),
		counts:   make(map[string]*counts),
		pending:  make(map[string]domain.QueuedJob),
		active:   make(map[string]*projections.JobView),
		nodes:    make(map[string]*projections.NodeView),
		metrics:  make(map[string][]projections.MetricPoint),
		hours:    make(map[int64]projections.HourCounts),
		payments: newPayments(),
		queue:    newQueue(),
	}
	return m
}

// Checkpoint implements projections.ReadModel.
func (m *Model) Checkpoint() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.checkpoint
}

// Apply implements projections.ReadModel. Watchers get the batch's
// updates once queries can see it.
func (m *Model) Apply(ctx context.Context, batch []projections.Envelope, checkpoint uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var updates []projections.JobUpdate
	m.mu.Lock()
	from := m.checkpoint
	for i := range batch {
		e := &batch[i]
		if e.Position <= from {
			continue
		}
		m.apply(e, &updates)
		checkpoint = max(checkpoint, e.Position)
	}
	m.checkpoint = max(m.checkpoint, checkpoint)
	m.evict()
	m.mu.Unlock()
	for _, u := range updates {
		m.hub.Publish(u)
	}
	return nil
}

func (m *Model) apply(e *projections.Envelope, updates *[]projections.JobUpdate) {
	m.activity.push(e, m.cfg.MaxActivity)
	if id, ok := projections.JobIDOf(e.Event); ok {
		if v := m.applyJob(id, e); v != nil && m.hub.Watching(id) {
			*updates = append(*updates, projections.UpdateFor(v, *e))
		}
	}
	if id, ok := projections.NodeIDOf(e.Event); ok {
		m.applyNode(id, e)
	}
	if id, p, ok := projections.MetricPointOf(e.Event); ok {
		m.addMetric(id, p)
	}
	if job, ok := projections.PaymentJobOf(e.Event); ok {
		m.payments.apply(job, e)
	}
}

// applyJob folds e into its job and keeps the indexes; it returns the
// view, or nil when e changed nothing.
func (m *Model) applyJob(id string, e *projections.Envelope) *projections.JobView {
	_, opens := e.Event.(domain.JobSubmitted)
	v := m.jobs[id]
	if hour, d, ok := projections.StatsDelta(v, *e); ok { // before the fold changes v
		k := hour.Unix()
		c := m.hours[k]
		c.Add(d)
		m.hours[k] = c
	}
	switch {
	case v == nil && !opens:
		m.deleteLetGo(id, e)
		return nil // an event of a job never submitted, or let go of
	case v != nil && opens:
		return nil // a stream opens once
	case v == nil:
		v = &projections.JobView{}
		projections.ApplyJob(v, *e)
		m.jobs[id] = v
		m.order = insertByPosition(m.order, v)
		m.byOwner[v.Owner] = insertByPosition(m.byOwner[v.Owner], v)
		m.count(v.Owner, v.Spec.Type, v.Status, 1)
		m.reindex(v, false, false)
		return v
	}
	status, deleted := v.Status, v.Deleted
	wasPending, wasActive, wasFinished := v.Pending(), v.Active(), finished(v)
	projections.ApplyJob(v, *e)
	switch isFinished := finished(v); {
	case isFinished && !wasFinished:
		m.finished++
	case wasFinished && !isFinished:
		m.finished--
	}
	if status != v.Status || deleted != v.Deleted {
		if !deleted {
			m.count(v.Owner, v.Spec.Type, status, -1)
		}
		if !v.Deleted {
			m.count(v.Owner, v.Spec.Type, v.Status, 1)
		}
		m.reindex(v, wasPending, wasActive)
	}
	return v
}

func insertByPosition(s []*projections.JobView, v *projections.JobView) []*projections.JobView {
	if n := len(s); n == 0 || s[n-1].SubmittedPosition < v.SubmittedPosition {
		return append(s, v) // the usual case: the log delivers in order
	}
	i, _ := slices.BinarySearchFunc(s, v.SubmittedPosition, func(x *projections.JobView, p uint64) int {
		switch {
		case x.SubmittedPosition < p:
			return -1
		case x.SubmittedPosition > p:
			return 1
		}
		return 0
	})
	return slices.Insert(s, i, v)
}

// count adds d to the job counts of (owner, typ, status); deleted jobs
// are not counted.
func (m *Model) count(owner string, typ domain.JobType, status domain.JobStatus, d int) {
	m.allCounts.add(typ, status, d)
	c := m.counts[owner]
	if c == nil {
		c = new(counts)
		m.counts[owner] = c
	}
	c.add(typ, status, d)
}

func (m *Model) reindex(v *projections.JobView, wasPending, wasActive bool) {
	if v.Pending() {
		j := v.QueuedJob()
		old, had := m.pending[v.ID]
		m.pending[v.ID] = j
		m.queue.set(j, old, had)
	} else if wasPending {
		m.queue.remove(m.pending[v.ID])
		delete(m.pending, v.ID)
	}
	if v.Active() {
		m.active[v.ID] = v
	} else if wasActive {
		delete(m.active, v.ID)
	}
}

func (m *Model) applyNode(id string, e *projections.Envelope) {
	_, opens := e.Event.(domain.NodeRegistered)
	v := m.nodes[id]
	switch {
	case v == nil && !opens, v != nil && opens:
		return
	case v == nil:
		v = &projections.NodeView{}
		m.nodes[id] = v
		i, _ := slices.BinarySearchFunc(m.nodeOrder, id, func(x *projections.NodeView, id string) int {
			switch {
			case x.ID < id:
				return -1
			case x.ID > id:
				return 1
			}
			return 0
		})
		projections.ApplyNode(v, *e)
		m.nodeOrder = slices.Insert(m.nodeOrder, i, v)
		m.countOnline(false, v.Online)
		return
	}
	was := v.Online
	projections.ApplyNode(v, *e)
	if v.Deleted {
		m.countOnline(was, false)
		delete(m.nodes, id)
		delete(m.metrics, id)
		m.nodeOrder = slices.DeleteFunc(m.nodeOrder, func(x *projections.NodeView) bool { return x.ID == id })
		return
	}
	m.countOnline(was, v.Online)
}

func (m *Model) countOnline(was, is bool) {
	switch {
	case is && !was:
		m.nodesOnline++
	case was && !is:
		m.nodesOnline--
	}
}

func (m *Model) addMetric(nodeID string, p projections.MetricPoint) {
	if m.nodes[nodeID] == nil {
		return
	}
	pts := m.metrics[nodeID]
	if n := len(pts); n == 0 || !p.At.Before(pts[n-1].At) {
		pts = append(pts, p)
	} else {
		i, _ := slices.BinarySearchFunc(pts, p, func(a, b projections.MetricPoint) int { return a.At.Compare(b.At) })
		for i < len(pts) && pts[i].At.Equal(p.At) {
			i++
		}
		pts = slices.Insert(pts, i, p)
	}
	if len(pts) > m.cfg.MaxMetricPoints {
		// Dropping from the front keeps appends amortized O(1); append
		// copies the kept part once the capacity runs out.
		pts = pts[len(pts)-m.cfg.MaxMetricPoints:]
	}
	m.metrics[nodeID] = pts
}

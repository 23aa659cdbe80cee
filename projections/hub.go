package projections

import (
	"github.com/cyxwiz/central-server/domain"
	"sync"
	"sync/atomic"
)

// DefaultWatchBuffer is the number of updates a watcher may fall behind
// before it loses the oldest.
const DefaultWatchBuffer = 64

// Hub fans job updates out to watchers without ever blocking the
// publisher: each watcher has a bounded buffer; when it is full the oldest
// update is dropped, so the newest (and the terminal one) always gets
// through. A watcher's channel is closed after a terminal update, or on
// cancel. A read model publishes after its batch is visible to queries.
type Hub struct {
	buffer int

	mu       sync.Mutex
	watchers map[string]map[*watcher]struct{}
	count    atomic.Int64
	dropped  atomic.Uint64
}

type watcher struct {
	c      chan JobUpdate
	last   uint64  // position of the last update queued
	view   JobView // the view of the last update queued
	closed bool
}

// NewHub returns a hub whose watchers buffer up to buffer updates
// (DefaultWatchBuffer when buffer < 1).
func NewHub(buffer int) *Hub {
	if buffer < 1 {
		buffer = DefaultWatchBuffer
	}
	return &Hub{buffer: buffer, watchers: make(map[string]map[*watcher]struct{})}
}

// Watching reports whether jobID has a watcher; it is cheap when nobody
// watches anything.
func (h *Hub) Watching(jobID string) bool {
	if h.count.Load() == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watchers[jobID]) > 0
}

// Dropped returns how many updates slow watchers lost.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Watch registers a watcher of jobID. initial, when not nil, is the job's
// current view: it is queued first, and later updates at or below its
// position are not delivered again. Call Watch while the read model
// cannot change (under its read lock), so no update falls between the
// snapshot and the registration.
func (h *Hub) Watch(jobID string, initial *JobView) (<-chan JobUpdate, func()) {
	w := &watcher{c: make(chan JobUpdate, h.buffer)}
	h.mu.Lock()
	if initial != nil {
		h.deliver(w, JobUpdate{Job: initial.Clone(), Log: "current status"})
	}
	if !w.closed {
		set := h.watchers[jobID]
		if set == nil {
			set = make(map[*watcher]struct{})
			h.watchers[jobID] = set
		}
		set[w] = struct{}{}
		h.count.Add(1)
	}
	h.mu.Unlock()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.remove(jobID, w)
			if !w.closed {
				w.closed = true
				close(w.c)
			}
		})
	}
	return w.c, cancel
}

// Publish delivers u to the watchers of its job, in the order Publish is
// called; it never blocks.
func (h *Hub) Publish(u JobUpdate) {
	if h.count.Load() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers[u.Job.ID] {
		h.deliver(w, u)
		if w.closed {
			h.remove(u.Job.ID, w)
		}
	}
}

// CatchUp gives the watchers of jobID the updates of events a read model
// did not fold itself because another process sharing its database had
// already applied them (several replicas, one PostgreSQL schema): each
// watcher's last view is carried through events, in order, and every
// update delivered as a fold would have. A watcher with no view yet
// starts at the job's JobSubmitted.
func (h *Hub) CatchUp(jobID string, events []Envelope) {
	if h.count.Load() == 0 || len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers[jobID] {
		v := w.view.Clone()
		for _, e := range events {
			if _, opens := e.Event.(domain.JobSubmitted); e.Position <= w.last || (v.ID == "") != opens {
				continue
			}
			ApplyJob(&v, e)
			h.deliver(w, UpdateFor(&v, e))
			if w.closed {
				h.remove(jobID, w)
				break
			}
		}
	}
}

// deliver queues u on w under h.mu, dropping w's oldest update when its
// buffer is full; a terminal update closes w.
func (h *Hub) deliver(w *watcher, u JobUpdate) {
	if w.closed || (u.Job.Position != 0 && u.Job.Position <= w.last) {
		return
	}
	for {
		select {
		case w.c <- u:
			w.last, w.view = u.Job.Position, u.Job
			if u.Terminal() {
				w.closed = true
				close(w.c)
			}
			return
		default:
		}
		// Full: only this goroutine sends (under h.mu), so after taking one
		// out there is room, unless the reader took one first, which is as good.
		select {
		case <-w.c:
			h.dropped.Add(1)
		default:
		}
	}
}

func (h *Hub) remove(jobID string, w *watcher) {
	set := h.watchers[jobID]
	if _, ok := set[w]; !ok {
		return
	}
	delete(set, w)
	h.count.Add(-1)
	if len(set) == 0 {
		delete(h.watchers, jobID)
	}
}

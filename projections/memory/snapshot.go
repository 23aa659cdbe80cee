package memory

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
)

// SnapshotVersion is the format of State. Any change to State or to a
// view it holds (projections.JobView, NodeView, PaymentView, HourCounts,
// MetricPoint) needs a new number: a snapshot of another number is
// ignored and the log replayed.
const SnapshotVersion = 1

// EventCodec encodes the events the activity log keeps, for a snapshot
// (commands.NewCodec's registry is one).
type EventCodec interface {
	Encode(v any) (typeName string, data []byte, err error)
	Decode(typeName string, data []byte) (any, error)
}

// State is everything the model holds at one log position (Checkpoint):
// a model restored from it and fed the log after Checkpoint answers every
// query as one fed the whole log. Its fields are for encoding (gob).
type State struct {
	Checkpoint uint64
	Horizon    uint64                // see Model.JobsHorizon
	Jobs       []projections.JobView // in memory, by SubmittedPosition
	AllCounts  counts
	Counts     map[string]counts // per owner, evicted jobs included
	Nodes      []projections.NodeView
	Metrics    map[string][]projections.MetricPoint
	Hours      map[int64]projections.HourCounts
	Activity   []ActivityRecord // oldest first
	Payments   []projections.PaymentView
	Wallets    map[string][]string
}

// ActivityRecord is one line of the activity log as the log recorded it.
type ActivityRecord struct {
	Type     string
	Data     []byte
	Stream   string
	Revision uint64
	Position uint64
	Recorded time.Time
	Metadata eventstore.Metadata
}

// Snapshot copies the model's state. It holds the read lock while it
// copies (Apply waits; queries do not), not while the copy is encoded:
// the views it copies are never changed in place (projections.ApplyJob,
// ApplyNode and ApplyPayment replace their maps and slices).
func (m *Model) Snapshot(codec EventCodec) (*State, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := &State{
		Checkpoint: m.checkpoint, Horizon: m.horizon, AllCounts: m.allCounts,
		Jobs:     make([]projections.JobView, len(m.order)),
		Counts:   make(map[string]counts, len(m.counts)),
		Nodes:    make([]projections.NodeView, len(m.nodeOrder)),
		Metrics:  make(map[string][]projections.MetricPoint, len(m.metrics)),
		Hours:    maps.Clone(m.hours),
		Activity: make([]ActivityRecord, m.activity.len()),
		Payments: make([]projections.PaymentView, 0, len(m.payments.views)),
		Wallets:  make(map[string][]string, len(m.payments.wallets)),
	}
	for i, v := range m.order {
		st.Jobs[i] = *v
	}
	for owner, c := range m.counts {
		st.Counts[owner] = *c
	}
	for i, v := range m.nodeOrder {
		st.Nodes[i] = *v
	}
	for id, pts := range m.metrics {
		st.Metrics[id] = slices.Clone(pts) // a late sample is inserted in place
	}
	for i := range st.Activity {
		e := m.activity.at(i)
		typ, data, err := codec.Encode(e.Event)
		if err != nil {
			return nil, fmt.Errorf("snapshot: activity line at %d: %w", e.Position, err)
		}
		st.Activity[i] = ActivityRecord{Type: typ, Data: data, Stream: e.Stream, Revision: e.Revision,
			Position: e.Position, Recorded: e.Recorded, Metadata: e.Metadata}
	}
	for _, v := range m.payments.views {
		st.Payments = append(st.Payments, *v)
	}
	for w, jobs := range m.payments.wallets {
		st.Wallets[w] = slices.Collect(maps.Keys(jobs))
	}
	return st, nil
}

// Restore loads st into m, which must be new (nothing applied yet); the
// model then goes on from st.Checkpoint.
func (m *Model) Restore(st *State, codec EventCodec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checkpoint != 0 || len(m.jobs) > 0 || len(m.nodes) > 0 {
		return errors.New("restore: the model is not empty")
	}
	lines := make([]projections.Envelope, 0, min(len(st.Activity), m.cfg.MaxActivity))
	for _, a := range st.Activity[max(0, len(st.Activity)-m.cfg.MaxActivity):] {
		v, err := codec.Decode(a.Type, a.Data)
		if err != nil {
			return fmt.Errorf("restore: activity line at %d: %w", a.Position, err)
		}
		ev, ok := v.(domain.Event)
		if !ok {
			return fmt.Errorf("restore: activity line at %d: %T is not an event", a.Position, v)
		}
		lines = append(lines, projections.Envelope{Event: ev, Stream: a.Stream, Revision: a.Revision,
			Position: a.Position, Recorded: a.Recorded, Metadata: a.Metadata})
	}
	m.activity = ring{buf: lines}

	m.checkpoint, m.horizon, m.allCounts = st.Checkpoint, st.Horizon, st.AllCounts
	m.order = make([]*projections.JobView, 0, len(st.Jobs))
	for i := range st.Jobs {
		v := &st.Jobs[i]
		m.jobs[v.ID] = v
		m.order = append(m.order, v)
		m.byOwner[v.Owner] = append(m.byOwner[v.Owner], v)
		m.reindex(v, false, false)
		if finished(v) {
			m.finished++
		}
	}
	for owner, c := range st.Counts {
		m.counts[owner] = &c
	}
	m.nodeOrder = make([]*projections.NodeView, 0, len(st.Nodes))
	for i := range st.Nodes {
		v := &st.Nodes[i]
		m.nodes[v.ID] = v
		m.nodeOrder = append(m.nodeOrder, v)
		m.countOnline(false, v.Online)
	}
	for id, pts := range st.Metrics {
		m.metrics[id] = pts
	}
	if st.Hours != nil {
		m.hours = st.Hours
	}
	for i := range st.Payments {
		v := &st.Payments[i]
		m.payments.views[v.JobID] = v
	}
	for w, jobs := range st.Wallets {
		set := make(map[string]struct{}, len(jobs))
		for _, j := range jobs {
			set[j] = struct{}{}
		}
		m.payments.wallets[w] = set
	}
	return nil
}

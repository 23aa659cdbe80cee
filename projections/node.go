package projections

import (
	"slices"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// DefaultMaxJobsPerNode is the scheduler's default slot count per node
// (config.toml scheduler.max_jobs_per_node), used for free slots.
const DefaultMaxJobsPerNode = 5

// NodeView is a node as the read side shows it.
type NodeView struct {
	ID           string
	Owner        string
	Spec         domain.NodeSpec
	Online       bool
	Banned       bool
	Deleted      bool    // an operator deleted it: read models drop it
	Reputation   float64 // 0..1
	Reservations []domain.Reservation

	RegisteredAt  time.Time
	WentOnlineAt  time.Time // start of the current (or last) online period
	WentOfflineAt time.Time
	// OnlineDuration is the total of the finished online periods; see Uptime.
	OnlineDuration time.Duration
	LastSeen       time.Time // time of the latest event about the node

	JobsCompleted int64 // JobCompleted events of jobs on this node
	ComputeMs     int64 // their total compute time

	LastMetrics   *domain.MetricSample // latest sample, nil before the first
	LastMetricsAt time.Time

	Revision uint64 // revision of the node stream's last event folded
	Position uint64 // global position of the last event folded
}

// Clone returns a copy that shares nothing mutable with v.
func (v NodeView) Clone() NodeView {
	v.Spec.Devices = slices.Clone(v.Spec.Devices)
	v.Spec.SupportedFormats = slices.Clone(v.Spec.SupportedFormats)
	v.Spec.AvailableRuntimes = slices.Clone(v.Spec.AvailableRuntimes)
	v.Spec.PublicKey = slices.Clone(v.Spec.PublicKey)
	v.Reservations = slices.Clone(v.Reservations)
	if v.LastMetrics != nil {
		m := *v.LastMetrics
		v.LastMetrics = &m
	}
	return v
}

// OnlineFor returns how long the node has been online in total, up to now.
func (v *NodeView) OnlineFor(now time.Time) time.Duration {
	d := v.OnlineDuration
	if v.Online && now.After(v.WentOnlineAt) {
		d += now.Sub(v.WentOnlineAt)
	}
	return d
}

// Uptime returns the percentage (0..100) of the time since registration
// that the node was online, at now.
func (v *NodeView) Uptime(now time.Time) float64 {
	span := now.Sub(v.RegisteredAt)
	if span <= 0 {
		if v.Online {
			return 100
		}
		return 0
	}
	return min(100, max(0, 100*float64(v.OnlineFor(now))/float64(span)))
}

// ActiveJobs is the number of job slots the node holds.
func (v *NodeView) ActiveJobs() int { return len(v.Reservations) }

// FreeSlots is the number of jobs the node could take now: none when it
// is offline or banned.
func (v *NodeView) FreeSlots(maxJobsPerNode int) int {
	if !v.Online || v.Banned {
		return 0
	}
	return max(0, maxJobsPerNode-len(v.Reservations))
}

// ComputeHours is the node's total compute time in hours.
func (v *NodeView) ComputeHours() float64 {
	return float64(v.ComputeMs) / float64(time.Hour/time.Millisecond)
}

// Candidate returns the node as the scheduler sees it. Devices is shared
// with v.
func (v *NodeView) Candidate() domain.Candidate {
	return domain.Candidate{
		NodeID: v.ID, Online: v.Online, Banned: v.Banned, Devices: v.Spec.Devices,
		CPUCores: v.Spec.CPUCores, RAMTotal: v.Spec.RAMTotal, RAMAvailable: v.Spec.RAMAvailable,
		Reputation: v.Reputation, ActiveJobs: len(v.Reservations),
	}
}

// ApplyNode folds one envelope into v: the node's own events, and a
// JobCompleted of a job it ran. Other events leave v unchanged. Slices v
// holds are replaced, never changed in place, so earlier copies stay valid.
func ApplyNode(v *NodeView, e Envelope) {
	switch ev := e.Event.(type) {
	case domain.NodeRegistered:
		*v = NodeView{ID: ev.NodeID, Owner: ev.Owner, Spec: ev.Spec, Reputation: ev.Reputation,
			RegisteredAt: ev.At, LastSeen: ev.At}
	case domain.NodeUpdated:
		v.Spec = ev.Spec
		v.seen(ev.At)
	case domain.NodeWentOnline:
		if !v.Online {
			v.Online, v.WentOnlineAt = true, ev.At
		}
		v.seen(ev.At)
	case domain.NodeWentOffline:
		if v.Online {
			if d := ev.At.Sub(v.WentOnlineAt); d > 0 {
				v.OnlineDuration += d
			}
			v.Online = false
		}
		v.WentOfflineAt = ev.At
		v.seen(ev.At)
	case domain.NodeMetricsSampled:
		s := ev.Sample
		v.LastMetrics, v.LastMetricsAt = &s, ev.At
		v.seen(ev.At)
	case domain.ReputationAdjusted:
		v.Reputation = ev.Score
	case domain.NodeJobReserved:
		if !slices.ContainsFunc(v.Reservations, func(r domain.Reservation) bool { return r.JobID == ev.JobID }) {
			rs := make([]domain.Reservation, len(v.Reservations), len(v.Reservations)+1)
			copy(rs, v.Reservations)
			v.Reservations = append(rs, domain.Reservation(ev))
		}
	case domain.NodeJobReleased:
		if i := slices.IndexFunc(v.Reservations, func(r domain.Reservation) bool { return r.JobID == ev.JobID }); i >= 0 {
			v.Reservations = slices.Concat(v.Reservations[:i], v.Reservations[i+1:])
		}
	case domain.NodeBanned:
		v.Banned = true
	case domain.NodeUnbanned:
		v.Banned = false
	case domain.NodeDeleted:
		// Read models drop a deleted node (Deleted tells them to); the
		// log keeps its history.
		v.Deleted, v.Banned = true, true
	case domain.JobCompleted:
		v.JobsCompleted++
		v.ComputeMs += ev.Result.ComputeTimeMs
		v.Position = e.Position
		return // not the node's stream: its revision stays
	default:
		return
	}
	v.Revision, v.Position = e.Revision, e.Position
}

func (v *NodeView) seen(t time.Time) {
	if t.After(v.LastSeen) {
		v.LastSeen = t
	}
}

// MetricPoint is one load sample of a node.
type MetricPoint struct {
	At     time.Time
	Sample domain.MetricSample
}

// MetricPointOf returns the point a NodeMetricsSampled records, and false
// for any other event.
func MetricPointOf(e domain.Event) (nodeID string, p MetricPoint, ok bool) {
	s, ok := e.(domain.NodeMetricsSampled)
	if !ok {
		return "", MetricPoint{}, false
	}
	return s.NodeID, MetricPoint{At: s.At, Sample: s.Sample}, true
}

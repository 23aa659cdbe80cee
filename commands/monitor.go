package commands

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// MonitorConfig tunes the node monitor.
type MonitorConfig struct {
	HeartbeatTimeout time.Duration // a node silent this long goes offline
	SampleInterval   time.Duration // at most one metrics sample per node per interval
}

// Monitor keeps node leases from heartbeats, records NodeWentOnline when a
// lease starts and NodeWentOffline (requeueing the node's jobs) when one
// expires, and samples node metrics at an interval.
type Monitor struct {
	h      *Handler
	leases Leases
	view   View
	cfg    MonitorConfig
	now    func() time.Time
	log    *slog.Logger

	mu         sync.Mutex
	lastSample map[string]time.Time
	onOnline   func()
}

// NewMonitor builds a Monitor. onOnline (may be nil) is called when a node
// comes online, so the scheduler can look at the queue again.
func NewMonitor(h *Handler, leases Leases, view View, cfg MonitorConfig, now func() time.Time, log *slog.Logger, onOnline func()) *Monitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if onOnline == nil {
		onOnline = func() {}
	}
	return &Monitor{h: h, leases: leases, view: view, cfg: cfg, now: now, log: log,
		lastSample: map[string]time.Time{}, onOnline: onOnline}
}

// Heartbeat renews the node's lease; a node whose lease had lapsed is
// recorded online. A sample of its load is recorded at most once per
// SampleInterval.
func (m *Monitor) Heartbeat(ctx context.Context, nodeID string, status *domain.NodeSpec, activeJobs int) error {
	now := m.now()
	if m.leases.Renew(nodeID, now, m.cfg.HeartbeatTimeout) {
		if _, _, err := m.h.MarkNodeOnline(ctx, nodeID); err != nil {
			m.leases.Drop(nodeID)
			return fmt.Errorf("mark %s online: %w", nodeID, err)
		}
		m.onOnline()
	}
	if status == nil || m.cfg.SampleInterval <= 0 {
		return nil
	}
	m.mu.Lock()
	due := now.Sub(m.lastSample[nodeID]) >= m.cfg.SampleInterval
	if due {
		m.lastSample[nodeID] = now
	}
	m.mu.Unlock()
	if g, ok := m.leases.(SampleGate); ok && due {
		due = g.SampleDue(nodeID, now, m.cfg.SampleInterval)
	}
	if !due {
		return nil
	}
	return m.h.SampleNodeMetrics(ctx, nodeID, sampleOf(status, activeJobs))
}

// sampleOf derives a load sample from what a heartbeat reports.
func sampleOf(s *domain.NodeSpec, activeJobs int) domain.MetricSample {
	out := domain.MetricSample{ActiveJobs: activeJobs, RAMAvailable: s.RAMAvailable}
	if s.RAMTotal > 0 {
		out.MemoryUsage = clamp01(1 - float64(s.RAMAvailable)/float64(s.RAMTotal))
	}
	var vt, va int64
	for _, d := range s.Devices {
		vt += d.VRAMTotal
		va += d.VRAMAvailable
	}
	if vt > 0 {
		out.GPUUsage = clamp01(1 - float64(va)/float64(vt))
	}
	return out
}

func clamp01(v float64) float64 { return min(1, max(0, v)) }

// Adopt gives every node the log says is online a fresh lease, so that
// after a restart they have one heartbeat timeout to check in.
func (m *Monitor) Adopt() {
	now := m.now()
	for _, id := range m.view.OnlineNodes() {
		if _, ok := m.leases.LastSeen(id); !ok {
			m.leases.Renew(id, now, m.cfg.HeartbeatTimeout)
		}
	}
}

// Sweep records every expired lease as the node going offline.
func (m *Monitor) Sweep(ctx context.Context) {
	if o, ok := m.leases.(OutageAware); ok && o.Resumed() {
		m.Adopt()
		return
	}
	now := m.now()
	for _, id := range m.leases.Expire(now) {
		reason := fmt.Sprintf("no heartbeat for %s", m.cfg.HeartbeatTimeout)
		n, _, err := m.h.MarkNodeOffline(ctx, id, reason)
		if err != nil {
			m.log.Warn("mark node offline", "node", id, "err", err)
			if n == nil || n.Online() {
				// Not recorded: re-arm an already expired lease so the
				// next sweep tries again, unless a heartbeat renewed it.
				if _, ok := m.leases.LastSeen(id); !ok {
					m.leases.Renew(id, now.Add(-m.cfg.HeartbeatTimeout-time.Nanosecond), m.cfg.HeartbeatTimeout)
				}
				continue
			}
		}
		m.log.Info("node went offline", "node", id, "reason", reason)
		if c, ok := m.leases.(Claims); ok {
			c.Settled(id)
		}
		m.mu.Lock()
		delete(m.lastSample, id)
		m.mu.Unlock()
		// A heartbeat that raced this sweep started a new lease while the
		// log still said online; now that it says offline, record the
		// node online again.
		if _, ok := m.leases.LastSeen(id); ok {
			if _, _, err := m.h.MarkNodeOnline(ctx, id); err != nil {
				m.log.Warn("mark node online after a racing heartbeat", "node", id, "err", err)
			}
		}
	}
}

// Run adopts online nodes, then sweeps expired leases until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	m.Adopt()
	runEvery(ctx, max(m.cfg.HeartbeatTimeout/4, 10*time.Millisecond), nil, m.Sweep)
	return nil
}

// LastHeartbeat returns when the node last checked in.
func (m *Monitor) LastHeartbeat(nodeID string) (time.Time, bool) { return m.leases.LastSeen(nodeID) }

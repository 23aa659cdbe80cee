package commands

import (
	"sync"
	"time"
)

// Leases tracks node liveness from heartbeats. It is not an event per
// heartbeat: only transitions become events. MemoryLeases serves a single
// server; a shared store (Redis) serves several.
type Leases interface {
	// Renew extends the node's lease to now+ttl and reports whether the
	// node had no live lease before.
	Renew(nodeID string, now time.Time, ttl time.Duration) (started bool)
	// Expire removes and returns the nodes whose lease ended before now.
	Expire(now time.Time) []string
	// LastSeen returns the node's last renewal.
	LastSeen(nodeID string) (time.Time, bool)
	// Drop forgets a node's lease.
	Drop(nodeID string)
}

// Claims is implemented by shared Leases whose Expire hands each lapsed
// lease to one sweeper as a claim that outlives the sweeper: Settled ends
// the claim once the node's going offline is in the log; a claim never
// settled (its sweeper died) is handed out again.
type Claims interface {
	Settled(nodeID string)
}

// OutageAware is implemented by Leases kept in a store that can be
// unreachable. Resumed reports, once, that after an outage (or a restart
// that lost the leases) every lease was given a full timeout instead of
// expiring, so the monitor re-adopts the nodes the log says are online.
type OutageAware interface {
	Resumed() bool
}

// SampleGate is implemented by shared Leases that keep metrics sampling at
// most once per interval across replicas: SampleDue books a sample of the
// node at now unless one was booked within interval.
type SampleGate interface {
	SampleDue(nodeID string, now time.Time, interval time.Duration) bool
}

// MemoryLeases is the in-process Leases.
type MemoryLeases struct {
	mu     sync.Mutex
	leases map[string]lease
}

type lease struct{ seen, until time.Time }

// NewMemoryLeases returns an empty lease table.
func NewMemoryLeases() *MemoryLeases { return &MemoryLeases{leases: map[string]lease{}} }

func (m *MemoryLeases) Renew(nodeID string, now time.Time, ttl time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[nodeID]
	started := !ok || now.After(l.until)
	m.leases[nodeID] = lease{seen: now, until: now.Add(ttl)}
	return started
}

func (m *MemoryLeases) Expire(now time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, l := range m.leases {
		if now.After(l.until) {
			out = append(out, id)
			delete(m.leases, id)
		}
	}
	return out
}

func (m *MemoryLeases) LastSeen(nodeID string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.leases[nodeID]
	return l.seen, ok
}

func (m *MemoryLeases) Drop(nodeID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.leases, nodeID)
}

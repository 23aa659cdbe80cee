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

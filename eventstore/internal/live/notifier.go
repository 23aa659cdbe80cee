// Package live implements SubscribeAll for stores that can read their log
// by position: a subscriber catches up by reading committed events in
// batches, then waits for the notifier to announce a new head. Events are
// never buffered per subscriber beyond one batch, so a slow subscriber
// costs memory for one batch and never blocks appenders.
package live

import "sync"

// Notifier publishes the global position of the last committed event.
type Notifier struct {
	mu      sync.Mutex
	head    uint64
	changed chan struct{}
}

// NewNotifier returns a notifier whose head is head.
func NewNotifier(head uint64) *Notifier {
	return &Notifier{head: head, changed: make(chan struct{})}
}

// Publish announces that every event up to head is committed and readable.
func (n *Notifier) Publish(head uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if head <= n.head {
		return
	}
	n.head = head
	close(n.changed)
	n.changed = make(chan struct{})
}

// Head returns the last published head and a channel that is closed at the
// next Publish of a greater head.
func (n *Notifier) Head() (uint64, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.head, n.changed
}

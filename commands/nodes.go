package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
)

// RegisterNode registers a node, or updates it when NodeID names a node the
// same owner registered before. An unknown NodeID gets a fresh id: node ids
// are issued by the server, never chosen by nodes.
type RegisterNode struct {
	NodeID string
	Owner  string
	Spec   domain.NodeSpec
}

// RegisterNode opens or updates a node stream. created tells which.
func (h *Handler) RegisterNode(ctx context.Context, c RegisterNode) (node *domain.Node, created bool, pos uint64, err error) {
	if c.NodeID != "" {
		existing, err := h.LoadNode(ctx, c.NodeID)
		if err != nil {
			return nil, false, 0, err
		}
		if existing.Exists() {
			now := h.now()
			n, res, err := h.updateNode(ctx, c.NodeID, func(n *domain.Node) ([]domain.Event, error) {
				return n.Reregister(c.Owner, c.Spec, now)
			})
			return n, false, res.Position, err
		}
	}
	id := NewID()
	ev, err := domain.RegisterNode(id, c.Owner, c.Spec, h.now())
	if err != nil {
		return nil, false, 0, err
	}
	res, err := h.append(ctx, domain.NodeStream(id), eventstore.NoStream(), []domain.Event{ev})
	if err != nil {
		return nil, false, 0, err
	}
	n := newNode()
	n.Apply(ev)
	return n, true, res.Position, nil
}

// MarkNodeOnline records that a node's lease started.
func (h *Handler) MarkNodeOnline(ctx context.Context, nodeID string) (*domain.Node, uint64, error) {
	now := h.now()
	n, res, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) { return n.MarkOnline(now), nil })
	return n, res.Position, err
}

// MarkNodeOffline records that a node's lease ended; its jobs go back to
// the queue and, if it had any, it loses reputation. An error after the
// offline event was recorded (a requeue that failed) comes with the node,
// whose Online() is then false; the timeouts manager requeues leftovers.
func (h *Handler) MarkNodeOffline(ctx context.Context, nodeID, reason string) (*domain.Node, uint64, error) {
	now := h.now()
	n, res, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) { return n.MarkOffline(reason, now), nil })
	if err != nil {
		return nil, 0, err
	}
	requeued, err := h.takeJobsBack(ctx, n, "node went offline: "+reason, "node went offline")
	errs := []error{err}
	if requeued > 0 && h.policy.PenaltyOffline > 0 {
		if _, err := h.AdjustReputation(ctx, nodeID, -h.policy.PenaltyOffline, "went offline with active jobs", ""); err != nil {
			errs = append(errs, err)
		}
	}
	return n, res.Position, errors.Join(errs...)
}

// AdjustReputation moves a node's reputation, clamped to 0..1.
func (h *Handler) AdjustReputation(ctx context.Context, nodeID string, delta float64, reason, jobID string) (*domain.Node, error) {
	now := h.now()
	n, _, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) {
		return n.AdjustReputation(delta, reason, jobID, now)
	})
	return n, err
}

// SampleNodeMetrics records a load sample.
func (h *Handler) SampleNodeMetrics(ctx context.Context, nodeID string, s domain.MetricSample) error {
	now := h.now()
	_, _, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) { return n.SampleMetrics(s, now) })
	return err
}

// RequeueFromOfflineNode takes a job back from a node the log says is
// offline: the leftover of a MarkNodeOffline whose requeue failed.
func (h *Handler) RequeueFromOfflineNode(ctx context.Context, jobID, nodeID string) (bool, error) {
	node, err := h.LoadNode(ctx, nodeID)
	if err != nil || node.Online() {
		return false, err
	}
	_, pos, err := h.RequeueJob(ctx, jobID, nodeID, "node is offline")
	if err != nil {
		return false, err
	}
	return pos != 0, h.releaseSlot(ctx, nodeID, jobID, leaving{reason: "node went offline"})
}

// ReleaseOrphanSlot frees a slot whose job is not on that node any more
// (a crash between two appends left it behind). It checks the log, not a
// read model, before releasing. Callers ask only after a grace period, so
// a pending job here means its assignment died between the two appends.
func (h *Handler) ReleaseOrphanSlot(ctx context.Context, nodeID, jobID string) (bool, error) {
	job, err := h.LoadJob(ctx, jobID)
	if err != nil {
		return false, err
	}
	if job.Exists() && job.Node() == nodeID && !job.Status().Terminal() {
		return false, nil
	}
	// A crash between a job's outcome and the slot's release left it: the
	// outcome's reputation change goes with the release, as it would have.
	l := leaving{reason: "orphaned reservation", heldOnly: true}
	if job.Exists() && job.Node() == nodeID && job.Status().Terminal() {
		l.delta, l.why = h.endReputation(job)
	}
	return true, h.releaseSlot(ctx, nodeID, jobID, l)
}

// takeJobsBack requeues every job n holds and frees their slots; it
// returns how many jobs went back to the queue.
func (h *Handler) takeJobsBack(ctx context.Context, n *domain.Node, why, slotReason string) (int, error) {
	var (
		errs     []error
		requeued int
	)
	for _, jobID := range n.ActiveJobs() {
		_, pos, err := h.RequeueJob(ctx, jobID, n.ID(), why)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			errs = append(errs, fmt.Errorf("requeue %s: %w", jobID, err))
		}
		if pos != 0 {
			requeued++
		}
		if err := h.releaseSlot(ctx, n.ID(), jobID, leaving{reason: slotReason}); err != nil {
			errs = append(errs, err)
		}
	}
	return requeued, errors.Join(errs...)
}

// BanNode keeps a node from new jobs (an operator's decision, by names
// them) and takes the jobs it holds back to the queue. Banning a banned
// node records nothing new but still takes back what it holds.
func (h *Handler) BanNode(ctx context.Context, nodeID, by, reason string) (*domain.Node, uint64, error) {
	now := h.now()
	n, res, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) { return n.Ban(by, reason, now) })
	if err != nil {
		return nil, 0, err
	}
	_, err = h.takeJobsBack(ctx, n, "node banned: "+reason, "node banned")
	return n, res.Position, err
}

// UnbanNode lets a banned node take jobs again.
func (h *Handler) UnbanNode(ctx context.Context, nodeID, by string) (*domain.Node, uint64, error) {
	now := h.now()
	n, res, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) { return n.Unban(by, now) })
	return n, res.Position, err
}

// DeleteNode removes a node from discovery and every list for good: it is
// banned first (so nothing new lands on it), its jobs go back to the
// queue, then NodeDeleted is recorded. The log keeps its history.
func (h *Handler) DeleteNode(ctx context.Context, nodeID, by, reason string) (*domain.Node, uint64, error) {
	n, err := h.LoadNode(ctx, nodeID)
	if err != nil {
		return nil, 0, err
	}
	if !n.Deleted() {
		if _, _, err := h.BanNode(ctx, nodeID, by, reason); err != nil {
			return nil, 0, err
		}
	}
	now := h.now()
	n, res, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) { return n.Delete(by, reason, now) })
	return n, res.Position, err
}

package commands

import (
	"context"
	"log/slog"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// TimeoutConfig holds the job deadlines.
type TimeoutConfig struct {
	Accept   time.Duration // assigned → accepted
	Run      time.Duration // accepted/started → finished
	Interval time.Duration // how often deadlines are checked
}

// Timeouts fires job deadlines and frees job slots orphaned by a crash
// between the reservation and the assignment.
type Timeouts struct {
	h     *Handler
	view  View
	cfg   TimeoutConfig
	now   func() time.Time
	log   *slog.Logger
	grace time.Duration
}

// NewTimeouts builds the deadline watcher.
func NewTimeouts(h *Handler, view View, cfg TimeoutConfig, now func() time.Time, log *slog.Logger) *Timeouts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &Timeouts{h: h, view: view, cfg: cfg, now: now, log: log, grace: h.policy.ReservationGrace}
}

// Check fires every deadline that has passed and releases orphaned slots.
func (t *Timeouts) Check(ctx context.Context) {
	now := t.now()
	onNode := map[[2]string]bool{}
	online := map[string]bool{}
	for _, id := range t.view.OnlineNodes() {
		online[id] = true
	}
	for _, a := range t.view.Assignments() {
		onNode[[2]string{a.NodeID, a.JobID}] = true
		if !online[a.NodeID] && now.Sub(a.AssignedAt) >= t.grace {
			// Left behind by a failed requeue when the node went offline.
			if moved, err := t.h.RequeueFromOfflineNode(ctx, a.JobID, a.NodeID); err != nil {
				t.log.Warn("requeue from offline node", "job", a.JobID, "node", a.NodeID, "err", err)
			} else if moved {
				t.log.Info("requeued a job left on an offline node", "job", a.JobID, "node", a.NodeID)
			}
			continue
		}
		phase := ""
		switch {
		case !a.Accepted && a.Status == domain.JobStatusAssigned:
			if t.cfg.Accept > 0 && now.Sub(a.AssignedAt) > t.cfg.Accept {
				phase = domain.PhaseAccept
			}
		default:
			start := a.StartedAt
			if start.IsZero() {
				start = a.AcceptedAt
			}
			if start.IsZero() {
				start = a.AssignedAt
			}
			if t.cfg.Run > 0 && now.Sub(start) > t.cfg.Run {
				phase = domain.PhaseRun
			}
		}
		if phase == "" {
			continue
		}
		if _, _, err := t.h.TimeOutJob(ctx, a.JobID, a.NodeID, phase); err != nil {
			t.log.Warn("time out job", "job", a.JobID, "node", a.NodeID, "phase", phase, "err", err)
		} else {
			t.log.Info("job timed out", "job", a.JobID, "node", a.NodeID, "phase", phase)
		}
	}
	for _, r := range t.view.Reservations() {
		if onNode[[2]string{r.NodeID, r.JobID}] || now.Sub(r.At) < t.grace {
			continue
		}
		if released, err := t.h.ReleaseOrphanSlot(ctx, r.NodeID, r.JobID); err != nil {
			t.log.Warn("release orphaned slot", "job", r.JobID, "node", r.NodeID, "err", err)
		} else if released {
			t.log.Info("released orphaned slot", "job", r.JobID, "node", r.NodeID)
		}
	}
}

// Run checks deadlines every Interval until ctx ends.
func (t *Timeouts) Run(ctx context.Context) error {
	runEvery(ctx, t.cfg.Interval, nil, t.Check)
	return nil
}

package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

// SubmitJob asks for a new job. JobID is optional; a retried submission
// with the same JobID, owner and spec returns the original job.
type SubmitJob struct {
	JobID string
	Owner string
	Spec  domain.JobSpec
	// Wallet is the wallet the caller proved is theirs (a user token's
	// wallet_address claim); a paid job's payment_address must be it.
	Wallet string
}

// SubmitJob opens a job stream. created is false for an idempotent retry.
func (h *Handler) SubmitJob(ctx context.Context, c SubmitJob) (job *domain.Job, created bool, pos uint64, err error) {
	lamports, err := domain.SOLToLamports(c.Spec.PaymentAmount)
	if err != nil {
		return nil, false, 0, err
	}
	if lamports == 0 && !h.policy.AllowUnpaidJobs {
		return nil, false, 0, fmt.Errorf("%w: payment_amount must be > 0: this server does not run unpaid jobs", domain.ErrInvalidArgument)
	}
	if lamports > 0 {
		if err := h.checkPayer(c.Spec, c.Wallet); err != nil {
			return nil, false, 0, err
		}
	}
	claimed := ""
	if c.JobID == "" && lamports > 0 {
		if claimed, err = h.claimedJob(ctx, c.Spec); err != nil {
			return nil, false, 0, err
		}
		c.JobID = claimed
	}
	if c.JobID == "" {
		c.JobID = uuid.NewString()
	}
	stream := domain.JobStream(c.JobID)
	for range h.policy.ConflictRetries {
		existing, err := h.LoadJob(ctx, c.JobID)
		if err != nil {
			return nil, false, 0, err
		}
		if existing.Exists() {
			if existing.Owner() == c.Owner && reflect.DeepEqual(normalize(existing.Spec()), normalize(c.Spec)) {
				return existing, false, 0, nil
			}
			if claimed != "" {
				return nil, false, 0, depositUsed(strings.TrimSpace(c.Spec.EscrowTxHash), claimed)
			}
			return nil, false, 0, fmt.Errorf("%w: job_id %s is already used by another job; omit job_id to get a fresh one", domain.ErrAlreadyExists, c.JobID)
		}
		ev, err := domain.SubmitJob(c.JobID, c.Owner, c.Spec, h.policy.Limits, h.now())
		if err != nil {
			return nil, false, 0, err
		}
		// The payment stream comes first: a job is never recorded whose
		// escrow was not verified (or whose payment was not marked skipped).
		if lamports > 0 {
			if err := h.fundJob(ctx, c.JobID, c.Spec, lamports); err != nil {
				return nil, false, 0, err
			}
		}
		res, err := h.append(ctx, stream, eventstore.NoStream(), []domain.Event{ev})
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			continue // a concurrent retry won; compare with it
		}
		if err != nil {
			return nil, false, 0, err
		}
		j := newJob()
		j.Apply(ev)
		return j, true, res.Position, nil
	}
	return nil, false, 0, fmt.Errorf("submit %s: %w", c.JobID, ErrConflict)
}

// normalize makes specs that differ only in nil versus empty collections equal.
func normalize(s domain.JobSpec) domain.JobSpec {
	if len(s.Hyperparameters) == 0 {
		s.Hyperparameters = nil
	}
	if len(s.InitialData) == 0 {
		s.InitialData = nil
	}
	return s
}

// AssignJob places a pending job on a node. The node's slot is reserved
// first, on the node's stream, so max_jobs_per_node holds however many
// schedulers run; then JobAssigned is appended with the job's expected
// revision, so at most one scheduler wins the job. A lost race gives the
// slot back.
func (h *Handler) AssignJob(ctx context.Context, jobID, nodeID string, score float64) (*domain.Job, uint64, error) {
	out := h.AssignJobs(ctx, nodeID, []Placement{{JobID: jobID, Score: score}})
	return out[0].Job, out[0].Position, out[0].Err
}

// Placement is one job a scheduler chose for a node, with its score.
type Placement struct {
	JobID string
	Score float64
}

// Assigned is the outcome of one placement of AssignJobs.
type Assigned struct {
	Job      *domain.Job
	Position uint64
	Err      error
}

// AssignJobs places several pending jobs on one node as AssignJob does,
// with one append reserving every slot (a pass that gives a node many jobs
// does not race itself on the node's stream); the JobAssigned appends then
// run concurrently and share the store's group commits. Outcomes are in
// the order of jobs.
func (h *Handler) AssignJobs(ctx context.Context, nodeID string, jobs []Placement) []Assigned {
	out := make([]Assigned, len(jobs))
	for i, p := range jobs {
		job, err := h.LoadJob(ctx, p.JobID)
		switch {
		case err != nil:
			out[i].Err = err
		case !job.Exists():
			out[i].Err = fmt.Errorf("%w: job %s does not exist", domain.ErrNotFound, p.JobID)
		case job.Status() != domain.JobPending || job.Deleted():
			out[i].Err = fmt.Errorf("%w: job %s is %s, not pending", domain.ErrFailedPrecondition, p.JobID, job.Status())
		}
	}
	now := h.now()
	refused := make([]error, len(jobs))
	_, _, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) {
		var events []domain.Event
		scratch := n.Clone() // sees this decision's earlier reservations
		for i, p := range jobs {
			refused[i] = nil
			if out[i].Err != nil {
				continue
			}
			evs, err := scratch.Reserve(p.JobID, h.policy.MaxJobsPerNode, h.policy.MinReputation, now)
			if err != nil {
				refused[i] = err
				continue
			}
			for _, e := range evs {
				scratch.Apply(e)
			}
			events = append(events, evs...)
		}
		return events, nil
	})
	for i := range jobs {
		if out[i].Err == nil {
			out[i].Err = cmp.Or(err, refused[i])
		}
	}

	var wg sync.WaitGroup
	for i, p := range jobs {
		if out[i].Err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = h.assignReserved(ctx, p.JobID, nodeID, p.Score, now)
		}()
	}
	wg.Wait()
	return out
}

// assignReserved appends JobAssigned for a job whose slot is reserved,
// then confirms the slot is still held.
func (h *Handler) assignReserved(ctx context.Context, jobID, nodeID string, score float64, now time.Time) Assigned {
	job, res, err := h.updateJob(ctx, jobID, func(j *domain.Job) ([]domain.Event, error) {
		return j.Assign(nodeID, score, now)
	})
	if err != nil {
		h.compensateReservation(ctx, jobID, nodeID)
		return Assigned{Err: err}
	}
	// Confirm the slot: between the reservation and JobAssigned the node
	// may have gone offline (releasing its slots) or the slot may have
	// been freed as orphaned. Reserving again records nothing when the
	// slot is still held; if the node can no longer take the job, the job
	// goes back to the queue.
	if _, _, err := h.updateNode(ctx, nodeID, func(n *domain.Node) ([]domain.Event, error) {
		return n.Reserve(jobID, h.policy.MaxJobsPerNode, h.policy.MinReputation, now)
	}); err != nil {
		if _, _, rerr := h.RequeueJob(ctx, jobID, nodeID, "node became unavailable during assignment: "+err.Error()); rerr != nil {
			h.log.Warn("requeue after a lost slot", "job", jobID, "node", nodeID, "err", rerr)
		}
		return Assigned{Err: fmt.Errorf("%w: node %s could not keep the job: %v", domain.ErrFailedPrecondition, nodeID, err)}
	}
	return Assigned{Job: job, Position: res.Position}
}

// compensateReservation gives back a slot taken for an assignment that
// lost, unless the job is in fact on that node (another scheduler placed
// it there with the same reservation). A job still pending is left to the
// reconciler, which releases orphaned slots after a grace period.
func (h *Handler) compensateReservation(ctx context.Context, jobID, nodeID string) {
	job, err := h.LoadJob(ctx, jobID)
	if err != nil || job.Status() == domain.JobPending {
		return
	}
	if job.Node() == nodeID && !job.Status().Terminal() {
		return
	}
	if err := h.releaseSlot(ctx, nodeID, jobID, "assignment lost", 0, ""); err != nil {
		h.log.Warn("release slot after lost assignment", "job", jobID, "node", nodeID, "err", err)
	}
}

// releaseSlot frees a node's slot for a job and, when penalty > 0, lowers
// its reputation, in one append. A slot not held records nothing.
func (h *Handler) releaseSlot(ctx context.Context, nodeID, jobID, reason string, penalty float64, penaltyReason string) error {
	return h.releaseAndAdjust(ctx, nodeID, jobID, reason, -penalty, penaltyReason, false)
}

// releaseAndAdjust frees a node's slot for a job and moves its reputation
// by delta (when ≠ 0), in one append. With heldOnly the reputation moves
// only together with the release of a slot the node held, so an outcome
// (a completion, a failure) moves it once however often it is reported.
func (h *Handler) releaseAndAdjust(ctx context.Context, nodeID, jobID, reason string, delta float64, deltaReason string, heldOnly bool) error {
	if nodeID == "" {
		return nil
	}
	now := h.now()
	// A release can never be refused, only delayed by contention: retry it
	// well past the usual budget.
	_, _, err := updateN(ctx, h, 4*h.policy.ConflictRetries, domain.NodeStream(nodeID), newNode, func(n *domain.Node) ([]domain.Event, error) {
		if !n.Exists() {
			return nil, fmt.Errorf("%w: node %s is not registered", domain.ErrNotFound, nodeID)
		}
		out := n.Release(jobID, reason, now)
		if delta != 0 && (!heldOnly || len(out) > 0) {
			rep, err := n.AdjustReputation(delta, deltaReason, jobID, now)
			if err != nil {
				return nil, err
			}
			out = append(out, rep...)
		}
		return out, nil
	})
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	return err
}

// afterJobLeftNode frees the slot of a job that a change moved off its node.
func (h *Handler) afterJobLeftNode(ctx context.Context, before string, job *domain.Job, reason string, penalty float64) {
	if before == "" || (job.Node() == before && !job.Status().Terminal()) {
		return
	}
	if err := h.releaseSlot(ctx, before, job.ID(), reason, penalty, reason); err != nil {
		// The reconciler frees it later; the job itself is already settled.
		h.log.Warn("release node slot", "job", job.ID(), "node", before, "err", err)
	}
}

// updateJobOnNode runs a job decision and also returns the node the job
// was on before it (as of the attempt that was appended).
func (h *Handler) updateJobOnNode(ctx context.Context, jobID string, decide func(*domain.Job) ([]domain.Event, error)) (*domain.Job, eventstore.AppendResult, string, error) {
	var before string
	job, res, err := h.updateJob(ctx, jobID, func(j *domain.Job) ([]domain.Event, error) {
		before = j.Node()
		return decide(j)
	})
	return job, res, before, err
}

// jobChange runs a job decision and, if it took the job off its node,
// frees the node's slot (with a reputation penalty when given).
func (h *Handler) jobChange(ctx context.Context, jobID, reason string, penalty float64, decide func(*domain.Job) ([]domain.Event, error)) (*domain.Job, uint64, error) {
	job, res, before, err := h.updateJobOnNode(ctx, jobID, decide)
	if err != nil {
		return nil, 0, err
	}
	if res.Position != 0 {
		h.afterJobLeftNode(ctx, before, job, reason, penalty)
	}
	return job, res.Position, nil
}

// AcceptJob records that the node accepted its assignment.
func (h *Handler) AcceptJob(ctx context.Context, jobID, nodeID string) (*domain.Job, uint64, error) {
	return h.AcceptAttempt(ctx, jobID, nodeID, 0)
}

// AcceptAttempt is AcceptJob for one assignment attempt (0: the current
// one): a late answer to an earlier push must not settle a later one.
func (h *Handler) AcceptAttempt(ctx context.Context, jobID, nodeID string, attempt int) (*domain.Job, uint64, error) {
	now := h.now()
	job, res, err := h.updateJob(ctx, jobID, func(j *domain.Job) ([]domain.Event, error) {
		if err := sameAttempt(j, attempt); err != nil {
			return nil, err
		}
		return j.Accept(nodeID, now)
	})
	return job, res.Position, err
}

func sameAttempt(j *domain.Job, attempt int) error {
	if attempt != 0 && j.Attempts() != attempt {
		return fmt.Errorf("%w: job %s is at assignment attempt %d, not %d", domain.ErrFailedPrecondition, j.ID(), j.Attempts(), attempt)
	}
	return nil
}

// StartJob records that the node began work.
func (h *Handler) StartJob(ctx context.Context, jobID, nodeID string) (*domain.Job, uint64, error) {
	now := h.now()
	job, res, err := h.updateJob(ctx, jobID, func(j *domain.Job) ([]domain.Event, error) { return j.Start(nodeID, now) })
	return job, res.Position, err
}

// RejectJob records that the node refused the job or could not be reached;
// the job goes back to the queue and the node loses reputation.
func (h *Handler) RejectJob(ctx context.Context, jobID, nodeID, reason string) (*domain.Job, uint64, error) {
	return h.RejectAttempt(ctx, jobID, nodeID, 0, reason)
}

// RejectAttempt is RejectJob for one assignment attempt (0: the current one).
func (h *Handler) RejectAttempt(ctx context.Context, jobID, nodeID string, attempt int, reason string) (*domain.Job, uint64, error) {
	now := h.now()
	return h.jobChange(ctx, jobID, "rejected: "+reason, h.policy.PenaltyReject, func(j *domain.Job) ([]domain.Event, error) {
		if err := sameAttempt(j, attempt); err != nil {
			return nil, err
		}
		return j.Reject(nodeID, reason, h.policy.MaxRetries, now)
	})
}

// ReportProgress records a progress report from the assigned node.
func (h *Handler) ReportProgress(ctx context.Context, jobID, nodeID string, p domain.Progress) (*domain.Job, uint64, error) {
	now := h.now()
	job, res, err := h.updateJob(ctx, jobID, func(j *domain.Job) ([]domain.Event, error) { return j.ReportProgress(nodeID, p, now) })
	return job, res.Position, err
}

// CompleteJob records success reported by the assigned node; the node's
// reputation rises by the policy's RewardSuccess as its slot is freed.
func (h *Handler) CompleteJob(ctx context.Context, jobID, nodeID string, r domain.JobResult) (*domain.Job, uint64, error) {
	now := h.now()
	return h.outcome(ctx, jobID, "completed", h.policy.RewardSuccess, func(j *domain.Job) ([]domain.Event, error) { return j.Complete(nodeID, r, now) })
}

// FailJob records a failure reported by the assigned node; the node's
// reputation falls by the policy's PenaltyFailure as its slot is freed.
func (h *Handler) FailJob(ctx context.Context, jobID, nodeID, reason string) (*domain.Job, uint64, error) {
	now := h.now()
	return h.outcome(ctx, jobID, "failed", -h.policy.PenaltyFailure, func(j *domain.Job) ([]domain.Event, error) { return j.Fail(nodeID, reason, now) })
}

// outcome runs a decision that ends a job on its node and frees the slot,
// moving the node's reputation by delta in the same append; the move is
// tied to the slot, so it happens once (see ReleaseOrphanSlot for a crash
// in between).
func (h *Handler) outcome(ctx context.Context, jobID, reason string, delta float64, decide func(*domain.Job) ([]domain.Event, error)) (*domain.Job, uint64, error) {
	job, res, before, err := h.updateJobOnNode(ctx, jobID, decide)
	if err != nil {
		return nil, 0, err
	}
	if res.Position != 0 && before != "" && job.Status().Terminal() {
		if err := h.releaseAndAdjust(ctx, before, job.ID(), reason, delta, "job "+reason, true); err != nil {
			h.log.Warn("release node slot", "job", job.ID(), "node", before, "err", err)
		}
	}
	return job, res.Position, nil
}

// outcomeDelta is the reputation change a terminal job brings its node.
func (h *Handler) outcomeDelta(job *domain.Job) (float64, string) {
	switch job.Status() {
	case domain.JobCompletedStatus:
		return h.policy.RewardSuccess, "job completed"
	case domain.JobFailedStatus:
		if job.Node() != "" {
			return -h.policy.PenaltyFailure, "job failed"
		}
	}
	return 0, ""
}

// CancelJob cancels a job at its owner's request.
func (h *Handler) CancelJob(ctx context.Context, jobID, by, reason string) (*domain.Job, uint64, error) {
	now := h.now()
	return h.jobChange(ctx, jobID, "cancelled", 0, func(j *domain.Job) ([]domain.Event, error) { return j.Cancel(by, reason, now) })
}

// DeleteJob hides a finished job at its owner's request.
func (h *Handler) DeleteJob(ctx context.Context, jobID, by string) (*domain.Job, uint64, error) {
	now := h.now()
	job, res, err := h.updateJob(ctx, jobID, func(j *domain.Job) ([]domain.Event, error) { return j.Delete(by, now) })
	return job, res.Position, err
}

// TimeOutJob fires a deadline of phase (domain.PhaseAccept, PhaseRun); the
// job is requeued or failed, and the node loses reputation.
func (h *Handler) TimeOutJob(ctx context.Context, jobID, nodeID, phase string) (*domain.Job, uint64, error) {
	now := h.now()
	return h.jobChange(ctx, jobID, "timed out ("+phase+")", h.policy.PenaltyTimeout, func(j *domain.Job) ([]domain.Event, error) {
		return j.TimeOut(nodeID, phase, h.policy.MaxRetries, now)
	})
}

// RequeueJob takes a job back from a node, without a penalty of its own.
func (h *Handler) RequeueJob(ctx context.Context, jobID, nodeID, reason string) (*domain.Job, uint64, error) {
	now := h.now()
	return h.jobChange(ctx, jobID, reason, 0, func(j *domain.Job) ([]domain.Event, error) {
		return j.Requeue(nodeID, reason, h.policy.MaxRetries, now)
	})
}

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
	claimed, named := "", c.JobID != ""
	if c.JobID == "" && lamports > 0 {
		if claimed, err = h.claimedJob(ctx, c.Spec); err != nil {
			return nil, false, 0, err
		}
		c.JobID = claimed
	}
	fresh := c.JobID == ""
	if fresh {
		c.JobID = NewID()
	} else if existing, err := h.LoadJob(ctx, c.JobID); err != nil || existing.Exists() {
		if err == nil {
			err = sameSubmission(existing, c, claimed)
		}
		if err != nil {
			return nil, false, 0, err
		}
		return existing, false, 0, nil
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
	// Past fundJob, a deposit on chain funds c.JobID: whoever records that
	// job first has it. When the id came from the server (fresh, or the
	// deposit's claim), a submission that loses that race brought the same
	// deposit as the winner — one found it claimed and completes the
	// claim while the claimer records its own — and is told the deposit is
	// used; a caller that named the id is told the id is taken.
	funded := claimed
	if lamports > 0 && h.chain != nil && !named {
		funded = c.JobID
	}
	// A fresh id names no stream yet: append without reading it. Only a
	// submission bringing the same deposit can have recorded it since
	// (above); that loser goes through the load-and-compare below.
	if fresh {
		j := newJob()
		j.Apply(ev)
		res, err := h.append(ctx, domain.JobStream(c.JobID), eventstore.NoStream(), []domain.Event{ev})
		if err == nil {
			h.cache.Add(domain.JobStream(c.JobID), j.Clone())
			return j, true, res.Position, nil
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			return nil, false, 0, err
		}
	}
	job, res, err := update(ctx, h, domain.JobStream(c.JobID), newJob, func(j *domain.Job) ([]domain.Event, error) {
		if j.Exists() { // a concurrent retry won; compare with it
			return nil, sameSubmission(j, c, funded)
		}
		return []domain.Event{ev}, nil
	})
	if err != nil {
		return nil, false, 0, err
	}
	return job, res.Position != 0, res.Position, nil
}

// sameSubmission is nil when the existing job is c submitted again, else
// why c cannot have its job id (claimed: the job c's deposit funds).
func sameSubmission(existing *domain.Job, c SubmitJob, claimed string) error {
	if existing.Owner() == c.Owner && reflect.DeepEqual(normalize(existing.Spec()), normalize(c.Spec)) {
		return nil
	}
	if claimed != "" {
		return depositUsed(strings.TrimSpace(c.Spec.EscrowTxHash), claimed)
	}
	return fmt.Errorf("%w: job_id %s is already used by another job; omit job_id to get a fresh one", domain.ErrAlreadyExists, c.JobID)
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
		case job.Status() != domain.JobStatusPending || job.Deleted():
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
	if err != nil || job.Status() == domain.JobStatusPending {
		return
	}
	if job.Node() == nodeID && !job.Status().Terminal() {
		return
	}
	if err := h.releaseSlot(ctx, nodeID, jobID, leaving{reason: "assignment lost"}); err != nil {
		h.log.Warn("release slot after lost assignment", "job", jobID, "node", nodeID, "err", err)
	}
}

// leaving is what a job leaving its node does to the node, in the one
// append that frees the node's slot: the release's reason and a
// reputation change.
type leaving struct {
	reason string  // the slot release's reason
	delta  float64 // reputation change; 0: none
	why    string  // the reputation change's reason
	// heldOnly moves the reputation only together with the release of a
	// slot the node held, so an outcome (a completion, a failure) moves it
	// once however often it is reported.
	heldOnly bool
}

// penalized is a departure costing the node penalty reputation (0: none).
func penalized(reason string, penalty float64) leaving {
	return leaving{reason: reason, delta: -penalty, why: reason}
}

// finished is a job ending on its node ("completed", "failed"): the
// reputation moves by delta, once.
func finished(status string, delta float64) leaving {
	return leaving{reason: status, delta: delta, why: "job " + status, heldOnly: true}
}

// changeJob runs a job decision and, when the appended change took the job
// off its node or ended it there, frees the node's slot as l says (see
// ReleaseOrphanSlot for a crash in between).
func (h *Handler) changeJob(ctx context.Context, jobID string, l leaving, decide func(*domain.Job) ([]domain.Event, error)) (*domain.Job, uint64, error) {
	var before string // the job's node as of the attempt that was appended
	job, res, err := h.updateJob(ctx, jobID, func(j *domain.Job) ([]domain.Event, error) {
		before = j.Node()
		return decide(j)
	})
	if err != nil {
		return nil, 0, err
	}
	if res.Position != 0 && before != "" && (job.Node() != before || job.Status().Terminal()) {
		if err := h.releaseSlot(ctx, before, job.ID(), l); err != nil {
			// The reconciler frees it later; the job itself is already settled.
			h.log.Warn("release node slot", "job", job.ID(), "node", before, "err", err)
		}
	}
	return job, res.Position, nil
}

// releaseSlot frees a node's slot for a job and moves its reputation as l
// says, in one append. A slot not held records no release; an unknown
// node records nothing.
func (h *Handler) releaseSlot(ctx context.Context, nodeID, jobID string, l leaving) error {
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
		out := n.Release(jobID, l.reason, now)
		if l.delta != 0 && (!l.heldOnly || len(out) > 0) {
			rep, err := n.AdjustReputation(l.delta, l.why, jobID, now)
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

// AcceptJob records that the node accepted its assignment.
func (h *Handler) AcceptJob(ctx context.Context, jobID, nodeID string) (*domain.Job, uint64, error) {
	return h.AcceptAttempt(ctx, jobID, nodeID, 0)
}

// AcceptAttempt is AcceptJob for one assignment attempt (0: the current
// one): a late answer to an earlier push must not count for a later one.
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
	owner, err := h.nodeOwner(ctx, nodeID)
	if err != nil {
		return nil, 0, err
	}
	return h.changeJob(ctx, jobID, penalized("rejected: "+reason, h.policy.PenaltyReject), func(j *domain.Job) ([]domain.Event, error) {
		if err := sameAttempt(j, attempt); err != nil {
			return nil, err
		}
		return j.Reject(nodeID, owner, reason, h.policy.MaxRetries, now)
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
	return h.changeJob(ctx, jobID, finished("completed", h.policy.RewardSuccess), func(j *domain.Job) ([]domain.Event, error) { return j.Complete(nodeID, r, now) })
}

// FailJob records a failure reported by the assigned node; the node's
// reputation falls by the policy's PenaltyFailure as its slot is freed.
func (h *Handler) FailJob(ctx context.Context, jobID, nodeID, reason string) (*domain.Job, uint64, error) {
	now := h.now()
	return h.changeJob(ctx, jobID, finished("failed", -h.policy.PenaltyFailure), func(j *domain.Job) ([]domain.Event, error) { return j.Fail(nodeID, reason, now) })
}

// endReputation is the reputation change a terminal job brings its node.
func (h *Handler) endReputation(job *domain.Job) (float64, string) {
	switch job.Status() {
	case domain.JobStatusCompleted:
		return h.policy.RewardSuccess, "job completed"
	case domain.JobStatusFailed:
		if job.Node() != "" {
			return -h.policy.PenaltyFailure, "job failed"
		}
	}
	return 0, ""
}

// CancelJob cancels a job at its owner's request.
func (h *Handler) CancelJob(ctx context.Context, jobID, by, reason string) (*domain.Job, uint64, error) {
	now := h.now()
	return h.changeJob(ctx, jobID, penalized("cancelled", 0), func(j *domain.Job) ([]domain.Event, error) { return j.Cancel(by, reason, now) })
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
	return h.changeJob(ctx, jobID, penalized("timed out ("+phase+")", h.policy.PenaltyTimeout), func(j *domain.Job) ([]domain.Event, error) {
		return j.TimeOut(nodeID, phase, h.policy.MaxRetries, now)
	})
}

// RequeueJob takes a job back from a node, without a penalty of its own.
func (h *Handler) RequeueJob(ctx context.Context, jobID, nodeID, reason string) (*domain.Job, uint64, error) {
	now := h.now()
	return h.changeJob(ctx, jobID, penalized(reason, 0), func(j *domain.Job) ([]domain.Event, error) {
		return j.Requeue(nodeID, reason, h.policy.MaxRetries, now)
	})
}

// nodeOwner is the owner of a node, "" when it is unknown: whose refusal
// a rejection or an accept timeout is (domain.Job.Reject).
func (h *Handler) nodeOwner(ctx context.Context, nodeID string) (string, error) {
	if nodeID == "" {
		return "", nil
	}
	n, err := h.LoadNode(ctx, nodeID)
	if err != nil {
		return "", err
	}
	return n.Owner(), nil
}

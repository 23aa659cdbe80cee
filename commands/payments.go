package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
)

// UseChain turns on escrow for paid jobs: SubmitJob then verifies each
// paid job's deposit on c before recording it. Without a chain (nil, the
// embedded default) a paid job's payment is recorded as skipped. Call it
// before the handler serves commands.
func (h *Handler) UseChain(c Chain) { h.chain = c }

// Chain returns the chain set with UseChain (nil when payments are off).
func (h *Handler) Chain() Chain { return h.chain }

// ChainDisabledReason is the PaymentSkipped reason when no chain is set.
const ChainDisabledReason = "blockchain disabled (blockchain.network = \"disabled\"): the job runs unescrowed and nothing will be paid or refunded"

func newPayment() *domain.Payment { return &domain.Payment{} }

// LoadPayment returns a job's payment as the log has it (Exists() is false
// for a job without a payment stream).
func (h *Handler) LoadPayment(ctx context.Context, jobID string) (*domain.Payment, error) {
	return load(ctx, h, domain.PaymentStream(jobID), newPayment)
}

func (h *Handler) updatePayment(ctx context.Context, jobID string, decide func(*domain.Payment) ([]domain.Event, error)) (*domain.Payment, eventstore.AppendResult, error) {
	return update(ctx, h, domain.PaymentStream(jobID), newPayment, decide)
}

// checkPayer refuses a paid submission whose payment_address is not the
// caller's proven wallet: deposits are public on chain, so naming a wallet
// proves nothing, and without this check anyone could spend another user's
// unclaimed deposit. With no chain no money moves and nothing is checked.
func (h *Handler) checkPayer(spec domain.JobSpec, wallet string) error {
	if h.chain == nil {
		return nil
	}
	payer, wallet := strings.TrimSpace(spec.PaymentAddress), strings.TrimSpace(wallet)
	switch {
	case payer == "":
		return nil // fundJob answers that payment_address is required
	case wallet == "":
		return fmt.Errorf("%w: a paid job needs a token whose wallet_address claim is the paying wallet %s (mint one with `cyxwiz-central token --sub NAME --wallet %s`); a deposit funds only its payer's jobs", domain.ErrPermissionDenied, payer, payer)
	case wallet != payer:
		return fmt.Errorf("%w: payment_address %s is not your wallet (your token's wallet_address is %s); a deposit funds only its payer's jobs", domain.ErrPermissionDenied, payer, wallet)
	}
	return nil
}

// fundJob opens the payment stream of a paid job before its JobSubmitted
// is recorded: EscrowFunded after the deposit was verified on chain and
// claimed for this job alone, or PaymentSkipped when no chain is set. A
// retried submission of the same job finds its own funding and records
// nothing new.
func (h *Handler) fundJob(ctx context.Context, jobID string, spec domain.JobSpec, lamports uint64) error {
	now := h.now()
	if h.chain == nil {
		_, _, err := h.updatePayment(ctx, jobID, func(p *domain.Payment) ([]domain.Event, error) {
			return p.Skip(domain.PaymentSkipped{JobID: jobID, Reason: ChainDisabledReason, Payer: spec.PaymentAddress, Lamports: lamports, At: now})
		})
		return err
	}
	payer, sig := strings.TrimSpace(spec.PaymentAddress), strings.TrimSpace(spec.EscrowTxHash)
	if payer == "" {
		return fmt.Errorf("%w: payment_address (the payer's wallet) is required for a paid job", domain.ErrInvalidArgument)
	}
	if err := h.chain.ValidAddress(payer); err != nil {
		return fmt.Errorf("%w: payment_address %q: %v", domain.ErrInvalidArgument, payer, err)
	}
	if sig == "" {
		return &DepositError{Problem: DepositNotFound, Detail: fmt.Sprintf(
			"escrow_tx_hash is empty: deposit %d lamports from %s into the escrow account %s and send the deposit's signature",
			lamports, payer, h.chain.EscrowAddress())}
	}
	p, err := h.LoadPayment(ctx, jobID)
	if err != nil {
		return err
	}
	if p.Exists() {
		if p.Status() != domain.PaymentStatusSkipped && p.DepositSignature() == sig && p.Payer() == payer && p.Lamports() == lamports {
			return nil // a retry of this very submission
		}
		return fmt.Errorf("%w: job %s already has a payment (%s)", domain.ErrAlreadyExists, jobID, p.Status())
	}
	dep, err := h.chain.VerifyDeposit(ctx, sig, payer, lamports)
	if err != nil {
		return err
	}
	if err := h.claimDeposit(ctx, jobID, dep, now); err != nil {
		return err
	}
	_, _, err = h.updatePayment(ctx, jobID, func(p *domain.Payment) ([]domain.Event, error) {
		return p.FundEscrow(domain.EscrowFunded{
			JobID: jobID, Payer: payer, EscrowAddress: h.chain.EscrowAddress(), Lamports: lamports,
			DepositLamports: dep.Lamports, DepositSignature: sig, DepositSlot: dep.Slot, At: now,
		})
	})
	return err
}

// claimDeposit makes the deposit fund jobID and no other job: the claim
// stream is created with expected revision "no stream", so of concurrent
// claims exactly one is recorded. Claiming again for the same job is fine.
func (h *Handler) claimDeposit(ctx context.Context, jobID string, dep Deposit, now time.Time) error {
	stream := domain.DepositStream(dep.Signature)
	claim := domain.DepositClaimed{Signature: dep.Signature, JobID: jobID, Payer: dep.Payer, Lamports: dep.Lamports, At: now}
	_, err := h.append(ctx, stream, eventstore.NoStream(), []domain.Event{claim})
	if err == nil {
		return nil
	}
	if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		return err
	}
	d, err := h.LoadDeposit(ctx, dep.Signature)
	switch {
	case err != nil:
		return err
	case d.Status() == domain.DepositClaimedStatus && d.JobID() == jobID:
		return nil
	case d.Status() == domain.DepositClaimedStatus:
		return depositUsed(dep.Signature, d.JobID())
	case d.Status() == domain.DepositUnclaimed:
		return fmt.Errorf("read %s: the claim vanished", stream)
	}
	return &DepositError{Problem: DepositReturned, Detail: fmt.Sprintf("deposit %s is %s to its payer; make a new deposit for this job", dep.Signature, d.Status())}
}

func depositUsed(signature, jobID string) error {
	return &DepositError{Problem: DepositAlreadyUsed, Detail: fmt.Sprintf("deposit %s already funds job %s; make a new deposit for this job", signature, jobID)}
}

// claimedJob is the job an already claimed deposit was claimed for, when a
// submission that names no job_id brings that deposit again: the deposit
// then identifies the submission. A retry after a lost answer gets its job
// back, and a submission cut short by a crash between the claim and the
// job's record is completed under the claimed id instead of stranding the
// escrow. "" when the deposit is unclaimed or the chain is off.
func (h *Handler) claimedJob(ctx context.Context, spec domain.JobSpec) (string, error) {
	sig := strings.TrimSpace(spec.EscrowTxHash)
	if h.chain == nil || sig == "" {
		return "", nil
	}
	d, err := h.LoadDeposit(ctx, sig)
	if err != nil || d.Status() != domain.DepositClaimedStatus || d.Payer() != strings.TrimSpace(spec.PaymentAddress) {
		return "", err
	}
	return d.JobID(), nil
}

// PaymentState is what a job's payment has come to, for the answers of
// ReportCompletion.
type PaymentState struct {
	Released bool // the payout is confirmed
	// PayoutSignature is the payout's latest transaction ("" before one is
	// signed, and for a refund).
	PayoutSignature string
	Status          domain.PaymentStatus
}

// PaymentState reads a job's payment from the log.
func (h *Handler) PaymentState(ctx context.Context, jobID string) (PaymentState, error) {
	p, err := h.LoadPayment(ctx, jobID)
	if err != nil {
		return PaymentState{}, err
	}
	out := PaymentState{Released: p.Status() == domain.PaymentStatusReleased, Status: p.Status()}
	if pt, ok := p.Pending(); ok && pt.Kind == domain.SettleRelease || out.Released {
		out.PayoutSignature = p.Signature()
	}
	return out, nil
}

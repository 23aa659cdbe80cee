package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// DepositRefund asks for an escrow deposit that funds no job back.
type DepositRefund struct {
	Signature string // the deposit's transaction signature
	Payer     string // the wallet it came from, which the refund goes to
	// Operator is the operator's subject when an operator asks; "" when the
	// payer asks (the caller proved Payer is theirs: a token's wallet claim).
	Operator string
	Reason   string
}

func newDeposit() *domain.Deposit { return &domain.Deposit{} }

// LoadDeposit returns a deposit as the log has it (status unclaimed when
// its stream does not exist).
func (h *Handler) LoadDeposit(ctx context.Context, signature string) (*domain.Deposit, error) {
	return load(ctx, h, domain.DepositStream(signature), newDeposit)
}

// RequestDepositRefund records that a deposit no job has claimed goes back
// to its payer. The chain must show the deposit moved SOL from r.Payer into
// escrow; that amount is returned, once. The payer may ask at any time (a
// later claim of the deposit is refused: the first of claim and refund
// wins); an operator may ask once the deposit is older than
// Policy.UnclaimedDepositAge, so a deposit is not pulled from under a
// payer about to use it. The settlement saga signs, records and sends the
// refund.
func (h *Handler) RequestDepositRefund(ctx context.Context, r DepositRefund) (*domain.Deposit, uint64, error) {
	if h.chain == nil {
		return nil, 0, fmt.Errorf("%w: payments are off (blockchain.network = \"disabled\"): there are no deposits to return", domain.ErrFailedPrecondition)
	}
	sig, payer := strings.TrimSpace(r.Signature), strings.TrimSpace(r.Payer)
	if sig == "" || len(sig) > 128 {
		return nil, 0, fmt.Errorf("%w: a deposit refund needs the deposit's transaction signature", domain.ErrInvalidArgument)
	}
	if err := h.chain.ValidAddress(payer); err != nil {
		return nil, 0, fmt.Errorf("%w: payer %q: %v", domain.ErrInvalidArgument, payer, err)
	}
	if len(r.Reason) > 1024 {
		return nil, 0, fmt.Errorf("%w: reason is longer than 1024 bytes", domain.ErrInvalidArgument)
	}
	d, err := h.LoadDeposit(ctx, sig)
	if err != nil {
		return nil, 0, err
	}
	if d.Status() != domain.DepositUnclaimed {
		_, err := d.RequestRefund(domain.DepositRefundRequested{Signature: sig, Payer: payer, Lamports: 1, RequestedBy: "-"})
		return nil, 0, err // refused without a chain call
	}
	dep, err := h.chain.VerifyDeposit(ctx, sig, payer, 1)
	var de *DepositError
	switch {
	case errors.As(err, &de) && de.Problem == DepositWrongPayer && r.Operator == "":
		return nil, 0, fmt.Errorf("%w: deposit %s did not come from your wallet %s: %s", domain.ErrPermissionDenied, sig, payer, de.Detail)
	case err != nil:
		return nil, 0, err
	}
	now := h.now()
	by := "payer"
	if r.Operator != "" {
		by = "operator:" + r.Operator
		if age := h.policy.UnclaimedDepositAge; dep.BlockTime.IsZero() || now.Sub(dep.BlockTime) < age {
			return nil, 0, fmt.Errorf("%w: deposit %s was made at %s; an operator may return an unclaimed deposit %s after it was made (blockchain.unclaimed_deposit_refund_after_seconds); its payer may ask at any time",
				domain.ErrFailedPrecondition, sig, dep.BlockTime.UTC().Format(time.RFC3339), age)
		}
	}
	d, res, err := update(ctx, h, domain.DepositStream(sig), newDeposit, func(d *domain.Deposit) ([]domain.Event, error) {
		return d.RequestRefund(domain.DepositRefundRequested{Signature: sig, Payer: dep.Payer, Lamports: dep.Lamports,
			Reason: r.Reason, RequestedBy: by, At: now})
	})
	return d, res.Position, err
}

var depositStreamPrefix = domain.DepositStream("")

// depositDue puts a deposit's refund on the saga's work list.
func (s *Settlement) depositDue(stream string) bool {
	if s.due[stream] {
		return false
	}
	s.due[stream] = true
	return true
}

// RefundDeposit takes one step in returning a deposit: it signs, records
// and broadcasts the refund once requested, then drives it like a job's
// settlement (same bytes rebroadcast, re-signed only after expiry and
// absence). done is true once nothing is left to do.
func (s *Settlement) RefundDeposit(ctx context.Context, signature string) (done bool, err error) {
	d, err := s.h.LoadDeposit(ctx, signature)
	if err != nil {
		return false, err
	}
	switch d.Status() {
	case domain.DepositRefundRequestedStatus:
		if err := s.submitDepositRefund(ctx, d, domain.PendingTx{}); err != nil {
			return false, err
		}
		if d, err = s.h.LoadDeposit(ctx, signature); err != nil {
			return false, err
		}
		if pt, ok := d.Pending(); ok {
			return s.advanceDeposit(ctx, d, pt)
		}
		return d.Status() != domain.DepositRefundRequestedStatus, nil
	case domain.DepositRefundingStatus:
		pt, _ := d.Pending()
		return s.advanceDeposit(ctx, d, pt)
	}
	return true, nil
}

func (s *Settlement) advanceDeposit(ctx context.Context, d *domain.Deposit, pt domain.PendingTx) (bool, error) {
	stream := domain.DepositStream(d.Signature())
	record := func(decide func(*domain.Deposit) ([]domain.Event, error)) error {
		_, _, err := update(ctx, s.h, stream, newDeposit, decide)
		return err
	}
	return s.drivePending(ctx, pendingSettlement{key: stream, pt: pt,
		confirm: func(ctx context.Context) error {
			return record(func(d *domain.Deposit) ([]domain.Event, error) {
				return d.Confirm(pt.Signature, s.cfg.Confirmation, s.h.now())
			})
		},
		fail: func(ctx context.Context, reason string) error {
			return record(func(d *domain.Deposit) ([]domain.Event, error) { return d.Fail(reason, s.h.now()) })
		},
		resign: func(ctx context.Context) error { return s.submitDepositRefund(ctx, d, pt) },
	})
}

// submitDepositRefund signs the refund of the whole deposit to its payer,
// records it, then broadcasts it (re-signing prev when set).
func (s *Settlement) submitDepositRefund(ctx context.Context, d *domain.Deposit, prev domain.PendingTx) error {
	ev := domain.DepositRefundSubmitted{Signature: d.Signature(),
		Transfers: []domain.PaymentTransfer{{To: d.Payer(), Lamports: d.Lamports()}},
		Memo:      "cyxwiz deposit " + d.Signature() + " refund", Replaces: prev.Signature}
	tx, err := s.chain.SignTransfers(ctx, toTransfers(ev.Transfers), ev.Memo)
	if err != nil {
		return err
	}
	ev.RefundSignature, ev.Tx, ev.LastValidBlockHeight, ev.At = tx.Signature, tx.Raw, tx.LastValidBlockHeight, s.h.now()
	stream := domain.DepositStream(d.Signature())
	return s.recordThenBroadcast(ctx, stream, tx, func() (uint64, error) {
		_, res, err := update(ctx, s.h, stream, newDeposit, func(d *domain.Deposit) ([]domain.Event, error) { return d.SubmitRefund(ev) })
		return res.Position, err
	})
}

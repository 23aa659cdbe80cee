package domain

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// LamportsPerSOL is the number of lamports in one SOL.
const LamportsPerSOL = 1_000_000_000

// SOLToLamports converts a wire payment amount (SOL) to lamports, rounded
// to the nearest lamport.
func SOLToLamports(sol float64) (uint64, error) {
	if math.IsNaN(sol) || math.IsInf(sol, 0) || sol < 0 {
		return 0, invalid("payment_amount must be a finite number ≥ 0, got %v", sol)
	}
	l := math.Round(sol * LamportsPerSOL)
	if l >= math.MaxUint64 {
		return 0, invalid("payment_amount %v SOL is too large", sol)
	}
	return uint64(l), nil
}

// SplitPayout splits an escrowed amount into the node's share and the
// platform fee, feePercent whole percent of it (rounded down): the two
// always add up to lamports.
func SplitPayout(lamports uint64, feePercent int) (payout, fee uint64) {
	p := uint64(min(100, max(0, feePercent)))
	fee = lamports/100*p + lamports%100*p/100
	return lamports - fee, fee
}

// PaymentStatus is where a job's payment is in its settlement.
type PaymentStatus int

// Payment states. Skipped, Released, Refunded and Failed are terminal.
const (
	PaymentStatusNone      PaymentStatus = iota // no payment stream
	PaymentStatusSkipped                        // no escrow (chain disabled, unpaid)
	PaymentStatusFunded                         // escrow verified, not yet settled
	PaymentStatusReleasing                      // a payout is signed and being broadcast
	PaymentStatusReleased                       // the payout is confirmed
	PaymentStatusRefunding                      // a refund is signed and being broadcast
	PaymentStatusRefunded                       // the refund is confirmed
	PaymentStatusFailed                         // stopped; needs an operator
)

func (s PaymentStatus) String() string {
	switch s {
	case PaymentStatusSkipped:
		return "skipped"
	case PaymentStatusFunded:
		return "funded"
	case PaymentStatusReleasing:
		return "release_submitted"
	case PaymentStatusReleased:
		return "released"
	case PaymentStatusRefunding:
		return "refund_submitted"
	case PaymentStatusRefunded:
		return "refunded"
	case PaymentStatusFailed:
		return "failed"
	}
	return "none"
}

// Terminal reports whether the payment can never change again.
func (s PaymentStatus) Terminal() bool {
	switch s {
	case PaymentStatusSkipped, PaymentStatusReleased, PaymentStatusRefunded, PaymentStatusFailed:
		return true
	}
	return false
}

// SettlementKind says whether a settlement transaction pays out or refunds.
type SettlementKind int

// Settlement kinds.
const (
	SettleRelease SettlementKind = iota + 1 // pay the node and the treasury
	SettleRefund                            // pay the payer back
)

func (k SettlementKind) String() string {
	if k == SettleRefund {
		return "refund"
	}
	return "release"
}

// PendingTx is the settlement transaction signed and recorded but not yet
// confirmed: the bytes to broadcast again after a restart.
type PendingTx struct {
	Kind                 SettlementKind
	Signature            string
	Tx                   []byte
	LastValidBlockHeight uint64
	Attempt              int
	Transfers            []PaymentTransfer
	Memo                 string
	// A release's split (see PaymentReleaseSubmitted).
	Payee, Treasury             string
	PayoutLamports, FeeLamports uint64
	// A refund's reason (see RefundSubmitted).
	Reason string
}

// Payment is the payment aggregate of one job, rebuilt from its stream.
type Payment struct {
	jobID       string
	status      PaymentStatus
	payer       string
	escrow      string
	lamports    uint64
	deposit     string
	skipReason  string
	nodeID      string
	pending     *PendingTx
	settledSig  string
	failReason  string
	lastAttempt int
	version     int
}

// JobID is the job the payment belongs to.
func (p *Payment) JobID() string { return p.jobID }

// Status is where the payment is in its settlement.
func (p *Payment) Status() PaymentStatus { return p.status }

// Payer is the wallet that funded the escrow.
func (p *Payment) Payer() string { return p.payer }

// Lamports is the escrowed amount (the job's payment).
func (p *Payment) Lamports() uint64 { return p.lamports }

// DepositSignature is the escrow deposit's transaction signature.
func (p *Payment) DepositSignature() string { return p.deposit }

// SkipReason is why the payment was skipped.
func (p *Payment) SkipReason() string { return p.skipReason }

// FailReason is why the payment failed.
func (p *Payment) FailReason() string { return p.failReason }

// NodeID is the node a payout goes to ("" before a release).
func (p *Payment) NodeID() string { return p.nodeID }

// SettledSignature is the confirmed payout's or refund's signature.
func (p *Payment) SettledSignature() string { return p.settledSig }

// Pending returns the signed, unconfirmed settlement transaction, if any.
func (p *Payment) Pending() (PendingTx, bool) { return p.pending.copy() }

// copy is a deep copy of a pending transaction; false when there is none.
func (pt *PendingTx) copy() (PendingTx, bool) {
	if pt == nil {
		return PendingTx{}, false
	}
	c := *pt
	c.Tx = slices.Clone(c.Tx)
	c.Transfers = slices.Clone(c.Transfers)
	return c, true
}

// clone is copy as a pointer (nil for none), for aggregates' Clone.
func (pt *PendingTx) clone() *PendingTx {
	c, ok := pt.copy()
	if !ok {
		return nil
	}
	return &c
}

// Signature is the latest settlement transaction's signature: the pending
// one, else the settled one ("" when none was signed).
func (p *Payment) Signature() string {
	if p.pending != nil {
		return p.pending.Signature
	}
	return p.settledSig
}

// Exists reports whether the payment stream has any event.
func (p *Payment) Exists() bool { return p.status != PaymentStatusNone }

// Version is the number of events folded; the stream's last revision is Version()-1.
func (p *Payment) Version() int { return p.version }

// Clone returns a deep copy, for caches of folded aggregates.
func (p *Payment) Clone() *Payment {
	c := *p
	c.pending = p.pending.clone()
	return &c
}

// Apply folds one event into the payment.
func (p *Payment) Apply(e Event) {
	p.version++
	switch e := e.(type) {
	case EscrowFunded:
		p.jobID, p.status, p.payer, p.escrow = e.JobID, PaymentStatusFunded, e.Payer, e.EscrowAddress
		p.lamports, p.deposit = e.Lamports, e.DepositSignature
	case PaymentSkipped:
		p.jobID, p.status, p.skipReason, p.payer = e.JobID, PaymentStatusSkipped, e.Reason, e.Payer
	case PaymentReleaseSubmitted:
		p.status, p.nodeID, p.lastAttempt = PaymentStatusReleasing, e.NodeID, e.Attempt
		p.pending = &PendingTx{Kind: SettleRelease, Signature: e.Signature, Tx: slices.Clone(e.Tx),
			LastValidBlockHeight: e.LastValidBlockHeight, Attempt: e.Attempt, Transfers: slices.Clone(e.Transfers),
			Memo: e.Memo, Payee: e.Payee, Treasury: e.Treasury, PayoutLamports: e.PayoutLamports, FeeLamports: e.FeeLamports}
	case RefundSubmitted:
		p.status, p.lastAttempt = PaymentStatusRefunding, e.Attempt
		p.pending = &PendingTx{Kind: SettleRefund, Signature: e.Signature, Tx: slices.Clone(e.Tx),
			LastValidBlockHeight: e.LastValidBlockHeight, Attempt: e.Attempt, Transfers: slices.Clone(e.Transfers),
			Memo: e.Memo, Reason: e.Reason}
	case PaymentReleased:
		p.status, p.settledSig, p.pending = PaymentStatusReleased, e.Signature, nil
	case PaymentRefunded:
		p.status, p.settledSig, p.pending = PaymentStatusRefunded, e.Signature, nil
	case PaymentFailed:
		p.status, p.failReason = PaymentStatusFailed, e.Reason
		if e.Signature != "" {
			p.settledSig = e.Signature
		}
		p.pending = nil
	}
}

// FundEscrow opens the payment stream with a verified deposit. Funding
// again with the same deposit records nothing; any other change to an
// existing payment is refused.
func (p *Payment) FundEscrow(e EscrowFunded) ([]Event, error) {
	switch {
	case e.JobID == "" || e.Payer == "" || e.DepositSignature == "" || e.EscrowAddress == "":
		return nil, invalid("escrow funding needs a job, a payer, an escrow account and a deposit signature")
	case e.Lamports == 0:
		return nil, invalid("escrow funding needs an amount > 0")
	case e.DepositLamports < e.Lamports:
		return nil, precondition("the deposit moved %d lamports, less than the job's %d", e.DepositLamports, e.Lamports)
	case p.status == PaymentStatusFunded && p.deposit == e.DepositSignature && p.lamports == e.Lamports && p.payer == e.Payer:
		return nil, nil
	case p.Exists():
		return nil, alreadyExists("job %s already has a payment (%s)", p.jobID, p.status)
	}
	return []Event{e}, nil
}

// Skip opens the payment stream with no escrow; reason says why. Skipping
// again records nothing.
func (p *Payment) Skip(e PaymentSkipped) ([]Event, error) {
	switch {
	case e.JobID == "" || e.Reason == "":
		return nil, invalid("a skipped payment needs a job and a reason")
	case p.status == PaymentStatusSkipped:
		return nil, nil
	case p.Exists():
		return nil, alreadyExists("job %s already has a payment (%s)", p.jobID, p.status)
	}
	return []Event{e}, nil
}

// SubmitRelease records a signed payout before it is broadcast. The first
// needs a funded escrow; a re-sign (e.Replaces set) must replace the
// pending payout's signature, which the caller has seen expire unlanded.
// The transfers must add up to the escrowed amount, split as PayoutLamports
// plus FeeLamports. A payment being refunded is never released.
func (p *Payment) SubmitRelease(e PaymentReleaseSubmitted) ([]Event, error) {
	if err := p.checkSubmit(SettleRelease, e.Signature, e.Tx, e.Replaces, e.Transfers); err != nil {
		return nil, err
	}
	switch {
	case e.NodeID == "" || e.Payee == "":
		return nil, invalid("a payout needs the node and its wallet")
	case e.PayoutLamports+e.FeeLamports != p.lamports || e.PayoutLamports > p.lamports:
		return nil, invalid("payout %d + fee %d lamports must equal the escrowed %d", e.PayoutLamports, e.FeeLamports, p.lamports)
	case p.nodeID != "" && e.NodeID != p.nodeID:
		return nil, precondition("the payout of job %s goes to node %s, not %s", p.jobID, p.nodeID, e.NodeID)
	}
	e.JobID, e.Attempt = p.jobID, p.lastAttempt+1
	return []Event{e}, nil
}

// SubmitRefund records a signed refund of the whole escrow to the payer
// before it is broadcast; as SubmitRelease for re-signs. A payment being
// released is never refunded.
func (p *Payment) SubmitRefund(e RefundSubmitted) ([]Event, error) {
	if err := p.checkSubmit(SettleRefund, e.Signature, e.Tx, e.Replaces, e.Transfers); err != nil {
		return nil, err
	}
	switch {
	case e.Payer != p.payer:
		return nil, invalid("a refund goes to the payer %s, not %s", p.payer, e.Payer)
	case e.RefundLamports != p.lamports:
		return nil, invalid("a refund returns the escrowed %d lamports, not %d", p.lamports, e.RefundLamports)
	}
	e.JobID, e.Attempt = p.jobID, p.lastAttempt+1
	return []Event{e}, nil
}

func (p *Payment) checkSubmit(kind SettlementKind, sig string, tx []byte, replaces string, transfers []PaymentTransfer) error {
	if sig == "" || len(tx) == 0 {
		return invalid("a settlement needs its signed transaction and signature")
	}
	if err := p.checkState(kind, sig, replaces); err != nil {
		return err
	}
	var sum uint64
	for _, t := range transfers {
		if t.To == "" || t.Lamports == 0 {
			return invalid("every transfer needs a destination and an amount > 0")
		}
		if sum+t.Lamports < sum {
			return invalid("transfers overflow")
		}
		sum += t.Lamports
	}
	if sum != p.lamports {
		return invalid("transfers move %d lamports, the escrow holds %d", sum, p.lamports)
	}
	return nil
}

func (p *Payment) checkState(kind SettlementKind, sig, replaces string) error {
	switch p.status {
	case PaymentStatusFunded:
		if replaces != "" {
			return precondition("job %s has no pending %s to replace", p.jobID, kind)
		}
		return nil
	case PaymentStatusReleasing, PaymentStatusRefunding:
		if p.pending.Kind != kind {
			return precondition("job %s is being settled by a %s; it cannot also get a %s", p.jobID, p.pending.Kind, kind)
		}
		if replaces == "" || replaces != p.pending.Signature {
			return precondition("job %s already has a pending %s (%s)", p.jobID, kind, p.pending.Signature)
		}
		if sig == p.pending.Signature {
			return invalid("a re-sign needs a new signature")
		}
		return nil
	case PaymentStatusNone:
		return precondition("job %s has no escrow to settle", p.jobID)
	case PaymentStatusSkipped:
		return precondition("job %s has no escrow to settle: %s", p.jobID, p.skipReason)
	}
	return precondition("job %s's payment is already %s", p.jobID, p.status)
}

// Confirm records that the pending settlement's transaction reached the
// confirmation level: PaymentReleased or PaymentRefunded. Confirming the
// settled signature again records nothing; any other signature is refused.
func (p *Payment) Confirm(signature, confirmation string, now time.Time) ([]Event, error) {
	if (p.status == PaymentStatusReleased || p.status == PaymentStatusRefunded) && signature == p.settledSig {
		return nil, nil
	}
	if p.pending == nil {
		return nil, precondition("job %s has no pending settlement (%s)", p.jobID, p.status)
	}
	if signature != p.pending.Signature {
		return nil, precondition("signature %s is not job %s's pending %s (%s)", signature, p.jobID, p.pending.Kind, p.pending.Signature)
	}
	if p.pending.Kind == SettleRefund {
		return []Event{PaymentRefunded{JobID: p.jobID, Signature: signature, Confirmation: confirmation, At: now}}, nil
	}
	return []Event{PaymentReleased{JobID: p.jobID, Signature: signature, Confirmation: confirmation, At: now}}, nil
}

// Fail stops a settlement that cannot proceed (a transaction that failed
// on chain, a payout with nowhere to go). A funded or pending payment
// fails; failing a failed one records nothing.
func (p *Payment) Fail(reason string, now time.Time) ([]Event, error) {
	switch p.status {
	case PaymentStatusFailed:
		return nil, nil
	case PaymentStatusFunded, PaymentStatusReleasing, PaymentStatusRefunding:
		return []Event{PaymentFailed{JobID: p.jobID, Reason: reason, Signature: p.Signature(), At: now}}, nil
	}
	return nil, precondition("job %s's payment is %s; it cannot fail", p.jobID, p.status)
}

func alreadyExists(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrAlreadyExists, fmt.Sprintf(format, args...))
}

package domain

import (
	"slices"
	"time"
)

// DepositStatus is what became of an escrow deposit: nothing yet, claimed
// for a job (that job's payment settles it), or returned to its payer.
type DepositStatus int

// Deposit states. Claimed, Refunded and RefundFailed are terminal.
const (
	DepositUnclaimed             DepositStatus = iota // no stream: funds no job, not refunded
	DepositClaimedStatus                              // funds one job
	DepositRefundRequestedStatus                      // its payer or an operator asked for it back
	DepositRefundingStatus                            // a refund is signed and being broadcast
	DepositRefundedStatus                             // the refund is confirmed
	DepositRefundFailedStatus                         // stopped; needs an operator
)

func (s DepositStatus) String() string {
	switch s {
	case DepositClaimedStatus:
		return "claimed"
	case DepositRefundRequestedStatus:
		return "refund_requested"
	case DepositRefundingStatus:
		return "refund_submitted"
	case DepositRefundedStatus:
		return "refunded"
	case DepositRefundFailedStatus:
		return "refund_failed"
	}
	return "unclaimed"
}

// Deposit is the aggregate of one escrow deposit, rebuilt from its
// deposit-<signature> stream. Its first event decides its fate: a claim
// (it funds that job) or a refund request (it is returned to its payer,
// once); both are appended with expected revision "no stream", so of a
// claim and a refund racing exactly one is recorded.
type Deposit struct {
	signature   string
	status      DepositStatus
	payer       string
	lamports    uint64
	jobID       string
	pending     *PendingTx
	settledSig  string
	failReason  string
	lastAttempt int
	version     int
}

// Signature is the deposit's transaction signature.
func (d *Deposit) Signature() string { return d.signature }

// Status is what became of the deposit.
func (d *Deposit) Status() DepositStatus { return d.status }

// Payer is the wallet the deposit came from.
func (d *Deposit) Payer() string { return d.payer }

// Lamports is what the payer moved into escrow (what a refund returns).
func (d *Deposit) Lamports() uint64 { return d.lamports }

// JobID is the job a claimed deposit funds.
func (d *Deposit) JobID() string { return d.jobID }

// SettledSignature is the confirmed refund's signature.
func (d *Deposit) SettledSignature() string { return d.settledSig }

// FailReason is why the refund failed.
func (d *Deposit) FailReason() string { return d.failReason }

// Pending returns the signed, unconfirmed refund, if any.
func (d *Deposit) Pending() (PendingTx, bool) { return d.pending.copy() }

// Version is the number of events folded.
func (d *Deposit) Version() int { return d.version }

// Clone returns a deep copy, for caches of folded aggregates.
func (d *Deposit) Clone() *Deposit {
	c := *d
	c.pending = d.pending.clone()
	return &c
}

// Apply folds one event into the deposit.
func (d *Deposit) Apply(e Event) {
	d.version++
	switch e := e.(type) {
	case DepositClaimed:
		d.signature, d.status, d.payer, d.lamports, d.jobID = e.Signature, DepositClaimedStatus, e.Payer, e.Lamports, e.JobID
	case DepositRefundRequested:
		d.signature, d.status, d.payer, d.lamports = e.Signature, DepositRefundRequestedStatus, e.Payer, e.Lamports
	case DepositRefundSubmitted:
		d.status, d.lastAttempt = DepositRefundingStatus, e.Attempt
		d.pending = &PendingTx{Kind: SettleRefund, Signature: e.RefundSignature, Tx: slices.Clone(e.Tx),
			LastValidBlockHeight: e.LastValidBlockHeight, Attempt: e.Attempt, Transfers: slices.Clone(e.Transfers), Memo: e.Memo}
	case DepositRefunded:
		d.status, d.settledSig, d.pending = DepositRefundedStatus, e.RefundSignature, nil
	case DepositRefundFailed:
		d.status, d.failReason, d.pending = DepositRefundFailedStatus, e.Reason, nil
		if e.RefundSignature != "" {
			d.settledSig = e.RefundSignature
		}
	}
}

// RequestRefund asks for an unclaimed deposit back. A deposit is returned
// at most once and never after it funded a job (that job's payment is
// refunded instead, when the job fails or is cancelled).
func (d *Deposit) RequestRefund(e DepositRefundRequested) ([]Event, error) {
	switch {
	case e.Signature == "" || e.Payer == "" || e.RequestedBy == "":
		return nil, invalid("a deposit refund needs the deposit's signature, its payer and who asks")
	case e.Lamports == 0:
		return nil, invalid("a deposit refund needs an amount > 0")
	case d.status == DepositClaimedStatus:
		return nil, precondition("deposit %s funds job %s; it is not returned on its own (the job's escrow is refunded if the job fails or is cancelled)", d.signature, d.jobID)
	case d.status != DepositUnclaimed:
		return nil, precondition("deposit %s is already %s: a deposit is returned once", d.signature, d.status)
	}
	return []Event{e}, nil
}

// SubmitRefund records a signed refund of the whole deposit to its payer
// before it is broadcast; a re-sign (e.Replaces set) must replace the
// pending refund, which the caller has seen expire unlanded.
func (d *Deposit) SubmitRefund(e DepositRefundSubmitted) ([]Event, error) {
	if e.RefundSignature == "" || len(e.Tx) == 0 {
		return nil, invalid("a deposit refund needs its signed transaction and signature")
	}
	switch d.status {
	case DepositRefundRequestedStatus:
		if e.Replaces != "" {
			return nil, precondition("deposit %s has no pending refund to replace", d.signature)
		}
	case DepositRefundingStatus:
		if e.Replaces == "" || e.Replaces != d.pending.Signature {
			return nil, precondition("deposit %s already has a pending refund (%s)", d.signature, d.pending.Signature)
		}
		if e.RefundSignature == d.pending.Signature {
			return nil, invalid("a re-sign needs a new signature")
		}
	default:
		return nil, precondition("deposit %s is %s; it has no refund to submit", d.signature, d.status)
	}
	if len(e.Transfers) != 1 || e.Transfers[0].To != d.payer || e.Transfers[0].Lamports != d.lamports {
		return nil, invalid("a deposit refund is one transfer of the deposited %d lamports to the payer %s", d.lamports, d.payer)
	}
	e.Signature, e.Attempt = d.signature, d.lastAttempt+1
	return []Event{e}, nil
}

// Confirm records that the pending refund reached the confirmation level.
// Confirming the settled signature again records nothing.
func (d *Deposit) Confirm(refundSignature, confirmation string, now time.Time) ([]Event, error) {
	if d.status == DepositRefundedStatus && refundSignature == d.settledSig {
		return nil, nil
	}
	if d.pending == nil || refundSignature != d.pending.Signature {
		return nil, precondition("signature %s is not deposit %s's pending refund", refundSignature, d.signature)
	}
	return []Event{DepositRefunded{Signature: d.signature, RefundSignature: refundSignature, Confirmation: confirmation, At: now}}, nil
}

// Fail stops a refund that cannot proceed (its transaction failed on
// chain). Failing a failed refund records nothing.
func (d *Deposit) Fail(reason string, now time.Time) ([]Event, error) {
	switch d.status {
	case DepositRefundFailedStatus:
		return nil, nil
	case DepositRefundRequestedStatus, DepositRefundingStatus:
		sig := ""
		if d.pending != nil {
			sig = d.pending.Signature
		}
		return []Event{DepositRefundFailed{Signature: d.signature, Reason: reason, RefundSignature: sig, At: now}}, nil
	}
	return nil, precondition("deposit %s is %s; its refund cannot fail", d.signature, d.status)
}

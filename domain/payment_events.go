package domain

import "time"

// The payment-<job id> stream records the settlement of one job's payment:
// the escrow deposit that funds it (or why there is none), then exactly one
// payout to the node and the treasury or one refund to the payer. Amounts
// are in lamports; addresses are base58 account addresses.
//
//	EscrowFunded ─► PaymentReleaseSubmitted+ ─► PaymentReleased
//	             └► RefundSubmitted+         ─► PaymentRefunded
//	             └► (either Submitted) ───────► PaymentFailed
//	PaymentSkipped (no escrow: chain disabled or unpaid job; terminal)
//
// A Submitted event is appended before its transaction is first broadcast,
// holding the signed bytes, so a restart sends the same transaction again;
// a later Submitted of the same kind replaces an expired one (a re-sign).
//
// The deposit-<signature> stream claims a deposit for one job: its single
// DepositClaimed event is appended with expected revision "no stream", so
// one deposit funds at most one job however many submissions race. A
// deposit that funds no job can instead be returned to its payer, once:
//
//	DepositRefundRequested ─► DepositRefundSubmitted+ ─► DepositRefunded
//	                                                  └► DepositRefundFailed
//
// The request is appended with expected revision "no stream" too, so a
// deposit is either claimed or refunded, never both.

// PaymentTransfer is one transfer out of escrow in a settlement transaction.
type PaymentTransfer struct {
	To       string `json:"to"`
	Lamports uint64 `json:"lamports"`
}

// Confirmation levels a settlement is counted at.
const (
	ConfirmationConfirmed = "confirmed"
	ConfirmationFinalized = "finalized"
)

type (
	// DepositClaimed opens a deposit-<signature> stream: the deposit funds
	// JobID and no other job.
	DepositClaimed struct {
		Signature string    `json:"signature"`
		JobID     string    `json:"job_id"`
		Payer     string    `json:"payer"`
		Lamports  uint64    `json:"lamports"`
		At        time.Time `json:"at"`
	}
	// DepositRefundRequested opens a deposit-<signature> stream instead of a
	// claim: the deposit funds no job and goes back to Payer. RequestedBy
	// is "payer" or "operator:<sub>".
	DepositRefundRequested struct {
		Signature   string    `json:"signature"`
		Payer       string    `json:"payer"`
		Lamports    uint64    `json:"lamports"`
		Reason      string    `json:"reason,omitempty"`
		RequestedBy string    `json:"requested_by"`
		At          time.Time `json:"at"`
	}
	// DepositRefundSubmitted: the refund transaction was signed; it is
	// broadcast only after this event is recorded.
	DepositRefundSubmitted struct {
		Signature            string            `json:"signature"` // the deposit's
		Transfers            []PaymentTransfer `json:"transfers"`
		Memo                 string            `json:"memo"`
		RefundSignature      string            `json:"refund_signature"`
		Tx                   []byte            `json:"tx"`
		LastValidBlockHeight uint64            `json:"last_valid_block_height"`
		Attempt              int               `json:"attempt"`
		Replaces             string            `json:"replaces,omitempty"`
		At                   time.Time         `json:"at"`
	}
	// DepositRefunded: the refund reached the confirmation level. Terminal.
	DepositRefunded struct {
		Signature       string    `json:"signature"`
		RefundSignature string    `json:"refund_signature"`
		Confirmation    string    `json:"confirmation"`
		At              time.Time `json:"at"`
	}
	// DepositRefundFailed: the refund failed on chain and needs an
	// operator. Terminal.
	DepositRefundFailed struct {
		Signature       string    `json:"signature"`
		Reason          string    `json:"reason"`
		RefundSignature string    `json:"refund_signature,omitempty"`
		At              time.Time `json:"at"`
	}
	// EscrowFunded opens a payment stream: the payer's deposit into the
	// escrow account was verified on chain and claimed for this job.
	EscrowFunded struct {
		JobID            string    `json:"job_id"`
		Payer            string    `json:"payer"`
		EscrowAddress    string    `json:"escrow_address"`
		Lamports         uint64    `json:"lamports"`          // the job's payment_amount
		DepositLamports  uint64    `json:"deposit_lamports"`  // what the deposit moved (≥ Lamports)
		DepositSignature string    `json:"deposit_signature"` // the job's escrow_tx_hash
		DepositSlot      uint64    `json:"deposit_slot,omitempty"`
		At               time.Time `json:"at"`
	}
	// PaymentSkipped opens a payment stream with no escrow: the chain is
	// disabled, or the job is unpaid. Nothing will be paid or refunded.
	PaymentSkipped struct {
		JobID    string    `json:"job_id"`
		Reason   string    `json:"reason"`
		Payer    string    `json:"payer,omitempty"`
		Lamports uint64    `json:"lamports,omitempty"` // what the job offered, unescrowed
		At       time.Time `json:"at"`
	}
	// PaymentReleaseSubmitted: a payout transaction (the node's share and
	// the platform fee, one transaction with a Memo carrying the job id)
	// was signed; it is broadcast only after this event is recorded.
	PaymentReleaseSubmitted struct {
		JobID                string            `json:"job_id"`
		NodeID               string            `json:"node_id"`
		Payee                string            `json:"payee"`    // the node's wallet
		Treasury             string            `json:"treasury"` // the platform fee's account
		PayoutLamports       uint64            `json:"payout_lamports"`
		FeeLamports          uint64            `json:"fee_lamports"`
		Transfers            []PaymentTransfer `json:"transfers"`
		Memo                 string            `json:"memo"`
		Signature            string            `json:"signature"`
		Tx                   []byte            `json:"tx"` // the signed transaction (base64 in JSON)
		LastValidBlockHeight uint64            `json:"last_valid_block_height"`
		Attempt              int               `json:"attempt"`            // 1, then +1 per re-sign
		Replaces             string            `json:"replaces,omitempty"` // the expired signature a re-sign replaces
		At                   time.Time         `json:"at"`
	}
	// PaymentReleased: the payout transaction reached the configured
	// confirmation level. Terminal.
	PaymentReleased struct {
		JobID        string    `json:"job_id"`
		Signature    string    `json:"signature"`
		Confirmation string    `json:"confirmation"`
		At           time.Time `json:"at"`
	}
	// RefundSubmitted: a refund transaction to the payer was signed; it is
	// broadcast only after this event is recorded.
	RefundSubmitted struct {
		JobID                string            `json:"job_id"`
		Payer                string            `json:"payer"`
		RefundLamports       uint64            `json:"refund_lamports"`
		Reason               string            `json:"reason"` // why: the job failed or was cancelled
		Transfers            []PaymentTransfer `json:"transfers"`
		Memo                 string            `json:"memo"`
		Signature            string            `json:"signature"`
		Tx                   []byte            `json:"tx"`
		LastValidBlockHeight uint64            `json:"last_valid_block_height"`
		Attempt              int               `json:"attempt"`
		Replaces             string            `json:"replaces,omitempty"`
		At                   time.Time         `json:"at"`
	}
	// PaymentRefunded: the refund reached the configured confirmation
	// level. Terminal.
	PaymentRefunded struct {
		JobID        string    `json:"job_id"`
		Signature    string    `json:"signature"`
		Confirmation string    `json:"confirmation"`
		At           time.Time `json:"at"`
	}
	// PaymentFailed: the settlement cannot proceed without an operator
	// (the transaction failed on chain, or the payout has nowhere to go).
	// Terminal; Signature is the failed transaction's, if any.
	PaymentFailed struct {
		JobID     string    `json:"job_id"`
		Reason    string    `json:"reason"`
		Signature string    `json:"signature,omitempty"`
		At        time.Time `json:"at"`
	}
)

func (DepositClaimed) EventName() string          { return "DepositClaimed" }
func (EscrowFunded) EventName() string            { return "EscrowFunded" }
func (DepositRefundRequested) EventName() string  { return "DepositRefundRequested" }
func (DepositRefundSubmitted) EventName() string  { return "DepositRefundSubmitted" }
func (DepositRefunded) EventName() string         { return "DepositRefunded" }
func (DepositRefundFailed) EventName() string     { return "DepositRefundFailed" }
func (PaymentSkipped) EventName() string          { return "PaymentSkipped" }
func (PaymentReleaseSubmitted) EventName() string { return "PaymentReleaseSubmitted" }
func (PaymentReleased) EventName() string         { return "PaymentReleased" }
func (RefundSubmitted) EventName() string         { return "RefundSubmitted" }
func (PaymentRefunded) EventName() string         { return "PaymentRefunded" }
func (PaymentFailed) EventName() string           { return "PaymentFailed" }

// PaymentStream is the stream name of a job's payment events.
func PaymentStream(jobID string) string { return "payment-" + jobID }

// DepositStream is the stream that claims an escrow deposit for one job.
func DepositStream(signature string) string { return "deposit-" + signature }

// PaymentEvents returns a zero value of every payment event type, for codec
// registration.
func PaymentEvents() []Event {
	return []Event{
		DepositClaimed{}, EscrowFunded{}, PaymentSkipped{}, PaymentReleaseSubmitted{}, PaymentReleased{},
		RefundSubmitted{}, PaymentRefunded{}, PaymentFailed{},
		DepositRefundRequested{}, DepositRefundSubmitted{}, DepositRefunded{}, DepositRefundFailed{},
	}
}

package commands

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Chain is the settlement saga's view of the payment chain: the escrow
// account deposits arrive in and payouts leave from, and the few calls the
// exactly-once protocol needs (sign without sending, send the same bytes
// again, ask for a signature's status, read the block height). adapters/solana
// implements it on a Solana RPC node.
type Chain interface {
	// EscrowAddress is the platform escrow account (base58).
	EscrowAddress() string
	// ValidAddress reports whether address is a well-formed account address;
	// the error says what is wrong with it.
	ValidAddress(address string) error
	// VerifyDeposit looks up the confirmed transaction signature and returns
	// what it moved from payer into the escrow account. A deposit that cannot
	// fund the job is a *DepositError; an unreachable chain wraps
	// ErrChainUnavailable.
	VerifyDeposit(ctx context.Context, signature, payer string, minLamports uint64) (Deposit, error)
	// SignTransfers builds one transaction paying every transfer out of the
	// escrow account, with memo as a Memo instruction, and signs it against a
	// fresh blockhash. It does not broadcast.
	SignTransfers(ctx context.Context, transfers []Transfer, memo string) (SignedTx, error)
	// Broadcast sends signed transaction bytes; sending the same bytes again is
	// harmless (the chain deduplicates by signature).
	Broadcast(ctx context.Context, raw []byte) error
	// Status reports how far the signature has got.
	Status(ctx context.Context, signature string) (TxStatus, error)
	// BlockHeight is the chain's current block height: once it passes a
	// SignedTx's LastValidBlockHeight, that transaction can never land.
	BlockHeight(ctx context.Context) (uint64, error)
	// Balance is address's balance in lamports.
	Balance(ctx context.Context, address string) (uint64, error)
}

// LamportsPerSOL converts the protocol's payment amounts (SOL) to lamports.
const LamportsPerSOL = 1_000_000_000

// Transfer is one payment out of escrow.
type Transfer struct {
	To       string
	Lamports uint64
}

// SignedTx is a transaction signed but perhaps not yet sent: persisted in an
// event before the first broadcast so a restart sends the same bytes again.
type SignedTx struct {
	Raw                  []byte
	Signature            string
	LastValidBlockHeight uint64
}

// Deposit is a verified transfer into escrow.
type Deposit struct {
	Signature   string
	Payer       string
	Destination string
	Lamports    uint64
	Slot        uint64
	BlockTime   time.Time // when its block was produced (zero if the chain does not say)
}

// TxStatus is a signature's state on chain.
type TxStatus int

// Signature states, in the order a transaction moves through them.
const (
	TxNotFound  TxStatus = iota // unknown to the chain (not yet, or never, landed)
	TxProcessed                 // landed, not yet confirmed by a supermajority
	TxConfirmed
	TxFinalized
	TxFailed // landed and failed: no funds moved
)

func (s TxStatus) String() string {
	switch s {
	case TxNotFound:
		return "not_found"
	case TxProcessed:
		return "processed"
	case TxConfirmed:
		return "confirmed"
	case TxFinalized:
		return "finalized"
	case TxFailed:
		return "failed"
	}
	return fmt.Sprintf("TxStatus(%d)", int(s))
}

// ErrChainUnavailable marks a failure to reach the chain: retry later.
var ErrChainUnavailable = errors.New("chain unavailable")

// DepositProblem says why a deposit cannot fund a job.
type DepositProblem string

// Why a deposit is refused.
const (
	DepositNotFound         DepositProblem = "not_found"         // no such transaction (or not yet confirmed)
	DepositFailedOnChain    DepositProblem = "failed"            // the transaction failed
	DepositWrongPayer       DepositProblem = "wrong_payer"       // funds came from another account
	DepositWrongDestination DepositProblem = "wrong_destination" // funds did not go to the escrow account
	DepositTooSmall         DepositProblem = "too_little"        // less than the job's payment
	DepositAlreadyUsed      DepositProblem = "already_used"      // the deposit funds another job
	DepositReturned         DepositProblem = "refunded"          // the deposit was returned (or is being returned) to its payer
)

// DepositError is a deposit that cannot fund a job.
type DepositError struct {
	Problem DepositProblem
	Detail  string
}

func (e *DepositError) Error() string {
	return fmt.Sprintf("escrow deposit refused (%s): %s", e.Problem, e.Detail)
}

package projections

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// PaymentView statuses, the settlement state of a job's payment (see
// ApplyPayment for the events that set each).
const (
	PaymentFunded           = "funded"
	PaymentReleaseSubmitted = "release_submitted"
	PaymentReleased         = "released"
	PaymentRefundSubmitted  = "refund_submitted"
	PaymentRefunded         = "refunded"
	PaymentFailed           = "failed"
	PaymentSkipped          = "skipped" // blockchain off (embedded mode)
)

// PaymentStatuses lists every PaymentView status.
var PaymentStatuses = []string{
	PaymentFunded, PaymentReleaseSubmitted, PaymentReleased, PaymentRefundSubmitted,
	PaymentRefunded, PaymentFailed, PaymentSkipped,
}

// CheckPaymentStatus validates ListPayments' status filter: "" selects
// every payment; anything but a PaymentStatuses entry is an error wrapping
// domain.ErrInvalidArgument.
func CheckPaymentStatus(status string) error {
	if status == "" || slices.Contains(PaymentStatuses, status) {
		return nil
	}
	return fmt.Errorf("%w: unknown payment status %q", domain.ErrInvalidArgument, status)
}

// PaymentView is the settlement state of one job's payment, folded from
// its payment-<job> stream by ApplyPayment. The signed transaction bytes
// of the events stay in the log: a view is what a person reads.
type PaymentView struct {
	JobID  string
	Status string // one of PaymentStatuses
	// Amount is Lamports in SOL, the unit of the wire and the REST API.
	Amount float64
	// Lamports is the job's payment: escrowed, unless skipped (then what
	// the job offered, never deposited).
	Lamports uint64
	Payer    string // the payer's wallet
	// NodeID and Payee (the node's wallet) are set once a payout is
	// signed; a refunded payment has neither.
	NodeID string
	Payee  string
	// PayoutLamports and FeeLamports split a payout: the node's share and
	// the platform fee. RefundLamports is what a refund returns.
	PayoutLamports uint64
	FeeLamports    uint64
	RefundLamports uint64
	// EscrowSignature is the payer's deposit; Signature the payout's or the
	// refund's transaction, the last one signed (a re-sign replaces it).
	EscrowSignature string
	Signature       string
	Reason          string // why the payment was skipped, refunded or failed
	CreatedAt       time.Time
	UpdatedAt       time.Time
	SettledAt       time.Time // released or refunded (confirmed on chain)
	// OpenedPosition is the global position of the stream's first event:
	// a wallet's history is ordered by it, newest first.
	OpenedPosition uint64
	Revision       uint64 // stream revision of the last event folded
	Position       uint64 // global position of the last event folded
}

// Refunding reports whether the payment is being, or was, refunded (or a
// refund failed): the payer's side of it is then the refund.
func (v *PaymentView) Refunding() bool {
	switch v.Status {
	case PaymentRefundSubmitted, PaymentRefunded:
		return true
	case PaymentFailed:
		return v.RefundLamports > 0 // a refund was signed, then failed
	}
	return false
}

// PaymentRole is the part a wallet plays in a payment.
type PaymentRole int

// Roles, in the order a wallet's history lists them within a payment.
const (
	RolePayer PaymentRole = iota // deposited the escrow (and gets a refund)
	RolePayee                    // the node's wallet a payout goes to
)

func (r PaymentRole) String() string {
	if r == RolePayee {
		return "payee"
	}
	return "payer"
}

// WalletPayment is one entry of a wallet's history: a payment and the
// wallet's part in it.
type WalletPayment struct {
	Role    PaymentRole
	Payment PaymentView
}

// InWalletHistory reports whether v is in wallet's history as role:
//   - as payer, when the wallet deposited the escrow (a skipped payment
//     moved no money and is not listed);
//   - as payee, when a payout to the wallet was signed.
func InWalletHistory(v *PaymentView, wallet string, role PaymentRole) bool {
	if wallet == "" {
		return false
	}
	if role == RolePayee {
		return v.Payee == wallet
	}
	return v.Payer == wallet && v.Status != PaymentSkipped
}

// WalletQueries reads the payments a wallet took part in.
type WalletQueries interface {
	// WalletPayments returns wallet's history (InWalletHistory): ordered by
	// OpenedPosition, newest first, the payer's entry before the payee's
	// within one payment; limit (a page size, PageSize) entries from
	// offset; total counts every entry. A negative offset is an error
	// wrapping domain.ErrInvalidArgument.
	WalletPayments(ctx context.Context, wallet string, limit, offset int) (entries []WalletPayment, total int, err error)
}

// CheckOffset validates WalletPayments' offset.
func CheckOffset(offset int) error {
	if offset < 0 {
		return fmt.Errorf("%w: offset must be ≥ 0, got %d", domain.ErrInvalidArgument, offset)
	}
	return nil
}

package projections

import (
	"fmt"
	"slices"

	"github.com/cyxwiz/central-server/domain"
)

// PaymentView statuses. No payment event exists yet: the settlement issue
// adds the payment-<job> events and the fold that fills PaymentView from
// them; until then every read model lists no payment.
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

package projections

import (
	"strconv"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// PaymentJobOf returns the job whose PaymentView e changes: the events of
// the payment-<job> stream. DepositClaimed (the deposit-<signature>
// stream) changes no view.
func PaymentJobOf(e domain.Event) (string, bool) {
	switch e := e.(type) {
	case domain.EscrowFunded:
		return e.JobID, true
	case domain.PaymentSkipped:
		return e.JobID, true
	case domain.PaymentReleaseSubmitted:
		return e.JobID, true
	case domain.PaymentReleased:
		return e.JobID, true
	case domain.RefundSubmitted:
		return e.JobID, true
	case domain.PaymentRefunded:
		return e.JobID, true
	case domain.PaymentFailed:
		return e.JobID, true
	}
	return "", false
}

// OpensPayment reports whether e opens a payment stream (EscrowFunded or
// PaymentSkipped). Models open a view with such an event only, ignore one
// for a payment already open, and ignore the other payment events of a
// payment never opened, as they do for jobs.
func OpensPayment(e domain.Event) bool {
	switch e.(type) {
	case domain.EscrowFunded, domain.PaymentSkipped:
		return true
	}
	return false
}

// ApplyPayment folds one envelope of a payment stream into v:
//
//   - EscrowFunded opens it as funded: payer, the job's amount, the
//     deposit's signature.
//   - PaymentSkipped opens it as skipped with the reason (and the payer and
//     amount the job offered, never escrowed).
//   - PaymentReleaseSubmitted: release_submitted, the node, its wallet
//     (Payee), the payout/fee split and the signature; a re-sign replaces
//     the signature.
//   - RefundSubmitted: refund_submitted, the amount refunded, the reason
//     and the signature.
//   - PaymentReleased, PaymentRefunded: released / refunded, settled at the
//     event's time, with the confirmed signature.
//   - PaymentFailed: failed with the reason (and the failed signature, when
//     it names one).
//
// Every event sets UpdatedAt (its At, or the recorded time when it has
// none), Revision and Position. Other events leave v unchanged.
func ApplyPayment(v *PaymentView, e Envelope) {
	var at time.Time
	switch ev := e.Event.(type) {
	case domain.EscrowFunded:
		at = orRecorded(ev.At, e)
		*v = PaymentView{JobID: ev.JobID, Status: PaymentFunded, Lamports: ev.Lamports, Payer: ev.Payer,
			EscrowSignature: ev.DepositSignature, CreatedAt: at, OpenedPosition: e.Position}
	case domain.PaymentSkipped:
		at = orRecorded(ev.At, e)
		*v = PaymentView{JobID: ev.JobID, Status: PaymentSkipped, Lamports: ev.Lamports, Payer: ev.Payer,
			Reason: ev.Reason, CreatedAt: at, OpenedPosition: e.Position}
	case domain.PaymentReleaseSubmitted:
		at = orRecorded(ev.At, e)
		v.Status, v.NodeID, v.Payee, v.Signature = PaymentReleaseSubmitted, ev.NodeID, ev.Payee, ev.Signature
		v.PayoutLamports, v.FeeLamports = ev.PayoutLamports, ev.FeeLamports
	case domain.RefundSubmitted:
		at = orRecorded(ev.At, e)
		v.Status, v.RefundLamports, v.Signature, v.Reason = PaymentRefundSubmitted, ev.RefundLamports, ev.Signature, ev.Reason
	case domain.PaymentReleased:
		at = orRecorded(ev.At, e)
		v.Status, v.SettledAt = PaymentReleased, at
		if ev.Signature != "" {
			v.Signature = ev.Signature
		}
	case domain.PaymentRefunded:
		at = orRecorded(ev.At, e)
		v.Status, v.SettledAt = PaymentRefunded, at
		if ev.Signature != "" {
			v.Signature = ev.Signature
		}
	case domain.PaymentFailed:
		at = orRecorded(ev.At, e)
		v.Status, v.Reason = PaymentFailed, ev.Reason
		if ev.Signature != "" {
			v.Signature = ev.Signature
		}
	default:
		return
	}
	v.Amount = float64(v.Lamports) / domain.LamportsPerSOL
	v.UpdatedAt, v.Revision, v.Position = at, e.Revision, e.Position
}

// orRecorded is an event's own time, or its recorded time when it has none.
func orRecorded(at time.Time, e Envelope) time.Time {
	if at.IsZero() {
		return e.Recorded
	}
	return at
}

// describePayment is Describe for the payment events.
func describePayment(e domain.Event) (string, bool) {
	switch e := e.(type) {
	case domain.DepositClaimed:
		return "escrow deposit " + e.Signature + " claimed for job " + e.JobID, true
	case domain.EscrowFunded:
		return "escrow funded: " + solText(e.Lamports) + " SOL from " + e.Payer, true
	case domain.PaymentSkipped:
		return because("payment skipped", e.Reason), true
	case domain.PaymentReleaseSubmitted:
		s := "payout signed: " + solText(e.PayoutLamports) + " SOL to node " + e.NodeID + ", fee " + solText(e.FeeLamports) + " SOL"
		if e.Attempt > 1 {
			s += " (re-signed, attempt " + strconv.Itoa(e.Attempt) + ")"
		}
		return s, true
	case domain.PaymentReleased:
		return "payout confirmed (" + e.Confirmation + ")", true
	case domain.RefundSubmitted:
		s := because("refund signed: "+solText(e.RefundLamports)+" SOL to "+e.Payer, e.Reason)
		if e.Attempt > 1 {
			s += " (re-signed, attempt " + strconv.Itoa(e.Attempt) + ")"
		}
		return s, true
	case domain.PaymentRefunded:
		return "refund confirmed (" + e.Confirmation + ")", true
	case domain.PaymentFailed:
		return because("payment failed", e.Reason), true
	case domain.DepositRefundRequested:
		return because(by("deposit "+e.Signature+" ("+solText(e.Lamports)+" SOL) to be returned to "+e.Payer+", asked", e.RequestedBy), e.Reason), true
	case domain.DepositRefundSubmitted:
		return "deposit refund signed: " + e.RefundSignature, true
	case domain.DepositRefunded:
		return "deposit " + e.Signature + " returned (" + e.Confirmation + ")", true
	case domain.DepositRefundFailed:
		return because("deposit refund failed", e.Reason), true
	}
	return "", false
}

// solText formats lamports as SOL, without trailing zeros.
func solText(lamports uint64) string {
	return strconv.FormatFloat(float64(lamports)/domain.LamportsPerSOL, 'f', -1, 64)
}

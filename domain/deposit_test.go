package domain

import (
	"errors"
	"testing"
	"time"
)

func TestDepositDecisions(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	req := DepositRefundRequested{Signature: "sig", Payer: "payer", Lamports: 500, RequestedBy: "payer", At: at}
	sub := DepositRefundSubmitted{Transfers: []PaymentTransfer{{To: "payer", Lamports: 500}}, RefundSignature: "r1", Tx: []byte{1}}
	fold := func(events ...Event) *Deposit {
		d := &Deposit{}
		for _, e := range events {
			d.Apply(e)
		}
		return d
	}
	claimed := DepositClaimed{Signature: "sig", JobID: "job", Payer: "payer", Lamports: 500}
	submitted := sub
	submitted.Signature, submitted.Attempt = "sig", 1
	for _, c := range []struct {
		name   string
		d      *Deposit
		decide func(*Deposit) ([]Event, error)
		want   error // nil: one event
	}{
		{"an unclaimed deposit is returned", fold(), func(d *Deposit) ([]Event, error) { return d.RequestRefund(req) }, nil},
		{"a claimed one is not", fold(claimed), func(d *Deposit) ([]Event, error) { return d.RequestRefund(req) }, ErrFailedPrecondition},
		{"nor one already requested", fold(req), func(d *Deposit) ([]Event, error) { return d.RequestRefund(req) }, ErrFailedPrecondition},
		{"a request names who asks", fold(), func(d *Deposit) ([]Event, error) {
			r := req
			r.RequestedBy = ""
			return d.RequestRefund(r)
		}, ErrInvalidArgument},
		{"a requested refund is submitted", fold(req), func(d *Deposit) ([]Event, error) { return d.SubmitRefund(sub) }, nil},
		{"to the payer only", fold(req), func(d *Deposit) ([]Event, error) {
			s := sub
			s.Transfers = []PaymentTransfer{{To: "mallory", Lamports: 500}}
			return d.SubmitRefund(s)
		}, ErrInvalidArgument},
		{"of the whole deposit", fold(req), func(d *Deposit) ([]Event, error) {
			s := sub
			s.Transfers = []PaymentTransfer{{To: "payer", Lamports: 499}}
			return d.SubmitRefund(s)
		}, ErrInvalidArgument},
		{"a second submission replaces nothing", fold(req, submitted), func(d *Deposit) ([]Event, error) {
			s := sub
			s.RefundSignature = "r2"
			return d.SubmitRefund(s)
		}, ErrFailedPrecondition},
		{"a re-sign replaces the pending one", fold(req, submitted), func(d *Deposit) ([]Event, error) {
			s := sub
			s.RefundSignature, s.Replaces = "r2", "r1"
			return d.SubmitRefund(s)
		}, nil},
		{"no refund of an unrequested deposit", fold(claimed), func(d *Deposit) ([]Event, error) { return d.SubmitRefund(sub) }, ErrFailedPrecondition},
		{"the pending refund confirms", fold(req, submitted), func(d *Deposit) ([]Event, error) { return d.Confirm("r1", "confirmed", at) }, nil},
		{"another signature does not", fold(req, submitted), func(d *Deposit) ([]Event, error) { return d.Confirm("r9", "confirmed", at) }, ErrFailedPrecondition},
		{"a claimed deposit's refund cannot fail", fold(claimed), func(d *Deposit) ([]Event, error) { return d.Fail("x", at) }, ErrFailedPrecondition},
	} {
		t.Run(c.name, func(t *testing.T) {
			events, err := c.decide(c.d)
			switch {
			case c.want == nil && (err != nil || len(events) != 1):
				t.Fatalf("= %v, %v; want one event", events, err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	done := fold(req, submitted, DepositRefunded{Signature: "sig", RefundSignature: "r1"})
	if events, err := done.Confirm("r1", "confirmed", at); err != nil || len(events) != 0 {
		t.Fatalf("confirming again = %v, %v; want nothing", events, err)
	}
	if done.Status() != DepositRefundedStatus || done.SettledSignature() != "r1" {
		t.Fatalf("status %s, settled %q", done.Status(), done.SettledSignature())
	}
}

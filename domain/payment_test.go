package domain_test

import (
	"errors"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

const (
	payer    = "Payer111111111111111111111111111111111111111"
	escrow   = "Escrow11111111111111111111111111111111111111"
	payee    = "Payee111111111111111111111111111111111111111"
	treasury = "Treasury1111111111111111111111111111111111111"
	deposit  = "dep-sig"
)

func funded() domain.EscrowFunded {
	return domain.EscrowFunded{JobID: jobID, Payer: payer, EscrowAddress: escrow, Lamports: 1000,
		DepositLamports: 1000, DepositSignature: deposit, At: t0}
}

func release(sig, replaces string) domain.PaymentReleaseSubmitted {
	return domain.PaymentReleaseSubmitted{JobID: jobID, NodeID: nodeA, Payee: payee, Treasury: treasury,
		PayoutLamports: 900, FeeLamports: 100, Signature: sig, Tx: []byte("tx-" + sig), LastValidBlockHeight: 150,
		Transfers: []domain.PaymentTransfer{{To: payee, Lamports: 900}, {To: treasury, Lamports: 100}}, Replaces: replaces, At: t1}
}

func refund(sig, replaces string) domain.RefundSubmitted {
	return domain.RefundSubmitted{JobID: jobID, Payer: payer, RefundLamports: 1000, Reason: "cancelled",
		Signature: sig, Tx: []byte("tx-" + sig), LastValidBlockHeight: 150,
		Transfers: []domain.PaymentTransfer{{To: payer, Lamports: 1000}}, Replaces: replaces, At: t1}
}

func foldPayment(events ...domain.Event) *domain.Payment {
	p := &domain.Payment{}
	for _, e := range events {
		p.Apply(e)
	}
	return p
}

func TestPaymentDecisions(t *testing.T) {
	skipped := domain.PaymentSkipped{JobID: jobID, Reason: "blockchain disabled", At: t0}
	released := domain.PaymentReleased{JobID: jobID, Signature: "s1", Confirmation: "confirmed", At: t2}
	refunded := domain.PaymentRefunded{JobID: jobID, Signature: "r1", Confirmation: "confirmed", At: t2}
	tooMuch := release("s1", "")
	tooMuch.PayoutLamports = 1000
	wrongSum := release("s1", "")
	wrongSum.Transfers = []domain.PaymentTransfer{{To: payee, Lamports: 1}}
	otherPayer := refund("r1", "")
	otherPayer.Payer = "someone-else"
	small := funded()
	small.DepositLamports = 999

	type decide func(p *domain.Payment) ([]domain.Event, error)
	fund := func(e domain.EscrowFunded) decide {
		return func(p *domain.Payment) ([]domain.Event, error) { return p.FundEscrow(e) }
	}
	rel := func(e domain.PaymentReleaseSubmitted) decide {
		return func(p *domain.Payment) ([]domain.Event, error) { return p.SubmitRelease(e) }
	}
	ref := func(e domain.RefundSubmitted) decide {
		return func(p *domain.Payment) ([]domain.Event, error) { return p.SubmitRefund(e) }
	}
	confirm := func(sig string) decide {
		return func(p *domain.Payment) ([]domain.Event, error) { return p.Confirm(sig, "confirmed", t2) }
	}
	fail := func(p *domain.Payment) ([]domain.Event, error) { return p.Fail("tx failed", t2) }

	tests := []struct {
		name    string
		history []domain.Event
		decide  decide
		want    string // event name, "" for nothing
		wantErr error
	}{
		{"fund a new payment", nil, fund(funded()), "EscrowFunded", nil},
		{"fund again with the same deposit records nothing", []domain.Event{funded()}, fund(funded()), "", nil},
		{"fund with a deposit too small", nil, fund(small), "", domain.ErrFailedPrecondition},
		{"fund a skipped payment", []domain.Event{skipped}, fund(funded()), "", domain.ErrAlreadyExists},
		{"release a funded payment", []domain.Event{funded()}, rel(release("s1", "")), "PaymentReleaseSubmitted", nil},
		{"release needs an escrow", nil, rel(release("s1", "")), "", domain.ErrFailedPrecondition},
		{"a skipped payment is never released", []domain.Event{skipped}, rel(release("s1", "")), "", domain.ErrFailedPrecondition},
		{"release more than escrowed", []domain.Event{funded()}, rel(tooMuch), "", domain.ErrInvalidArgument},
		{"transfers must add up to the escrow", []domain.Event{funded()}, rel(wrongSum), "", domain.ErrInvalidArgument},
		{"a second release while one is pending", []domain.Event{funded(), release("s1", "")}, rel(release("s2", "")), "", domain.ErrFailedPrecondition},
		{"a re-sign replaces the pending release", []domain.Event{funded(), release("s1", "")}, rel(release("s2", "s1")), "PaymentReleaseSubmitted", nil},
		{"a re-sign must name the pending signature", []domain.Event{funded(), release("s1", "")}, rel(release("s2", "s0")), "", domain.ErrFailedPrecondition},
		{"a re-sign of nothing", []domain.Event{funded()}, rel(release("s2", "s1")), "", domain.ErrFailedPrecondition},
		{"never refund a payment being released", []domain.Event{funded(), release("s1", "")}, ref(refund("r1", "")), "", domain.ErrFailedPrecondition},
		{"never refund a released payment", []domain.Event{funded(), release("s1", ""), released}, ref(refund("r1", "")), "", domain.ErrFailedPrecondition},
		{"never release a payment being refunded", []domain.Event{funded(), refund("r1", "")}, rel(release("s1", "")), "", domain.ErrFailedPrecondition},
		{"never release a refunded payment", []domain.Event{funded(), refund("r1", ""), refunded}, rel(release("s1", "")), "", domain.ErrFailedPrecondition},
		{"refund a funded payment", []domain.Event{funded()}, ref(refund("r1", "")), "RefundSubmitted", nil},
		{"refund goes to the payer only", []domain.Event{funded()}, ref(otherPayer), "", domain.ErrInvalidArgument},
		{"confirm the pending release", []domain.Event{funded(), release("s1", "")}, confirm("s1"), "PaymentReleased", nil},
		{"confirm the pending refund", []domain.Event{funded(), refund("r1", "")}, confirm("r1"), "PaymentRefunded", nil},
		{"confirm a replaced signature", []domain.Event{funded(), release("s1", ""), release("s2", "s1")}, confirm("s1"), "", domain.ErrFailedPrecondition},
		{"confirm the re-signed release", []domain.Event{funded(), release("s1", ""), release("s2", "s1")}, confirm("s2"), "PaymentReleased", nil},
		{"confirm twice records nothing", []domain.Event{funded(), release("s1", ""), released}, confirm("s1"), "", nil},
		{"confirm with nothing pending", []domain.Event{funded()}, confirm("s1"), "", domain.ErrFailedPrecondition},
		{"fail a pending release", []domain.Event{funded(), release("s1", "")}, fail, "PaymentFailed", nil},
		{"fail twice records nothing", []domain.Event{funded(), release("s1", ""), domain.PaymentFailed{JobID: jobID, Reason: "x"}}, fail, "", nil},
		{"a released payment never fails", []domain.Event{funded(), release("s1", ""), released}, fail, "", domain.ErrFailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := foldPayment(tt.history...)
			events, err := tt.decide(p)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr != nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			switch {
			case tt.want == "" && len(events) != 0:
				t.Fatalf("recorded %v, want nothing", events)
			case tt.want != "" && (len(events) != 1 || events[0].EventName() != tt.want):
				t.Fatalf("recorded %v, want one %s", events, tt.want)
			}
		})
	}
}

func TestPaymentFoldTracksThePendingTransaction(t *testing.T) {
	p := foldPayment(funded(), release("s1", ""))
	pt, ok := p.Pending()
	if !ok || pt.Signature != "s1" || pt.Kind != domain.SettleRelease || pt.Attempt != 0 || string(pt.Tx) != "tx-s1" {
		t.Fatalf("pending = %+v, %v", pt, ok)
	}
	evs, err := p.SubmitRelease(release("s2", "s1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := evs[0].(domain.PaymentReleaseSubmitted).Attempt; got != 1 {
		t.Fatalf("a re-sign's attempt = %d, want 1 (the first fold saw attempt 0)", got)
	}
	p.Apply(evs[0])
	if p.Signature() != "s2" || p.Status() != domain.PaymentStatusReleasing || p.NodeID() != nodeA {
		t.Fatalf("after re-sign: sig %s status %s node %s", p.Signature(), p.Status(), p.NodeID())
	}
	p.Apply(domain.PaymentReleased{JobID: jobID, Signature: "s2"})
	if _, ok := p.Pending(); ok || p.Status() != domain.PaymentStatusReleased || !p.Status().Terminal() || p.SettledSignature() != "s2" {
		t.Fatalf("after release: status %s settled %s", p.Status(), p.SettledSignature())
	}
	// The clone is deep: changing it leaves the original alone.
	q := foldPayment(funded(), refund("r1", ""))
	c := q.Clone()
	c.Apply(domain.PaymentRefunded{JobID: jobID, Signature: "r1"})
	if q.Status() != domain.PaymentStatusRefunding {
		t.Fatalf("clone changed the original: %s", q.Status())
	}
}

func TestSplitPayout(t *testing.T) {
	for _, tt := range []struct {
		lamports   uint64
		pct        int
		payout, fe uint64
	}{
		{1_000_000_000, 10, 900_000_000, 100_000_000},
		{999, 10, 900, 99},
		{1, 10, 1, 0},
		{12345, 0, 12345, 0},
		{12345, 100, 0, 12345},
		{^uint64(0), 10, ^uint64(0) - (^uint64(0)/100*10 + ^uint64(0)%100*10/100), ^uint64(0)/100*10 + ^uint64(0)%100*10/100},
	} {
		p, f := domain.SplitPayout(tt.lamports, tt.pct)
		if p != tt.payout || f != tt.fe || p+f != tt.lamports {
			t.Errorf("SplitPayout(%d, %d) = %d, %d; want %d, %d", tt.lamports, tt.pct, p, f, tt.payout, tt.fe)
		}
	}
}

func TestSOLToLamports(t *testing.T) {
	for _, tt := range []struct {
		sol  float64
		want uint64
		err  bool
	}{
		{1, 1_000_000_000, false},
		{0.1, 100_000_000, false},
		{0.000000001, 1, false},
		{0, 0, false},
		{-1, 0, true},
		{1e300, 0, true},
	} {
		got, err := domain.SOLToLamports(tt.sol)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("SOLToLamports(%v) = %d, %v; want %d, err %v", tt.sol, got, err, tt.want, tt.err)
		}
	}
}

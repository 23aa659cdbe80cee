package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// depositEvents returns the event names of a deposit's stream, in order.
func depositEvents(t *testing.T, s *testServer, sig string) []string {
	t.Helper()
	recs, err := s.app.store.ReadStream(context.Background(), domain.DepositStream(sig), 0, 0)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Type)
	}
	return names
}

func waitDeposit(t *testing.T, s *testServer, sig string, want domain.DepositStatus) *domain.Deposit {
	t.Helper()
	var d *domain.Deposit
	eventually(t, 30*time.Second, "deposit "+want.String(), func() bool {
		var err error
		d, err = s.app.handler.LoadDeposit(context.Background(), sig)
		if err != nil {
			t.Fatal(err)
		}
		return d.Status() == want
	})
	return d
}

// TestRefusedDepositReturnedOnce: a deposit refused as too little funds no
// job; its payer gets it back exactly once (balances on the chain), a
// second request is refused, and the deposit can no longer fund a job.
func TestRefusedDepositReturnedOnce(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)
	small := pc.deposit(p, jobLamports-1)
	if _, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: paidJob(p, small)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("SubmitJob with too little = %v, want FAILED_PRECONDITION", err)
	}
	before := pc.balances(p, "")

	if a := restPost(t, s, "/api/deposits/"+small+"/refund", alice, map[string]string{"reason": "refused: too little"}); a.status != http.StatusAccepted {
		t.Fatalf("refund request = %d %s, want 202", a.status, a.body)
	}
	d := waitDeposit(t, s, small, domain.DepositRefundedStatus)
	after := pc.balances(p, "")
	fee := pc.txFee(t, d.SettledSignature())
	if after.payer != before.payer+jobLamports-1 || after.escrow != before.escrow-(jobLamports-1)-fee {
		t.Fatalf("balances %+v → %+v, want the payer +%d and the escrow -%d (the deposit and the fee %d)", before, after, jobLamports-1, jobLamports-1+fee, fee)
	}
	if got := pc.memoOf(t, d.SettledSignature()); !strings.Contains(got, small) {
		t.Fatalf("refund memo %q does not name the deposit", got)
	}
	want := []string{"DepositRefundRequested", "DepositRefundSubmitted", "DepositRefunded"}
	if got := depositEvents(t, s, small); !slices.Equal(got, want) {
		t.Fatalf("deposit events %v, want %v", got, want)
	}

	// Once: a second request, by the payer or an operator, is refused.
	for _, req := range []struct {
		path, token string
		body        any
	}{
		{"/api/deposits/" + small + "/refund", alice, nil},
		{"/api/admin/deposits/" + small + "/refund", s.adminToken("root"), map[string]string{"payer": p.address}},
	} {
		if a := restPost(t, s, req.path, req.token, req.body); status.Code(a.err()) != codes.FailedPrecondition || !strings.Contains(string(a.body), "once") {
			t.Fatalf("second refund via %s = %d %s, want failed_precondition naming the rule", req.path, a.status, a.body)
		}
	}
	// The returned deposit funds nothing now.
	c := paidJob(p, small)
	c.PaymentAmount = float64(jobLamports-1) / lamportsPerSOL
	if _, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: c}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "refunded") {
		t.Fatalf("SubmitJob with a returned deposit = %v, want FAILED_PRECONDITION (refunded)", err)
	}
	if got := pc.balances(p, ""); got.payer != after.payer {
		t.Fatalf("payer balance moved again: %d → %d", after.payer, got.payer)
	}
}

// TestDepositRefundRaces: the payer and an operator ask for one deposit
// back at the same time, many times over: exactly one request is
// recorded and the deposit is paid back once.
func TestDepositRefundRaces(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc, func(c *config.Config) { c.Blockchain.UnclaimedDepositRefundAfterSeconds = 0 })
	p := newPayer(t, pc)
	alice, admin := s.payerToken("alice", p.address), s.adminToken("root")
	dep := pc.deposit(p, jobLamports)
	before := pc.balances(p, "")

	const n = 8
	answers := make([]restAnswer, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[2*i] = restPost(t, s, "/api/deposits/"+dep+"/refund", alice, nil) })
		wg.Go(func() {
			answers[2*i+1] = restPost(t, s, "/api/admin/deposits/"+dep+"/refund", admin, map[string]string{"payer": p.address})
		})
	}
	wg.Wait()
	accepted := 0
	for _, a := range answers {
		switch status.Code(a.err()) {
		case codes.OK:
			accepted++
		case codes.FailedPrecondition:
		default:
			t.Fatalf("a racing request got %d %s", a.status, a.body)
		}
	}
	if accepted != 1 {
		t.Fatalf("%d of %d racing requests accepted, want 1", accepted, len(answers))
	}
	d := waitDeposit(t, s, dep, domain.DepositRefundedStatus)
	fee := pc.txFee(t, d.SettledSignature())
	if after := pc.balances(p, ""); after.payer != before.payer+jobLamports || after.escrow != before.escrow-jobLamports-fee {
		t.Fatalf("balances %+v → %+v, want the deposit back once", before, after)
	}
	if got := depositEvents(t, s, dep); len(got) != 3 || got[0] != "DepositRefundRequested" {
		t.Fatalf("deposit events %v, want one request, one submission, one confirmation", got)
	}
}

// TestDepositRefundRules: what may not be returned, and by whom.
func TestDepositRefundRules(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc) // an operator waits an hour by default
	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)
	claimed := pc.deposit(p, jobLamports)
	jobID := s.submit(alice, paidJob(p, claimed))
	fresh := pc.deposit(p, jobLamports)
	for _, c := range []struct {
		name, path, token string
		body              any
		want              codes.Code
		says              string
	}{
		{"a deposit that funds a job", "/api/deposits/" + claimed + "/refund", alice, nil, codes.FailedPrecondition, jobID},
		{"an operator, before the deposit is old enough", "/api/admin/deposits/" + fresh + "/refund", s.adminToken("root"), map[string]string{"payer": p.address}, codes.FailedPrecondition, "unclaimed_deposit_refund_after_seconds"},
		{"an operator naming no payer", "/api/admin/deposits/" + fresh + "/refund", s.adminToken("root"), nil, codes.InvalidArgument, "payer"},
		{"a token without a wallet", "/api/deposits/" + fresh + "/refund", s.userToken("alice"), nil, codes.PermissionDenied, "wallet_address"},
		{"an operator-role token on the admin endpoint", "/api/admin/deposits/" + fresh + "/refund", s.payerToken("bob", p.address), map[string]string{"payer": p.address}, codes.PermissionDenied, "role"},
		{"no such transaction", "/api/deposits/5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW/refund", alice, nil, codes.FailedPrecondition, "not_found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := restPost(t, s, c.path, c.token, c.body)
			if status.Code(a.err()) != c.want || !strings.Contains(string(a.body), c.says) {
				t.Fatalf("= %d %s, want %v naming %q", a.status, a.body, c.want, c.says)
			}
		})
	}
	for _, sig := range []string{claimed, fresh} {
		if got := depositEvents(t, s, sig); slices.Contains(got, "DepositRefundRequested") {
			t.Fatalf("deposit %s: a refused request was recorded: %v", sig, got)
		}
	}
}

// TestDepositRefundSurvivesRestart: the server stops right after a refund
// was requested (the saga may or may not have signed it yet); the next
// start finds it in the log and returns the deposit, once.
func TestDepositRefundSurvivesRestart(t *testing.T) {
	pc := newPaidChain(t)
	dir := t.TempDir()
	s := startPaidServer(t, dir, pc)
	p := newPayer(t, pc)
	dep := pc.deposit(p, jobLamports)
	before := pc.balances(p, "")
	if a := restPost(t, s, "/api/deposits/"+dep+"/refund", s.payerToken("alice", p.address), nil); a.status != http.StatusAccepted {
		t.Fatalf("refund request = %d %s", a.status, a.body)
	}
	s.stop()
	s = startPaidServer(t, dir, pc)
	d := waitDeposit(t, s, dep, domain.DepositRefundedStatus)
	fee := pc.txFee(t, d.SettledSignature())
	if after := pc.balances(p, ""); after.payer != before.payer+jobLamports || after.escrow != before.escrow-jobLamports-fee {
		t.Fatalf("balances %+v → %+v, want the deposit back once", before, after)
	}
	if n := len(streamEventsOfType(t, s, domain.DepositStream(dep), "DepositRefunded")); n != 1 {
		t.Fatalf("%d DepositRefunded, want 1", n)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/solana/solanatest"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	solanago "github.com/gagliardetto/solana-go"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The settlement tests run the real server (gRPC on loopback) against the
// LiteSVM test chain (adapters/solana/solanatest): deposits, payouts and
// refunds are real transactions, and every amount is asserted on chain
// balances. They skip loudly when the test chain is not installed, and
// fail then under CI=true.

const (
	lamportsPerSOL = domain.LamportsPerSOL
	jobSOL         = 0.5 // every paid job's payment
	jobLamports    = uint64(jobSOL * lamportsPerSOL)
	feePercent     = 10
)

// paidChain is a test chain with the platform's accounts: the escrow
// (keypair file for the server) and the treasury.
type paidChain struct {
	tc         *solanatest.TestChain
	escrowPath string
	escrow     string
	treasury   string
}

func newPaidChain(t *testing.T) *paidChain {
	t.Helper()
	tc := solanatest.Start(t)
	key, path := tc.NewFundedKeypair(1 * lamportsPerSOL) // pays the transaction fees
	treasuryKey, err := solanago.NewRandomPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &paidChain{tc: tc, escrowPath: path, escrow: key.PublicKey().String(), treasury: treasuryKey.PublicKey().String()}
}

// startPaidServer starts a server settling on pc's chain.
func startPaidServer(t *testing.T, dir string, pc *paidChain, tweak ...func(*config.Config)) *testServer {
	t.Helper()
	return startServer(t, dir, Settings{SettleInterval: 50 * time.Millisecond}, append([]func(*config.Config){func(c *config.Config) {
		c.Blockchain.Network = config.NetworkLocalnet
		c.Blockchain.SolanaRPCURL = pc.tc.URL()
		c.Blockchain.PayerKeypairPath = pc.escrowPath
		c.Blockchain.TreasuryAddress = pc.treasury
		c.Blockchain.PlatformFeePercent = feePercent
	}}, tweak...)...)
}

// payer is a funded client wallet.
type payer struct {
	key     solanago.PrivateKey
	address string
}

func newPayer(t *testing.T, pc *paidChain) payer {
	t.Helper()
	key, _ := pc.tc.NewFundedKeypair(5 * lamportsPerSOL)
	return payer{key: key, address: key.PublicKey().String()}
}

// deposit moves lamports from p into escrow and returns the signature.
func (pc *paidChain) deposit(p payer, lamports uint64) string {
	return pc.tc.Transfer(p.key, pc.escrow, lamports)
}

func paidJob(p payer, escrowSig string) *pb.JobConfig {
	c := trainingJob()
	c.PaymentAmount, c.PaymentAddress, c.EscrowTxHash = jobSOL, p.address, escrowSig
	return c
}

// startWalletNode starts a node whose wallet receives its payouts.
func startWalletNode(t *testing.T, s *testServer, name string) (*testNode, string) {
	t.Helper()
	n := startNode(t, s, "ops", name, pb.DeviceType_DEVICE_CUDA, 24<<30)
	key, err := solanago.NewRandomPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	wallet := key.PublicKey().String()
	info := nodeInfo(name, n.port, pb.DeviceType_DEVICE_CUDA, 24<<30)
	info.NodeId, info.WalletAddress = n.id, wallet
	if _, err := s.nodes().RegisterNode(as(s.userToken("ops")), &pb.RegisterNodeRequest{Info: info}); err != nil {
		t.Fatalf("re-register %s with a wallet: %v", name, err)
	}
	return n, wallet
}

// runJob has node take jobID and start it.
func runJob(t *testing.T, s *testServer, n *testNode, jobID string) {
	t.Helper()
	n.heartbeat()
	if a := n.waitAssignment(10 * time.Second); a.GetJob().GetJobId() != jobID {
		t.Fatalf("node got job %s, want %s", a.GetJob().GetJobId(), jobID)
	}
	eventually(t, 5*time.Second, "job accepted", func() bool {
		j, err := s.app.handler.LoadJob(context.Background(), jobID)
		return err == nil && j.Accepted()
	})
	if _, err := s.nodes().NotifyJobAccepted(as(n.session), &pb.JobAcceptedRequest{NodeId: n.id, JobId: jobID}); err != nil {
		t.Fatal(err)
	}
}

func complete(t *testing.T, s *testServer, n *testNode, jobID string) *pb.ReportCompletionResponse {
	t.Helper()
	resp, err := s.nodes().ReportCompletion(as(n.session), &pb.ReportCompletionRequest{NodeId: n.id, JobId: jobID,
		Result: &pb.JobResult{JobId: jobID, Status: pb.StatusCode_STATUS_SUCCESS, ModelWeightsUri: "s3://out/w.bin"}})
	if err != nil {
		t.Fatalf("ReportCompletion: %v", err)
	}
	return resp
}

func (s *testServer) payment(t *testing.T, jobID string) *domain.Payment {
	t.Helper()
	p, err := s.app.handler.LoadPayment(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitPayment(t *testing.T, s *testServer, jobID string, want domain.PaymentStatus) *domain.Payment {
	t.Helper()
	var p *domain.Payment
	eventually(t, 30*time.Second, "payment "+want.String(), func() bool {
		p = s.payment(t, jobID)
		return p.Status() == want
	})
	return p
}

// paymentEvents returns the names of jobID's payment events, in order.
func paymentEvents(t *testing.T, s *testServer, jobID string) ([]string, []domain.Event) {
	t.Helper()
	recs, err := s.app.store.ReadStream(context.Background(), domain.PaymentStream(jobID), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var events []domain.Event
	codec := commands.NewCodec()
	for _, r := range recs {
		names = append(names, r.Type)
		v, err := codec.Decode(r.Type, r.Data)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, v.(domain.Event))
	}
	return names, events
}

// balances reads the accounts of a payment on chain.
type balances struct{ payer, escrow, node, treasury uint64 }

func (pc *paidChain) balances(p payer, node string) balances {
	b := balances{payer: pc.tc.Balance(p.address), escrow: pc.tc.Balance(pc.escrow), treasury: pc.tc.Balance(pc.treasury)}
	if node != "" {
		b.node = pc.tc.Balance(node)
	}
	return b
}

// txFee is what the escrow paid to send signature.
func (pc *paidChain) txFee(t *testing.T, signature string) uint64 {
	t.Helper()
	tx, meta := pc.tc.Transaction(signature)
	if tx == nil || meta == nil {
		t.Fatalf("transaction %s is not on chain", signature)
	}
	return meta.Fee
}

// memoOf returns the Memo instruction's text of a landed transaction.
func (pc *paidChain) memoOf(t *testing.T, signature string) string {
	t.Helper()
	tx, _ := pc.tc.Transaction(signature)
	if tx == nil {
		t.Fatalf("transaction %s is not on chain", signature)
	}
	memo := solanago.MustPublicKeyFromBase58("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
	for _, ix := range tx.Message.Instructions {
		if tx.Message.AccountKeys[ix.ProgramIDIndex].Equals(memo) {
			return string(ix.Data)
		}
	}
	t.Fatalf("transaction %s has no Memo instruction", signature)
	return ""
}

// assertPayout checks one payout of jobLamports on chain: the node got
// its share, the treasury the fee, and escrow lost the amount plus the
// transaction fee.
func assertPayout(t *testing.T, pc *paidChain, before, after balances, signature string) {
	t.Helper()
	fee := jobLamports * feePercent / 100
	if got := after.node - before.node; got != jobLamports-fee {
		t.Errorf("node wallet got %d lamports, want %d (90%%)", got, jobLamports-fee)
	}
	if got := after.treasury - before.treasury; got != fee {
		t.Errorf("treasury got %d lamports, want %d (10%%)", got, fee)
	}
	if got, want := before.escrow-after.escrow, jobLamports+pc.txFee(t, signature); got != want {
		t.Errorf("escrow lost %d lamports, want %d (the amount plus the transaction fee)", got, want)
	}
}

func TestPaidLifecycle(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)
	node, wallet := startWalletNode(t, s, "alpha")
	repBefore := mustNode(t, s, node.id).Reputation()

	dep := pc.deposit(p, jobLamports)
	jobID := s.submit(alice, paidJob(p, dep))
	if pay := s.payment(t, jobID); pay.Status() != domain.PaymentStatusFunded || pay.Lamports() != jobLamports || pay.Payer() != p.address {
		t.Fatalf("after SubmitJob the payment is %s, %d lamports from %s", pay.Status(), pay.Lamports(), pay.Payer())
	}
	before := pc.balances(p, wallet)
	runJob(t, s, node, jobID)
	complete(t, s, node, jobID)

	// Duplicate completion reports: answered alike, one payout.
	var resp *pb.ReportCompletionResponse
	eventually(t, 30*time.Second, "a report answering payment_released", func() bool {
		resp = complete(t, s, node, jobID)
		return resp.GetPaymentReleased()
	})
	pay := s.payment(t, jobID)
	if resp.GetPaymentTxHash() == "" || resp.GetPaymentTxHash() != pay.SettledSignature() {
		t.Fatalf("payment_tx_hash %q, the log's payout %q", resp.GetPaymentTxHash(), pay.SettledSignature())
	}
	for range 3 {
		complete(t, s, node, jobID)
	}
	time.Sleep(300 * time.Millisecond) // several saga steps
	after := pc.balances(p, wallet)
	assertPayout(t, pc, before, after, pay.SettledSignature())
	if after.payer != before.payer {
		t.Errorf("the payer's balance moved by %d on a payout", int64(after.payer)-int64(before.payer))
	}
	if memo := pc.memoOf(t, pay.SettledSignature()); !strings.Contains(memo, jobID) {
		t.Errorf("payout memo %q does not name job %s", memo, jobID)
	}
	names, _ := paymentEvents(t, s, jobID)
	if got := strings.Join(names, ","); got != "EscrowFunded,PaymentReleaseSubmitted,PaymentReleased" {
		t.Errorf("payment stream %s", got)
	}
	// Reputation rose by reputation_reward_success, once.
	want := min(1, repBefore+config.Default().Scheduler.ReputationRewardSuccess)
	if got := mustNode(t, s, node.id).Reputation(); !near(got, want) {
		t.Errorf("reputation %v after a completion, want %v", got, want)
	}
}

func mustNode(t *testing.T, s *testServer, id string) *domain.Node {
	t.Helper()
	n, err := s.app.handler.LoadNode(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestPaidCancelRefunds(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)
	jobID := s.submit(alice, paidJob(p, pc.deposit(p, jobLamports))) // no node: it stays pending
	before := pc.balances(p, "")
	if resp, err := s.jobs().CancelJob(as(alice), &pb.CancelJobRequest{JobId: jobID, Reason: "changed my mind"}); err != nil || !resp.GetRefundIssued() {
		if err == nil {
			t.Fatalf("cancel of a paid job: refund_issued false")
		}
		t.Fatal(err)
	}
	pay := waitPayment(t, s, jobID, domain.PaymentStatusRefunded)
	after := pc.balances(p, "")
	if got := after.payer - before.payer; got != jobLamports {
		t.Errorf("payer refunded %d lamports, want %d", got, jobLamports)
	}
	if got, want := before.escrow-after.escrow, jobLamports+pc.txFee(t, pay.SettledSignature()); got != want {
		t.Errorf("escrow lost %d, want %d", got, want)
	}
	if after.treasury != before.treasury {
		t.Errorf("the treasury got a fee on a refund")
	}
	names, _ := paymentEvents(t, s, jobID)
	if got := strings.Join(names, ","); got != "EscrowFunded,RefundSubmitted,PaymentRefunded" {
		t.Errorf("payment stream %s", got)
	}
}

func TestPaidFailureRefunds(t *testing.T) {
	t.Run("the node reports failure", func(t *testing.T) {
		pc := newPaidChain(t)
		s := startPaidServer(t, t.TempDir(), pc)
		p := newPayer(t, pc)
		node, wallet := startWalletNode(t, s, "alpha")
		repBefore := mustNode(t, s, node.id).Reputation()
		jobID := s.submit(s.payerToken("alice", p.address), paidJob(p, pc.deposit(p, jobLamports)))
		runJob(t, s, node, jobID)
		before := pc.balances(p, wallet)
		if _, err := s.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: jobID,
			FinalStatus: pb.StatusCode_STATUS_FAILED, ErrorMessage: "CUDA out of memory"}); err != nil {
			t.Fatal(err)
		}
		waitPayment(t, s, jobID, domain.PaymentStatusRefunded)
		after := pc.balances(p, wallet)
		if after.payer-before.payer != jobLamports || after.node != before.node {
			t.Errorf("payer +%d (want +%d), node +%d (want 0)", after.payer-before.payer, jobLamports, after.node-before.node)
		}
		want := max(0, repBefore-config.Default().Scheduler.ReputationPenaltyFailure)
		if got := mustNode(t, s, node.id).Reputation(); !near(got, want) {
			t.Errorf("reputation %v after a failure, want %v", got, want)
		}
	})
	t.Run("retries spent", func(t *testing.T) {
		pc := newPaidChain(t)
		s := startPaidServer(t, t.TempDir(), pc, func(c *config.Config) { c.Scheduler.MaxRetries = 1 })
		p := newPayer(t, pc)
		// Two refusals by two owners (one owner's refusals cost a job one
		// retry: TestRefusingOwnerCannotFailOthersJobs).
		node, _ := startWalletNode(t, s, "alpha")
		other := startNode(t, s, "ops2", "beta", pb.DeviceType_DEVICE_CUDA, 24<<30)
		nodes := []*testNode{node, other}
		repBefore := map[string]float64{}
		for _, n := range nodes {
			n.setAccept(false, "busy")
			repBefore[n.id] = mustNode(t, s, n.id).Reputation()
		}
		jobID := s.submit(s.payerToken("alice", p.address), paidJob(p, pc.deposit(p, jobLamports)))
		before := pc.balances(p, "")
		for _, n := range nodes {
			n.heartbeat()
		}
		eventually(t, 20*time.Second, "the job failed after its retries", func() bool {
			j, err := s.app.handler.LoadJob(context.Background(), jobID)
			return err == nil && j.Status() == domain.JobStatusFailed
		})
		waitPayment(t, s, jobID, domain.PaymentStatusRefunded)
		if got := pc.balances(p, "").payer - before.payer; got != jobLamports {
			t.Errorf("payer refunded %d, want %d", got, jobLamports)
		}
		// Two rejections, each costing reputation_penalty_reject.
		for _, n := range nodes {
			want := repBefore[n.id] - config.Default().Scheduler.ReputationPenaltyReject
			if got := mustNode(t, s, n.id).Reputation(); !near(got, want) {
				t.Errorf("node %s: reputation %v after its rejection, want %v", n.id, got, want)
			}
		}
	})
}

func TestDepositRefusals(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	p, other := newPayer(t, pc), newPayer(t, pc)
	alice := s.payerToken("alice", p.address)
	good := pc.deposit(p, jobLamports)
	small := pc.deposit(p, jobLamports-1)
	elsewhere := pc.tc.Transfer(p.key, other.address, jobLamports)
	othersDeposit := pc.deposit(other, jobLamports)
	s.submit(alice, paidJob(p, good))

	for _, tc := range []struct {
		name, problem string
		cfg           *pb.JobConfig
	}{
		{"a deposit reused for a second job", "already_used", func() *pb.JobConfig {
			c := paidJob(p, good)
			c.Epochs++ // another job (the same one again is a retry: TestDepositIdentifiesTheSubmission)
			return c
		}()},
		{"another payer's deposit", "wrong_payer", paidJob(p, othersDeposit)},
		{"too little", "too_little", paidJob(p, small)},
		{"to the wrong account", "wrong_destination", paidJob(p, elsewhere)},
		{"no such transaction", "not_found", paidJob(p, "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW")},
		{"no deposit at all", "not_found", paidJob(p, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: tc.cfg})
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("SubmitJob = %v, want FAILED_PRECONDITION naming %s", err, tc.problem)
			}
		})
	}
}

// TestDepositRaceOneWinner: concurrent submissions of different jobs with
// one deposit — exactly one is funded.
func TestDepositRaceOneWinner(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)
	dep := pc.deposit(p, jobLamports)
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		errs []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			cfg := paidJob(p, dep)
			cfg.Epochs = int32(i + 1) // different jobs, one deposit
			resp, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: cfg})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			won = append(won, resp.GetJobId())
		}()
	}
	close(start)
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d submissions won one deposit: %v", len(won), won)
	}
	for _, err := range errs {
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "already_used") {
			t.Errorf("a losing submission got %v, want FAILED_PRECONDITION already_used", err)
		}
	}
}

// TestDepositIdentifiesTheSubmission: a submission without job_id that
// brings an already claimed deposit is the claimed job's: a retry after a
// lost answer gets its job back, and a submission cut short by a crash
// between the deposit's claim (and EscrowFunded) and the job's record is
// completed under the claimed id — the escrow is not stranded — and pays
// out once.
func TestDepositIdentifiesTheSubmission(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)

	paid := pc.deposit(p, jobLamports)
	first := s.submit(alice, paidJob(p, paid))
	again, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: paidJob(p, paid)})
	if err != nil || again.GetJobId() != first {
		t.Fatalf("retry with the same deposit: %v, %v; want job %s", again.GetJobId(), err, first)
	}
	if _, err := s.jobs().CancelJob(as(alice), &pb.CancelJobRequest{JobId: first}); err != nil { // out of the node's way
		t.Fatal(err)
	}

	// The state a crash leaves after fundJob and before JobSubmitted.
	sig := pc.deposit(p, jobLamports)
	cut := uuid.NewString()
	codec := commands.NewCodec()
	appendRaw := func(stream string, ev any) {
		t.Helper()
		data, err := codec.NewEvent(uuid.NewString(), ev, eventstore.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.app.store.Append(context.Background(), stream, eventstore.NoStream(), data); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	appendRaw(domain.DepositStream(sig), domain.DepositClaimed{Signature: sig, JobID: cut, Payer: p.address, Lamports: jobLamports, At: now})
	appendRaw(domain.PaymentStream(cut), domain.EscrowFunded{JobID: cut, Payer: p.address, EscrowAddress: pc.escrow, Lamports: jobLamports,
		DepositLamports: jobLamports, DepositSignature: sig, At: now})

	resp, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: paidJob(p, sig)})
	if err != nil || resp.GetJobId() != cut {
		t.Fatalf("the retry of the cut-short submission: %v, %v; want job %s", resp.GetJobId(), err, cut)
	}
	node, _ := startWalletNode(t, s, "finisher")
	runJob(t, s, node, cut)
	complete(t, s, node, cut)
	waitPayment(t, s, cut, domain.PaymentStatusReleased)
	types, _ := paymentEvents(t, s, cut)
	if n := strings.Count(strings.Join(types, " "), "PaymentReleaseSubmitted"); n != 1 {
		t.Fatalf("payment events %v: want one payout", types)
	}
	// And a different job with that deposit is still refused.
	other := paidJob(p, sig)
	other.Epochs = 99
	if _, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: other}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "already_used") {
		t.Fatalf("another job with the deposit: %v", err)
	}
}

// TestRestartAfterSubmitted: the server stops after recording the payout
// and before it is confirmed (the chain drops the transaction meanwhile);
// a fresh server on the same data dir pays exactly once.
func TestRestartAfterSubmitted(t *testing.T) {
	for _, expire := range []bool{false, true} {
		name := "rebroadcast the same bytes"
		if expire {
			name = "blockhash expired: re-sign"
		}
		t.Run(name, func(t *testing.T) {
			pc := newPaidChain(t)
			dir := t.TempDir()
			s := startPaidServer(t, dir, pc)
			p := newPayer(t, pc)
			node, wallet := startWalletNode(t, s, "alpha")
			jobID := s.submit(s.payerToken("alice", p.address), paidJob(p, pc.deposit(p, jobLamports)))
			runJob(t, s, node, jobID)
			before := pc.balances(p, wallet)

			pc.tc.SetDropTransactions(true)
			complete(t, s, node, jobID)
			first := waitPayment(t, s, jobID, domain.PaymentStatusReleasing).Signature()
			time.Sleep(200 * time.Millisecond) // a few rebroadcasts, all dropped
			s.stop()                           // the "crash": the payout is recorded, not landed
			pc.tc.SetDropTransactions(false)
			if expire {
				pc.tc.AdvanceBlocks(300)
			}
			if tx, _ := pc.tc.Transaction(first); tx != nil {
				t.Fatal("the dropped payout landed")
			}

			s2 := startPaidServer(t, dir, pc)
			pay := waitPayment(t, s2, jobID, domain.PaymentStatusReleased)
			time.Sleep(300 * time.Millisecond) // more saga steps: nothing more may be paid
			after := pc.balances(p, wallet)
			assertPayout(t, pc, before, after, pay.SettledSignature())

			names, events := paymentEvents(t, s2, jobID)
			var submitted []domain.PaymentReleaseSubmitted
			for _, e := range events {
				if r, ok := e.(domain.PaymentReleaseSubmitted); ok {
					submitted = append(submitted, r)
				}
			}
			if !expire {
				if len(submitted) != 1 || pay.SettledSignature() != first {
					t.Fatalf("payment stream %v: want the first transaction confirmed, not re-signed", names)
				}
				return
			}
			if len(submitted) != 2 || submitted[1].Replaces != first || pay.SettledSignature() != submitted[1].Signature {
				t.Fatalf("payment stream %v: want one re-sign replacing %s", names, first)
			}
			if tx, _ := pc.tc.Transaction(first); tx != nil {
				t.Fatal("the expired payout landed too")
			}
		})
	}
}

// TestChainUnreachable: the RPC goes away before a payout; the saga keeps
// retrying, health shows solana degraded, and once the RPC is back the
// payout is made once.
func TestChainUnreachable(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	p := newPayer(t, pc)
	node, wallet := startWalletNode(t, s, "alpha")
	jobID := s.submit(s.payerToken("alice", p.address), paidJob(p, pc.deposit(p, jobLamports)))
	runJob(t, s, node, jobID)
	before := pc.balances(p, wallet)
	if got := restHealth(t, s)["solana"]; got != "ok" {
		t.Fatalf("solana health %q before the outage, want ok", got)
	}

	pc.tc.Stop()
	complete(t, s, node, jobID)
	eventually(t, 30*time.Second, "solana degraded", func() bool { return restHealth(t, s)["solana"] == "degraded" })
	if st := s.payment(t, jobID).Status(); st != domain.PaymentStatusFunded {
		t.Fatalf("payment %s while the chain is unreachable, want funded (nothing signed without a blockhash)", st)
	}
	pc.tc.Restart()
	pay := waitPayment(t, s, jobID, domain.PaymentStatusReleased)
	eventually(t, 10*time.Second, "solana ok again", func() bool { return restHealth(t, s)["solana"] == "ok" })
	assertPayout(t, pc, before, pc.balances(p, wallet), pay.SettledSignature())
}

// restHealth returns /api/health's component statuses.
func restHealth(t *testing.T, s *testServer) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + s.app.RESTAddr() + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Components map[string]json.RawMessage `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range body.Components {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
			continue
		}
		var c struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(v, &c); err != nil {
			t.Fatal(fmt.Errorf("component %s: %w", k, err))
		}
		out[k] = c.Status
	}
	return out
}

// TestPaymentSkippedWhenChainDisabled: the embedded default records a paid
// job's payment as skipped, with the reason, and runs the job.
func TestPaymentSkippedWhenChainDisabled(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	c := trainingJob()
	c.PaymentAmount, c.PaymentAddress = 0.25, "11111111111111111111111111111112"
	jobID := s.submit(s.userToken("alice"), c)
	pay := s.payment(t, jobID)
	if pay.Status() != domain.PaymentStatusSkipped || !strings.Contains(pay.SkipReason(), "disabled") {
		t.Fatalf("payment %s (%q), want skipped because the chain is disabled", pay.Status(), pay.SkipReason())
	}
	if got := restHealth(t, s)["solana"]; got != "disabled" {
		t.Fatalf("solana health %q, want disabled", got)
	}
	// Refusing unpaid jobs is a config switch.
	r := startServer(t, t.TempDir(), Settings{}, func(c *config.Config) { c.Blockchain.UnpaidJobs = config.UnpaidRefuse })
	if _, err := r.jobs().SubmitJob(as(r.userToken("alice")), &pb.SubmitJobRequest{Config: trainingJob()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an unpaid job with unpaid_jobs = refuse: %v, want INVALID_ARGUMENT", err)
	}
}

// TestFinalizedConfirmation: with confirmation = "finalized" a deposit
// counts, and a payout is recorded released, only once rooted (the test
// chain finalizes 32 blocks after landing).
func TestFinalizedConfirmation(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc, func(c *config.Config) { c.Blockchain.Confirmation = config.ConfirmationFinalized })
	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)
	node, wallet := startWalletNode(t, s, "alpha")
	dep := pc.deposit(p, jobLamports)
	if _, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: paidJob(p, dep)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("SubmitJob with an unfinalized deposit: %v, want FAILED_PRECONDITION", err)
	}
	pc.tc.AdvanceBlocks(40)
	jobID := s.submit(alice, paidJob(p, dep))
	runJob(t, s, node, jobID)
	before := pc.balances(p, wallet)
	complete(t, s, node, jobID)
	sig := waitPayment(t, s, jobID, domain.PaymentStatusReleasing).Signature()
	eventually(t, 10*time.Second, "the payout landed", func() bool { tx, _ := pc.tc.Transaction(sig); return tx != nil })
	time.Sleep(300 * time.Millisecond) // several saga steps: landed and confirmed, not finalized
	if st := s.payment(t, jobID).Status(); st != domain.PaymentStatusReleasing {
		t.Fatalf("payment %s before finality, want release_submitted", st)
	}
	pc.tc.AdvanceBlocks(40)
	pay := waitPayment(t, s, jobID, domain.PaymentStatusReleased)
	assertPayout(t, pc, before, pc.balances(p, wallet), pay.SettledSignature())
	if pay.SettledSignature() != sig {
		t.Fatalf("settled %s, want the first (and only) payout %s", pay.SettledSignature(), sig)
	}
}

// TestConcurrentSagasPayOnce: three sagas (the server's and two more on
// the same log and chain) race to settle the same jobs; each job is paid
// once, with one recorded transaction.
func TestConcurrentSagasPayOnce(t *testing.T) {
	pc := newPaidChain(t)
	s := startPaidServer(t, t.TempDir(), pc)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		extra := commands.NewSettlement(s.app.handler, s.app.chain, commands.SettlementConfig{
			Treasury: pc.treasury, FeePercent: feePercent, Interval: 20 * time.Millisecond,
		}, nil)
		wg.Go(func() { extra.Run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()

	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)
	node, wallet := startWalletNode(t, s, "alpha")
	const jobs = 4
	var ids []string
	for range jobs {
		ids = append(ids, s.submit(alice, paidJob(p, pc.deposit(p, jobLamports))))
	}
	node.heartbeat()
	for range jobs {
		a := node.waitAssignment(10 * time.Second)
		if _, err := s.nodes().NotifyJobAccepted(as(node.session), &pb.JobAcceptedRequest{NodeId: node.id, JobId: a.GetJob().GetJobId()}); err != nil {
			t.Fatal(err)
		}
	}
	before := pc.balances(p, wallet)
	for _, id := range ids {
		complete(t, s, node, id)
	}
	for _, id := range ids {
		waitPayment(t, s, id, domain.PaymentStatusReleased)
	}
	time.Sleep(300 * time.Millisecond)
	after := pc.balances(p, wallet)
	fee := jobLamports * feePercent / 100
	if got := after.node - before.node; got != jobs*(jobLamports-fee) {
		t.Errorf("node wallet got %d, want %d (%d payouts)", got, jobs*(jobLamports-fee), jobs)
	}
	if got := after.treasury - before.treasury; got != jobs*fee {
		t.Errorf("treasury got %d, want %d", got, jobs*fee)
	}
	for _, id := range ids {
		if names, _ := paymentEvents(t, s, id); strings.Join(names, ",") != "EscrowFunded,PaymentReleaseSubmitted,PaymentReleased" {
			t.Errorf("job %s: payment stream %v", id, names)
		}
	}
}

package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/gdamore/tcell/v2"
)

// chainSource is a Source with a settlement in every state but the
// terminal ones the end-to-end tests drive on a real chain (released,
// refunded, skipped): a failed payout, payouts and refunds in flight, a
// funded escrow.
type chainSource struct {
	chain    Chain
	payments []Payment
	changes  chan struct{}
	logs     *logbuf.Buffer
}

func (s *chainSource) Stats(context.Context) (Stats, error)   { return Stats{}, nil }
func (s *chainSource) Health(context.Context) (Health, error) { return Health{Status: "healthy"}, nil }
func (s *chainSource) Jobs(context.Context, JobQuery) (JobPage, error) {
	return JobPage{}, nil
}
func (s *chainSource) Job(context.Context, string) (Job, []Event, error) { return Job{}, nil, nil }
func (s *chainSource) Nodes(context.Context, int) (NodePage, error)      { return NodePage{}, nil }
func (s *chainSource) Node(context.Context, string, time.Time) (Node, []MetricPoint, error) {
	return Node{}, nil, nil
}
func (s *chainSource) Activity(context.Context, int, string) ([]Activity, string, error) {
	return nil, "", nil
}
func (s *chainSource) Payments(context.Context, int) ([]Payment, error) { return s.payments, nil }
func (s *chainSource) Chain(context.Context) (Chain, error)             { return s.chain, nil }
func (s *chainSource) Settings(context.Context) (Settings, error)       { return Settings{}, nil }
func (s *chainSource) Logs() *logbuf.Buffer                             { return s.logs }
func (s *chainSource) Changes() <-chan struct{}                         { return s.changes }
func (s *chainSource) Conn() Conn                                       { return Conn{Mode: "test", Live: true} }

func TestChainViewStates(t *testing.T) {
	const (
		escrow   = "EscrowWa11etAddressXXXXXXXXXXXXXXXXXXXXXXXXX"
		treasury = "TreasuryAddressXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
		payer    = "PayerWa11etAddressXXXXXXXXXXXXXXXXXXXXXXXXXX"
		payee    = "NodeWa11etAddressXXXXXXXXXXXXXXXXXXXXXXXXXXX"
		failSig  = "FaiLedSignatureXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX1"
		sentSig  = "SentSignatureXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX2"
		backSig  = "RefundSignatureXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX3"
		deposit  = "DepositSignatureXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX4"
	)
	now := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	src := &chainSource{changes: make(chan struct{}, 1), logs: logbuf.New(10),
		chain: Chain{Enabled: true, Network: "devnet", RPC: "https://api.devnet.solana.com", Escrow: escrow, Treasury: treasury,
			FeePercent: 10, Confirmation: "finalized", Status: "degraded", Detail: "2 settlement(s) waiting: rpc unreachable"},
		payments: []Payment{
			{JobID: "aaaaaaaa-failed", Status: "failed", Amount: 2, Lamports: 2e9, Payer: payer, NodeID: "nnnnnnnn-node", Payee: payee,
				PayoutLamports: 1.8e9, FeeLamports: 0.2e9, EscrowSignature: deposit, Signature: failSig,
				Reason: "payout failed on chain: insufficient funds for rent", UpdatedAt: now},
			{JobID: "bbbbbbbb-sent", Status: "release_submitted", Amount: 1, Lamports: 1e9, Payer: payer, Payee: payee,
				PayoutLamports: 0.9e9, FeeLamports: 0.1e9, Signature: sentSig, UpdatedAt: now.Add(-time.Minute)},
			{JobID: "cccccccc-back", Status: "refund_submitted", Amount: 0.25, Lamports: 0.25e9, Payer: payer, RefundLamports: 0.25e9,
				Signature: backSig, Reason: "failed: CUDA out of memory", UpdatedAt: now.Add(-2 * time.Minute)},
			{JobID: "dddddddd-funded", Status: "funded", Amount: 0.125, Lamports: 0.125e9, Payer: payer, EscrowSignature: deposit,
				UpdatedAt: now.Add(-3 * time.Minute)},
		}}
	screen := tcell.NewSimulationScreen("UTF-8")
	c := New(src, Options{Screen: screen, Interval: 20 * time.Millisecond, Periodic: -1, Now: func() time.Time { return now }})
	screen.SetSize(120, 34)
	done := make(chan error, 1)
	go func() { done <- c.Run() }()
	defer func() {
		c.Stop()
		<-done
	}()
	// wait waits until, for every entry of want, one line of the screen
	// holds each of its strings.
	wait := func(want ...[]string) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := c.Text(screen)
			var missing []string
			for _, w := range want {
				found := false
				for _, line := range strings.Split(got, "\n") {
					all := true
					for _, sub := range w {
						all = all && strings.Contains(line, sub)
					}
					found = found || all
				}
				if !found {
					missing = w
					break
				}
			}
			if missing == nil {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("no line of the screen shows %q; it shows:\n%s", missing, got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	l := func(s ...string) []string { return s }
	screen.InjectKey(tcell.KeyRune, '4', tcell.ModNone)
	wait(l("Network   devnet  settles at finalized"), l("Solana    degraded  2 settlement(s) waiting: rpc unreachable"),
		l("Escrow    "+escrow), l("Treasury  "+treasury+"  platform fee 10%"), l("RPC       https://api.devnet.solana.com"),
		l("PAYOUTS AND REFUNDS: 1 failed · 1 release_submitted · 1 refund_submitted · 1 funded "),
		l("11-27 07:00:00 aaaaaaaa failed ", " 2 NodeWa…XXXX FaiLed…XXX1 payout failed on chain: insufficient funds"),
		l("11-27 06:59:00 bbbbbbbb release_submitted ", " 1 NodeWa…XXXX SentSi…XXX2"),
		l("11-27 06:58:00 cccccccc refund_submitted ", " 0.25 PayerW…XXXX Refund…XXX3 failed: CUDA out of memory"),
		l("11-27 06:57:00 dddddddd funded ", " 0.125"),
		// The newest, selected: the failed payout in full.
		l("Job       aaaaaaaa-failed  failed  updated 07:00:00"),
		l("Signature "+failSig),
		l("Payout    1.8 SOL to "+payee+" (node nnnnnnnn) + 0.2 SOL fee"),
		l("Reason    payout failed on chain: insufficient funds for rent"),
		l("Amount    2 SOL from "+payer),
		l("Deposit   "+deposit))
	screen.InjectKey(tcell.KeyRune, 'j', tcell.ModNone)
	screen.InjectKey(tcell.KeyRune, 'j', tcell.ModNone)
	wait(l("Job       cccccccc-back  refund_submitted"), l("Signature "+backSig), l("Refund    0.25 SOL to "+payer), l("Reason    failed: CUDA out of memory"))
	// A refresh keeps the selection on the same payment.
	screen.InjectKey(tcell.KeyRune, 'r', tcell.ModNone)
	time.Sleep(100 * time.Millisecond)
	wait(l("Job       cccccccc-back  refund_submitted"))

	// Attached to a server whose health check has no solana component:
	// unknown, not "disabled".
	src.chain = Chain{Status: "unknown", Note: "the server's health check has no solana component"}
	src.payments = nil
	screen.InjectKey(tcell.KeyRune, 'r', tcell.ModNone)
	got := wait(l("Network   unknown"), l("Solana    unknown"), l("no solana component"),
		l("no payments yet — a job with payment_amount and escrow_tx_hash settles here"))
	if strings.Contains(got, "blockchain disabled") {
		t.Errorf("an unknown chain is shown as disabled:\n%s", got)
	}
}

package solana_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"

	chain "github.com/cyxwiz/central-server/adapters/solana"
	"github.com/cyxwiz/central-server/adapters/solana/solanatest"
	"github.com/cyxwiz/central-server/commands"
)

const sol = commands.LamportsPerSOL

// setup starts a test chain and a client whose escrow keypair (from a file)
// holds escrowLamports.
func setup(t testing.TB, escrowLamports uint64, commitment string) (*solanatest.TestChain, *chain.Client) {
	t.Helper()
	tc := solanatest.Start(t)
	var path string
	if escrowLamports > 0 {
		_, path = tc.NewFundedKeypair(escrowLamports)
	} else {
		_, path = tc.NewKeypair()
	}
	c, err := chain.New(chain.Config{
		RPCURL:      tc.URL(),
		KeypairPath: path,
		Commitment:  commitment,
		CallTimeout: 5 * time.Second,
		Attempts:    3,
		Backoff:     20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return tc, c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func newAddress(t testing.TB) string {
	k, err := chain.NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().String()
}

func TestVerifyDeposit(t *testing.T) {
	tc, c := setup(t, 0, "confirmed")
	escrow := c.EscrowAddress()
	payer, _ := tc.NewFundedKeypair(10 * sol)
	other, _ := tc.NewFundedKeypair(10 * sol)
	poor, _ := tc.NewFundedKeypair(sol / 100)
	payerAddr := payer.PublicKey().String()

	good := tc.Transfer(payer, escrow, 2*sol)
	fromOther := tc.Transfer(other, escrow, 2*sol)
	elsewhere := tc.Transfer(payer, newAddress(t), 2*sol)
	small := tc.Transfer(payer, escrow, sol/2)
	// Lands and fails: the payer cannot cover the transfer (preflight skipped,
	// as a wallet may do).
	failed, err := tc.Send([]solanago.PrivateKey{poor}, true,
		system.NewTransferInstruction(5*sol, poor.PublicKey(), solanago.MustPublicKeyFromBase58(escrow)).Build())
	if err != nil {
		t.Fatal(err)
	}
	unknown := solanago.Signature{1, 2, 3}.String()

	for _, tt := range []struct {
		name      string
		signature string
		payer     string
		min       uint64
		want      commands.DepositProblem // "" for success
	}{
		{"verified", good, payerAddr, 2 * sol, ""},
		{"verified, more than needed", good, payerAddr, sol, ""},
		{"not found", unknown, payerAddr, sol, commands.DepositNotFound},
		{"not a signature", "not-a-signature", payerAddr, sol, commands.DepositNotFound},
		{"failed on chain", failed, poor.PublicKey().String(), sol, commands.DepositFailedOnChain},
		{"wrong payer", fromOther, payerAddr, sol, commands.DepositWrongPayer},
		{"wrong destination", elsewhere, payerAddr, sol, commands.DepositWrongDestination},
		{"too little", small, payerAddr, sol, commands.DepositTooSmall},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := c.VerifyDeposit(ctx(t), tt.signature, tt.payer, tt.min)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				want := commands.Deposit{Signature: tt.signature, Payer: tt.payer, Destination: escrow, Lamports: 2 * sol, Slot: d.Slot, BlockTime: d.BlockTime}
				if d != want || d.Slot == 0 || d.BlockTime.IsZero() || time.Since(d.BlockTime) > time.Hour {
					t.Fatalf("deposit = %+v, want %+v with a slot and a recent block time", d, want)
				}
				return
			}
			var de *commands.DepositError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DepositError (%s)", err, tt.want)
			}
			if de.Problem != tt.want || de.Detail == "" {
				t.Fatalf("problem = %s (%q), want %s with a detail", de.Problem, de.Detail, tt.want)
			}
			if errors.Is(err, commands.ErrChainUnavailable) {
				t.Fatal("a refused deposit must not look like an unreachable chain")
			}
		})
	}
}

// At commitment finalized a deposit counts only once the chain has finalized
// it (the test chain finalizes 32 blocks after landing).
func TestVerifyDepositWaitsForFinality(t *testing.T) {
	tc, c := setup(t, 0, "finalized")
	payer, _ := tc.NewFundedKeypair(10 * sol)
	sig := tc.Transfer(payer, c.EscrowAddress(), sol)
	var de *commands.DepositError
	if _, err := c.VerifyDeposit(ctx(t), sig, payer.PublicKey().String(), sol); !errors.As(err, &de) || de.Problem != commands.DepositNotFound {
		t.Fatalf("before finality: err = %v, want not_found", err)
	}
	tc.AdvanceBlocks(solanatest.DefaultFinalityDepth)
	if _, err := c.VerifyDeposit(ctx(t), sig, payer.PublicKey().String(), sol); err != nil {
		t.Fatalf("after finality: %v", err)
	}
}

func TestPayout(t *testing.T) {
	tc, c := setup(t, 10*sol, "confirmed")
	escrow, node, treasury := c.EscrowAddress(), newAddress(t), newAddress(t)
	const jobID = "6f1c2a4e-8b0d-4c55-9a57-3f0e2d1b7c90"
	transfers := []commands.Transfer{{To: node, Lamports: 9 * sol / 10}, {To: treasury, Lamports: sol / 10}}

	escrowBefore := tc.Balance(escrow)
	signed, err := c.SignTransfers(ctx(t), transfers, jobID)
	if err != nil {
		t.Fatal(err)
	}
	height, err := c.BlockHeight(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if signed.Signature == "" || len(signed.Raw) == 0 || signed.LastValidBlockHeight != height+150 {
		t.Fatalf("signed = sig %q, %d bytes, last valid %d; want last valid = height %d + 150", signed.Signature, len(signed.Raw), signed.LastValidBlockHeight, height)
	}
	if st, err := c.Status(ctx(t), signed.Signature); err != nil || st != commands.TxNotFound {
		t.Fatalf("status before broadcast = %v, %v; want not_found", st, err)
	}

	if err := c.Broadcast(ctx(t), signed.Raw); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx(t), signed.Signature); err != nil || st != commands.TxConfirmed {
		t.Fatalf("status after broadcast = %v, %v; want confirmed", st, err)
	}

	tx, meta := tc.Transaction(signed.Signature)
	if tx == nil {
		t.Fatal("getTransaction found nothing")
	}
	if meta.Err != nil || meta.Fee != 5000 {
		t.Fatalf("meta err %v fee %d; want success, fee 5000", meta.Err, meta.Fee)
	}
	ixs := tx.Message.Instructions
	if len(ixs) != 3 {
		t.Fatalf("%d instructions, want 2 transfers + memo", len(ixs))
	}
	memo := ixs[2]
	if program := tx.Message.AccountKeys[memo.ProgramIDIndex]; !program.Equals(chain.MemoProgramID) {
		t.Fatalf("last instruction's program = %s, want the memo program", program)
	}
	if string(memo.Data) != jobID {
		t.Fatalf("memo data = %q, want exactly the job id %q", memo.Data, jobID)
	}
	if payer := tx.Message.AccountKeys[0].String(); payer != escrow {
		t.Fatalf("fee payer = %s, want escrow %s", payer, escrow)
	}

	check := func(when string) {
		t.Helper()
		if got := tc.Balance(node); got != 9*sol/10 {
			t.Errorf("%s: node balance = %d, want %d", when, got, 9*sol/10)
		}
		if got := tc.Balance(treasury); got != sol/10 {
			t.Errorf("%s: treasury balance = %d, want %d", when, got, sol/10)
		}
		if got, want := tc.Balance(escrow), escrowBefore-sol-meta.Fee; got != want {
			t.Errorf("%s: escrow balance = %d, want %d (−1 SOL − fee)", when, got, want)
		}
		if got, err := c.Balance(ctx(t), node); err != nil || got != 9*sol/10 {
			t.Errorf("%s: Client.Balance(node) = %d, %v", when, got, err)
		}
	}
	check("after broadcast")

	// The same bytes again (a restart rebroadcasting): harmless, pays once.
	for range 2 {
		if err := c.Broadcast(ctx(t), signed.Raw); err != nil {
			t.Fatalf("rebroadcast: %v", err)
		}
	}
	check("after rebroadcasts")

	tc.AdvanceBlocks(solanatest.DefaultFinalityDepth)
	if st, err := c.Status(ctx(t), signed.Signature); err != nil || st != commands.TxFinalized {
		t.Fatalf("status after %d blocks = %v, %v; want finalized", solanatest.DefaultFinalityDepth, st, err)
	}
}

// A signed transaction that was never sent cannot land once its blockhash
// has expired: the height passes LastValidBlockHeight, the signature stays
// unknown, and broadcasting it is refused.
func TestExpiredBlockhash(t *testing.T) {
	tc, c := setup(t, 10*sol, "confirmed")
	node := newAddress(t)
	signed, err := c.SignTransfers(ctx(t), []commands.Transfer{{To: node, Lamports: sol}}, "job")
	if err != nil {
		t.Fatal(err)
	}
	tc.AdvanceBlocks(151)
	height, err := c.BlockHeight(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if signed.LastValidBlockHeight >= height {
		t.Fatalf("last valid block height %d, height %d: want it passed", signed.LastValidBlockHeight, height)
	}
	err = c.Broadcast(ctx(t), signed.Raw)
	var rerr *chain.RPCError
	if !errors.As(err, &rerr) || errors.Is(err, commands.ErrChainUnavailable) {
		t.Fatalf("broadcast of an expired transaction: err = %v, want an *RPCError refusal", err)
	}
	if st, err := c.Status(ctx(t), signed.Signature); err != nil || st != commands.TxNotFound {
		t.Fatalf("status = %v, %v; want not_found", st, err)
	}
	if got := tc.Balance(node); got != 0 {
		t.Fatalf("node balance = %d, want 0", got)
	}

	// Re-signing gets a fresh blockhash, and that one lands.
	again, err := c.SignTransfers(ctx(t), []commands.Transfer{{To: node, Lamports: sol}}, "job")
	if err != nil {
		t.Fatal(err)
	}
	if again.Signature == signed.Signature || again.LastValidBlockHeight <= height {
		t.Fatalf("re-signed: %+v", again)
	}
	if err := c.Broadcast(ctx(t), again.Raw); err != nil {
		t.Fatal(err)
	}
	if got := tc.Balance(node); got != sol {
		t.Fatalf("node balance = %d, want %d", got, sol)
	}
}

// A transaction the cluster drops stays not_found; sending the same bytes
// again while the blockhash is valid lands it once.
func TestDroppedTransactionRebroadcast(t *testing.T) {
	tc, c := setup(t, 10*sol, "confirmed")
	node := newAddress(t)
	signed, err := c.SignTransfers(ctx(t), []commands.Transfer{{To: node, Lamports: sol}}, "job")
	if err != nil {
		t.Fatal(err)
	}
	tc.SetDropTransactions(true)
	if err := c.Broadcast(ctx(t), signed.Raw); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Status(ctx(t), signed.Signature); st != commands.TxNotFound {
		t.Fatalf("dropped transaction status = %v, want not_found", st)
	}
	tc.SetDropTransactions(false)
	tc.AdvanceBlocks(10)
	for range 2 {
		if err := c.Broadcast(ctx(t), signed.Raw); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := c.Status(ctx(t), signed.Signature); st != commands.TxConfirmed {
		t.Fatalf("status = %v, want confirmed", st)
	}
	if got := tc.Balance(node); got != sol {
		t.Fatalf("node balance = %d, want %d", got, sol)
	}
}

// A broadcast the node refuses (escrow cannot cover it) is an *RPCError, not
// an unavailable chain, and moves nothing.
func TestBroadcastRefused(t *testing.T) {
	tc, c := setup(t, sol, "confirmed")
	node := newAddress(t)
	signed, err := c.SignTransfers(ctx(t), []commands.Transfer{{To: node, Lamports: 2 * sol}}, "job")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Broadcast(ctx(t), signed.Raw)
	var rerr *chain.RPCError
	if !errors.As(err, &rerr) || errors.Is(err, commands.ErrChainUnavailable) {
		t.Fatalf("err = %v, want an *RPCError", err)
	}
	if st, _ := c.Status(ctx(t), signed.Signature); st != commands.TxNotFound {
		t.Fatalf("status = %v, want not_found", st)
	}
	if got := tc.Balance(node); got != 0 {
		t.Fatalf("node balance = %d, want 0", got)
	}
}

func TestSignTransfersRefusesBadInput(t *testing.T) {
	_, c := setup(t, sol, "confirmed")
	for _, tt := range []struct {
		name      string
		transfers []commands.Transfer
	}{
		{"none", nil},
		{"bad address", []commands.Transfer{{To: "nope", Lamports: 1}}},
		{"zero lamports", []commands.Transfer{{To: newAddress(t), Lamports: 0}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.SignTransfers(ctx(t), tt.transfers, "job"); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

// With the RPC unreachable every call fails, after its retries, with an error
// wrapping ErrChainUnavailable; once it is back the same client works.
func TestUnreachable(t *testing.T) {
	tc, c := setup(t, 10*sol, "confirmed")
	payer, _ := tc.NewFundedKeypair(10 * sol)
	deposit := tc.Transfer(payer, c.EscrowAddress(), sol)
	signed, err := c.SignTransfers(ctx(t), []commands.Transfer{{To: newAddress(t), Lamports: sol}}, "job")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(ctx(t)); err != nil {
		t.Fatalf("health while up: %v", err)
	}

	tc.Stop()
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Health", c.Health},
		{"VerifyDeposit", func(ctx context.Context) error {
			_, err := c.VerifyDeposit(ctx, deposit, payer.PublicKey().String(), sol)
			return err
		}},
		{"SignTransfers", func(ctx context.Context) error {
			_, err := c.SignTransfers(ctx, []commands.Transfer{{To: newAddress(t), Lamports: 1}}, "job")
			return err
		}},
		{"Broadcast", func(ctx context.Context) error { return c.Broadcast(ctx, signed.Raw) }},
		{"Status", func(ctx context.Context) error { _, err := c.Status(ctx, signed.Signature); return err }},
		{"BlockHeight", func(ctx context.Context) error { _, err := c.BlockHeight(ctx); return err }},
		{"Balance", func(ctx context.Context) error { _, err := c.Balance(ctx, c.EscrowAddress()); return err }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(ctx(t))
			if !errors.Is(err, commands.ErrChainUnavailable) {
				t.Fatalf("err = %v, want one wrapping ErrChainUnavailable", err)
			}
			var de *commands.DepositError
			if errors.As(err, &de) {
				t.Fatalf("an unreachable chain must not refuse the deposit: %v", err)
			}
		})
	}

	// The caller's deadline ends the retries early, still as unavailable.
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.BlockHeight(short); !errors.Is(err, commands.ErrChainUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with a short deadline: err = %v", err)
	}

	tc.Restart()
	if err := c.Health(ctx(t)); err != nil {
		t.Fatalf("health after restart: %v", err)
	}
	if _, err := c.VerifyDeposit(ctx(t), deposit, payer.PublicKey().String(), sol); err != nil {
		t.Fatalf("deposit after restart: %v", err)
	}
	if err := c.Broadcast(ctx(t), signed.Raw); err != nil {
		t.Fatalf("broadcast after restart: %v", err)
	}
}

// A URL nobody listens on is unavailable too.
func TestClosedPort(t *testing.T) {
	key, _ := chain.NewKeypair()
	c, err := chain.New(chain.Config{RPCURL: "http://127.0.0.1:1", Keypair: key, Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.BlockHeight(ctx(t)); !errors.Is(err, commands.ErrChainUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkPayout measures one payout against the test chain: sign (fresh
// blockhash), broadcast, read the status.
func BenchmarkPayout(b *testing.B) {
	_, c := setup(b, 1000*sol, "confirmed")
	node, treasury := newAddress(b), newAddress(b)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		signed, err := c.SignTransfers(ctx(b), []commands.Transfer{{To: node, Lamports: 900_000}, {To: treasury, Lamports: 900_000}}, fmt.Sprint("job-", i))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Broadcast(ctx(b), signed.Raw); err != nil {
			b.Fatal(err)
		}
		if st, err := c.Status(ctx(b), signed.Signature); err != nil || st != commands.TxConfirmed {
			b.Fatalf("status %v, %v", st, err)
		}
	}
}

package grpc

import (
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/solana"
	"github.com/cyxwiz/central-server/adapters/solana/solanatest"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
)

// TestWalletOnTestChain runs WalletService on the chain adapter against
// the LiteSVM test chain (skipped loudly without it; fails under CI=true).
func TestWalletOnTestChain(t *testing.T) {
	tc := solanatest.Start(t)
	escrow, _ := tc.NewKeypair()
	client, err := solana.New(solana.Config{RPCURL: tc.URL(), Keypair: escrow, Attempts: 1, CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	env := newWalletEnv(t, WalletDeps{Addresses: client, Balances: client})
	ctx := env.as(t, "alice", "")

	funded, _ := tc.NewFundedKeypair(2_500_000_001)
	empty, _ := tc.NewKeypair()
	for _, c := range []struct {
		name string
		addr string
		sol  float64
	}{
		{"funded", funded.PublicKey().String(), 2.500000001},
		{"never funded", empty.PublicKey().String(), 0},
	} {
		resp, err := env.client.GetBalance(ctx, &pb.GetBalanceRequest{WalletAddress: c.addr})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.GetSolBalance() != c.sol || float64(tc.Balance(c.addr))/1e9 != c.sol {
			t.Fatalf("%s: GetBalance = %v SOL, the chain says %d lamports; want %v SOL", c.name, resp.GetSolBalance(), tc.Balance(c.addr), c.sol)
		}
		if !strings.Contains(resp.GetMessage(), "SOL only") || resp.GetTokenMint() != "" {
			t.Fatalf("%s: message %q, mint %q; want SOL only, no mint", c.name, resp.GetMessage(), resp.GetTokenMint())
		}
	}
	// The balance follows the chain.
	tc.Airdrop(empty.PublicKey().String(), 1_000_007) // above the rent-exempt minimum
	if resp, err := env.client.GetBalance(ctx, &pb.GetBalanceRequest{WalletAddress: empty.PublicKey().String()}); err != nil || resp.GetSolBalance() != 0.001000007 {
		t.Fatalf("after an airdrop of 1,000,007 lamports: %v, %v", resp, err)
	}
	// ConnectWallet uses the chain adapter's check.
	if resp, err := env.client.ConnectWallet(ctx, &pb.ConnectWalletRequest{WalletAddress: "0" + funded.PublicKey().String()[1:]}); err != nil || resp.GetIsValid() {
		t.Fatalf("ConnectWallet of a malformed address: %v, %v", resp, err)
	}
	// An unreachable chain is UNAVAILABLE, and the service recovers.
	tc.Stop()
	_, err = env.client.GetBalance(ctx, &pb.GetBalanceRequest{WalletAddress: funded.PublicKey().String()})
	wantCode(t, "GetBalance with the chain down", err, codes.Unavailable, "cannot be reached")
	tc.Restart()
	if resp, err := env.client.GetBalance(ctx, &pb.GetBalanceRequest{WalletAddress: funded.PublicKey().String()}); err != nil || resp.GetSolBalance() != 2.500000001 {
		t.Fatalf("after a restart: %v, %v", resp, err)
	}
}

// TestTransactionHistory reads PaymentHistory (projections/readmodeltest)
// through a real memory read model.
func TestTransactionHistory(t *testing.T) {
	envs, want := readmodeltest.PaymentHistory()
	model := memory.New(memory.Config{})
	if err := model.Apply(t.Context(), envs, envs[len(envs)-1].Position); err != nil {
		t.Fatal(err)
	}
	env := newWalletEnv(t, WalletDeps{History: model, Addresses: chainAddresses{}}) // the suite's wallets are not base58
	unix := func(job string, at func(projections.PaymentView) time.Time) int64 { return at(want[job]).Unix() }
	settled := func(v projections.PaymentView) time.Time { return v.SettledAt }
	updated := func(v projections.PaymentView) time.Time { return v.UpdatedAt }
	created := func(v projections.PaymentView) time.Time { return v.CreatedAt }
	type tx struct {
		sig     string
		typ     pb.TransactionType
		st      pb.TransactionStatus
		amount  float64
		at      int64
		mention string
	}
	tests := []struct {
		name          string
		claim, wallet string
		limit, offset int32
		want          []tx
		total         int32
		code          codes.Code
		mention       string
	}{
		{"alice", "", readmodeltest.WalletAlice, 0, 0, []tx{
			{"dep-4", pb.TransactionType_JOB_PAYMENT, pb.TransactionStatus_CONFIRMED, 2, unix("pay-4", created), "escrow deposit for job pay-4 (failed)"},
			{"dep-1", pb.TransactionType_JOB_PAYMENT, pb.TransactionStatus_CONFIRMED, 1.5, unix("pay-1", created), "escrow deposit for job pay-1 (released)"},
		}, 2, codes.OK, ""},
		{"bob: refunds and a deposit", "", readmodeltest.WalletBob, 10, 0, []tx{
			{"ref-7", pb.TransactionType_REFUND, pb.TransactionStatus_FAILED, 0.1, unix("pay-7", updated), "refund of the escrow for job pay-7 (deposit dep-7)"},
			{"dep-5", pb.TransactionType_JOB_PAYMENT, pb.TransactionStatus_CONFIRMED, 0.5, unix("pay-5", created), "pay-5 (funded)"},
			{"ref-2", pb.TransactionType_REFUND, pb.TransactionStatus_CONFIRMED, 0.25, unix("pay-2", settled), "pay-2"},
		}, 3, codes.OK, ""},
		{"bob, paged", "", readmodeltest.WalletBob, 1, 2, []tx{
			{"ref-2", pb.TransactionType_REFUND, pb.TransactionStatus_CONFIRMED, 0.25, unix("pay-2", settled), "pay-2"},
		}, 3, codes.OK, ""},
		{"n1: pays and is paid", readmodeltest.WalletN1, "", 10, 0, []tx{
			{"dep-6", pb.TransactionType_JOB_PAYMENT, pb.TransactionStatus_CONFIRMED, 1, unix("pay-6", created), "escrow deposit"},
			{"rel-6", pb.TransactionType_JOB_PAYMENT, pb.TransactionStatus_PENDING, 0.9, unix("pay-6", updated), "payout for job pay-6 (0.9 SOL; platform fee 0.1 SOL)"},
			{"rel-1b", pb.TransactionType_JOB_PAYMENT, pb.TransactionStatus_CONFIRMED, 1.35, unix("pay-1", settled), "payout for job pay-1"},
		}, 3, codes.OK, ""},
		{"n2: a failed payout", "", readmodeltest.WalletN2, 10, 0, []tx{
			{"rel-4", pb.TransactionType_JOB_PAYMENT, pb.TransactionStatus_FAILED, 1.8, unix("pay-4", updated), "payout for job pay-4"},
		}, 1, codes.OK, ""},
		{"nobody", "", "wallet-nobody", 10, 0, nil, 0, codes.OK, ""},
		{"no wallet at all", "", "", 10, 0, nil, 0, codes.InvalidArgument, "wallet_address is required"},
		{"negative offset", "", readmodeltest.WalletBob, 10, -1, nil, 0, codes.InvalidArgument, "offset"},
		{"limit too large", "", readmodeltest.WalletBob, 5000, 0, nil, 0, codes.InvalidArgument, "limit"},
		{"negative limit", "", readmodeltest.WalletBob, -1, 0, nil, 0, codes.InvalidArgument, "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := env.client.GetTransactionHistory(env.as(t, "alice", tc.claim),
				&pb.GetTransactionHistoryRequest{WalletAddress: tc.wallet, Limit: tc.limit, Offset: tc.offset})
			if tc.code != codes.OK {
				wantCode(t, "GetTransactionHistory", err, tc.code, tc.mention)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTotalCount() != tc.total || len(resp.GetTransactions()) != len(tc.want) || resp.GetStatus() != pb.StatusCode_STATUS_SUCCESS {
				t.Fatalf("got %d transactions of %d (%v); want %d of %d", len(resp.GetTransactions()), resp.GetTotalCount(), resp.GetTransactions(), len(tc.want), tc.total)
			}
			for i, w := range tc.want {
				g := resp.GetTransactions()[i]
				if g.GetSignature() != w.sig || g.GetType() != w.typ || g.GetStatus() != w.st || g.GetAmount() != w.amount ||
					g.GetTimestamp() != w.at || g.GetJobId() != 0 || !strings.Contains(g.GetDescription(), w.mention) {
					t.Fatalf("transaction %d = %v\nwant %+v", i, g, w)
				}
			}
		})
	}
	t.Run("bad address", func(t *testing.T) {
		local := newWalletEnv(t, WalletDeps{History: model})
		_, err := local.client.GetTransactionHistory(local.as(t, "alice", ""), &pb.GetTransactionHistoryRequest{WalletAddress: readmodeltest.WalletBob})
		wantCode(t, "GetTransactionHistory of a malformed address", err, codes.InvalidArgument, "wallet_address")
	})
	t.Run("no history configured", func(t *testing.T) {
		none := newWalletEnv(t, WalletDeps{})
		_, err := none.client.GetTransactionHistory(none.as(t, "alice", ""), &pb.GetTransactionHistoryRequest{WalletAddress: newWallet(t)})
		wantCode(t, "GetTransactionHistory without a history", err, codes.Unavailable, "not available")
	})
}

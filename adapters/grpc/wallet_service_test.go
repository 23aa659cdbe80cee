package grpc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/pricing"
	"github.com/cyxwiz/central-server/projections"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/mr-tron/base58"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const walletSecret = "wallet-test-secret-0123456789abcdef0123456789"

// walletEnv is a Server with WalletService on real loopback TCP.
type walletEnv struct {
	client pb.WalletServiceClient
	iss    *auth.Issuer
}

func newWalletEnv(t *testing.T, w WalletDeps) *walletEnv {
	t.Helper()
	iss := auth.NewIssuer([]byte(walletSecret), nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(Deps{Auth: iss, Tokens: iss, Now: time.Now, Wallet: w}, Options{}, log)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.GRPC().Serve(lis) //nolint:errcheck // ends with Shutdown
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Shutdown(time.Second)
	})
	return &walletEnv{client: pb.NewWalletServiceClient(conn), iss: iss}
}

// as returns a context carrying a user token for sub (with the wallet
// claim when wallet is not empty).
func (e *walletEnv) as(t *testing.T, sub, wallet string) context.Context {
	t.Helper()
	tok, _, err := e.iss.MintUser(sub, wallet, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
}

// newWallet returns the address of a fresh ed25519 key.
func newWallet(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return base58.Encode(pub)
}

func wantCode(t *testing.T, what string, err error, code codes.Code, mention string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: %v; want %s", what, err, code)
	}
	if mention != "" && !strings.Contains(status.Convert(err).Message(), mention) {
		t.Fatalf("%s: message %q does not mention %q", what, status.Convert(err).Message(), mention)
	}
}

func TestLocalAddresses(t *testing.T) {
	good := newWallet(t)
	for _, addr := range []string{good, "0" + good[1:], ""} {
		if got, want := (LocalAddresses{}).ValidAddress(addr), domain.CheckAddress(addr); (got == nil) != (want == nil) {
			t.Errorf("ValidAddress(%q) = %v; domain.CheckAddress says %v", addr, got, want)
		}
	}
}

// chainAddresses is an AddressValidator standing for a configured chain.
type chainAddresses struct{ refuse string }

func (c chainAddresses) ValidAddress(a string) error {
	if a == c.refuse {
		return errors.New("refused by the chain adapter")
	}
	return nil
}

func TestConnectWallet(t *testing.T) {
	good := newWallet(t)
	local := newWalletEnv(t, WalletDeps{})
	chain := newWalletEnv(t, WalletDeps{Addresses: chainAddresses{refuse: good}})
	tests := []struct {
		name    string
		env     *walletEnv
		addr    string
		valid   bool
		mention string
		code    codes.Code
	}{
		{"valid", local, good, true, "valid", codes.OK},
		{"invalid character", local, "0" + good[1:], false, "not base58", codes.OK},
		{"wrong length", local, good[:30], false, "bytes", codes.OK},
		{"empty", local, "", false, "wallet_address", codes.InvalidArgument},
		{"oversized", local, strings.Repeat("1", 65), false, "wallet_address", codes.InvalidArgument},
		{"the chain's validator is used", chain, good, false, "refused by the chain adapter", codes.OK},
		{"the chain's validator accepts", chain, "0not-base58-but-the-chain-says-yes", true, "valid", codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.env.client.ConnectWallet(tc.env.as(t, "alice", ""), &pb.ConnectWalletRequest{WalletAddress: tc.addr})
			if tc.code != codes.OK {
				wantCode(t, "ConnectWallet", err, tc.code, tc.mention)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := pb.StatusCode_STATUS_SUCCESS
			if !tc.valid {
				wantStatus = pb.StatusCode_STATUS_ERROR
			}
			if resp.GetIsValid() != tc.valid || resp.GetStatus() != wantStatus || resp.GetWalletAddress() != tc.addr ||
				!strings.Contains(resp.GetMessage(), tc.mention) {
				t.Fatalf("ConnectWallet(%q) = %+v; want valid %v, status %v, a message mentioning %q", tc.addr, resp, tc.valid, wantStatus, tc.mention)
			}
		})
	}
	t.Run("needs a token", func(t *testing.T) {
		_, err := local.client.ConnectWallet(t.Context(), &pb.ConnectWalletRequest{WalletAddress: good})
		wantCode(t, "ConnectWallet without a token", err, codes.Unauthenticated, "")
	})
	t.Run("not with a node session", func(t *testing.T) {
		tok, _, err := local.iss.MintNodeSession("6f1c2a9e-0000-4000-8000-000000000001", "alice", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
		_, err = local.client.ConnectWallet(ctx, &pb.ConnectWalletRequest{WalletAddress: good})
		wantCode(t, "ConnectWallet with a node session", err, codes.PermissionDenied, "user token")
	})
	t.Run("NUL", func(t *testing.T) {
		_, err := local.client.ConnectWallet(local.as(t, "alice", ""), &pb.ConnectWalletRequest{WalletAddress: "a\x00b"})
		wantCode(t, "ConnectWallet with a NUL", err, codes.InvalidArgument, "wallet_address")
	})
}

// fakeBalances is a BalanceSource with fixed answers.
type fakeBalances struct {
	lamports map[string]uint64
	err      error
}

func (f fakeBalances) Balance(_ context.Context, a string) (uint64, error) {
	if f.err != nil {
		return 0, f.err
	}
	return f.lamports[a], nil
}

type fakeTokens struct{ amount float64 }

func (f fakeTokens) TokenBalance(_ context.Context, owner, mint string) (float64, error) {
	return f.amount, nil
}

func TestGetBalance(t *testing.T) {
	alice, bob := newWallet(t), newWallet(t)
	const mint = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
	balances := fakeBalances{lamports: map[string]uint64{alice: 2_500_000_000, bob: 1}}
	solOnly := newWalletEnv(t, WalletDeps{Balances: balances})
	withMint := newWalletEnv(t, WalletDeps{Balances: balances, TokenMint: mint, Tokens: fakeTokens{amount: 42.5}})
	mintNoReader := newWalletEnv(t, WalletDeps{Balances: balances, TokenMint: mint})
	disabled := newWalletEnv(t, WalletDeps{})
	down := newWalletEnv(t, WalletDeps{Balances: fakeBalances{err: fmt.Errorf("getBalance: %w", commands.ErrChainUnavailable)}})
	tests := []struct {
		name    string
		env     *walletEnv
		claim   string
		addr    string
		sol     float64
		token   float64
		mint    string
		mention string
		code    codes.Code
	}{
		{"SOL only", solOnly, "", alice, 2.5, 0, "", "no token mint", codes.OK},
		{"one lamport", solOnly, "", bob, 1e-9, 0, "", "", codes.OK},
		{"the token's wallet by default", solOnly, bob, "", 1e-9, 0, "", "", codes.OK},
		{"with a mint", withMint, "", alice, 2.5, 42.5, mint, "SOL and token", codes.OK},
		{"a mint and no token reader", mintNoReader, "", alice, 2.5, 0, mint, "cannot read token balances", codes.OK},
		{"no address", solOnly, "", "", 0, 0, "", "wallet_address is required", codes.InvalidArgument},
		{"a bad address", solOnly, "", "not-an-address", 0, 0, "", "wallet_address", codes.InvalidArgument},
		{"a bad claim", solOnly, "0bad", "", 0, 0, "", "wallet_address", codes.InvalidArgument},
		{"chain disabled", disabled, "", alice, 0, 0, "", "disabled", codes.FailedPrecondition},
		{"chain unreachable", down, "", alice, 0, 0, "", "cannot be reached", codes.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.env.client.GetBalance(tc.env.as(t, "alice", tc.claim), &pb.GetBalanceRequest{WalletAddress: tc.addr})
			if tc.code != codes.OK {
				wantCode(t, "GetBalance", err, tc.code, tc.mention)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetStatus() != pb.StatusCode_STATUS_SUCCESS || resp.GetSolBalance() != tc.sol || resp.GetCyxwizBalance() != tc.token ||
				resp.GetTokenMint() != tc.mint || !strings.Contains(resp.GetMessage(), tc.mention) {
				t.Fatalf("GetBalance = %+v; want %v SOL, %v tokens of %q, a message mentioning %q", resp, tc.sol, tc.token, tc.mint, tc.mention)
			}
		})
	}
}

func TestEstimateJobCost(t *testing.T) {
	env := newWalletEnv(t, WalletDeps{})
	custom := pricing.Default()
	custom.PlatformFeePercent = 25
	custom.MinimumCharge = 1
	customEnv := newWalletEnv(t, WalletDeps{Pricing: custom})
	feeOnly := newWalletEnv(t, WalletDeps{Pricing: pricing.Model{PlatformFeePercent: 5, MinimumMinutes: 1}}) // the rest from the defaults
	invalid := newWalletEnv(t, WalletDeps{Pricing: pricing.Model{PlatformFeePercent: 150}})                  // refused: the defaults
	tests := []struct {
		name          string
		env           *walletEnv
		req           *pb.EstimateJobCostRequest
		cost, minutes float64
		mention       string
		code          codes.Code
	}{
		// 10 × 50,000 samples × 0.02 s ÷ 8 = 1250 s; 1250/3600 h × 0.05 SOL/h.
		{"resnet on a gpu", env, &pb.EstimateJobCostRequest{ModelType: "ResNet", Epochs: 10, DatasetSize: 50_000, NodeTier: "gpu"},
			1250.0 / 3600 * 0.05, 1250.0 / 60, "platform fee 10% = 0.001736", codes.OK},
		// The default tier (gpu), 1 epoch of the default 10,000 samples at
		// the default 0.01 s: 100 s ÷ 8 = 12.5 s, under the 1-minute minimum.
		{"defaults and minimums", env, &pb.EstimateJobCostRequest{ModelType: "something-new"},
			max(1.0/60*0.05, 0.0001), 1, "not known", codes.OK},
		{"cpu", env, &pb.EstimateJobCostRequest{ModelType: "mlp", Epochs: 3, DatasetSize: 120_000, NodeTier: "CPU"},
			180.0 / 3600 * 0.01, 3, "tier cpu", codes.OK},
		{"the configured model", customEnv, &pb.EstimateJobCostRequest{ModelType: "llm", Epochs: 1, DatasetSize: 100, NodeTier: "datacenter"},
			1, 1, "platform fee 25% = 0.25 SOL, node receives 0.75 SOL", codes.OK},
		{"only the fee configured", feeOnly, &pb.EstimateJobCostRequest{ModelType: "resnet", Epochs: 10, DatasetSize: 50_000},
			1250.0 / 3600 * 0.05, 1250.0 / 60, "platform fee 5% = ", codes.OK},
		{"an invalid model falls back to the defaults", invalid, &pb.EstimateJobCostRequest{ModelType: "resnet", Epochs: 10, DatasetSize: 50_000},
			1250.0 / 3600 * 0.05, 1250.0 / 60, "platform fee 10% = ", codes.OK},
		{"unknown tier", env, &pb.EstimateJobCostRequest{ModelType: "cnn", NodeTier: "quantum"}, 0, 0, "node_tier \"quantum\"", codes.InvalidArgument},
		{"negative epochs", env, &pb.EstimateJobCostRequest{Epochs: -1}, 0, 0, "epochs", codes.InvalidArgument},
		{"negative dataset", env, &pb.EstimateJobCostRequest{DatasetSize: -5}, 0, 0, "dataset_size", codes.InvalidArgument},
		{"oversized model type", env, &pb.EstimateJobCostRequest{ModelType: strings.Repeat("x", 200)}, 0, 0, "model_type", codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.env.client.EstimateJobCost(tc.env.as(t, "alice", ""), tc.req)
			if tc.code != codes.OK {
				wantCode(t, "EstimateJobCost", err, tc.code, tc.mention)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(resp.GetEstimatedCost()-tc.cost) > 1e-12 || math.Abs(resp.GetEstimatedTimeMinutes()-tc.minutes) > 1e-9 ||
				!strings.Contains(resp.GetBreakdown(), tc.mention) || resp.GetStatus() != pb.StatusCode_STATUS_SUCCESS {
				t.Fatalf("EstimateJobCost = cost %v, %v min, breakdown %q; want %v, %v, mentioning %q",
					resp.GetEstimatedCost(), resp.GetEstimatedTimeMinutes(), resp.GetBreakdown(), tc.cost, tc.minutes, tc.mention)
			}
		})
	}
}

var _ projections.WalletQueries = (*fakeHistory)(nil)

// fakeHistory answers WalletPayments from a fixed list; the read models'
// own answers are checked by projections/readmodeltest.
type fakeHistory struct {
	entries []projections.WalletPayment
	err     error
}

func (f *fakeHistory) WalletPayments(_ context.Context, wallet string, limit, offset int) ([]projections.WalletPayment, int, error) {
	if f.err != nil {
		return nil, 0, f.err
	}
	var mine []projections.WalletPayment
	for _, e := range f.entries {
		if projections.InWalletHistory(&e.Payment, wallet, e.Role) {
			mine = append(mine, e)
		}
	}
	lo := min(offset, len(mine))
	return mine[lo:min(lo+projections.PageSize(limit), len(mine))], len(mine), nil
}

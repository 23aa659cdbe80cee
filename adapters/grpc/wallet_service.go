package grpc

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/pricing"
	"github.com/cyxwiz/central-server/projections"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The ports WalletService reads through: small, so a test or cmd can hand
// it the chain adapter, a read model or a fake. commands.Chain satisfies
// AddressValidator and BalanceSource; both read models satisfy
// projections.WalletQueries.

// AddressValidator checks that a string is a wallet address.
type AddressValidator interface {
	// ValidAddress returns nil for a well-formed address, else an error
	// saying what is wrong with it.
	ValidAddress(address string) error
}

// BalanceSource reads an account's SOL balance.
type BalanceSource interface {
	// Balance is address's balance in lamports; an unreachable chain is an
	// error wrapping commands.ErrChainUnavailable.
	Balance(ctx context.Context, address string) (uint64, error)
}

// TokenBalanceSource reads an SPL token balance.
type TokenBalanceSource interface {
	// TokenBalance is owner's balance of mint, in whole tokens (UI amount).
	TokenBalance(ctx context.Context, owner, mint string) (float64, error)
}

// WalletDeps are what WalletService uses. Zero fields degrade the
// service, never crash it:
//   - Addresses nil: addresses are checked locally (LocalAddresses).
//   - Balances nil: the chain is disabled; GetBalance is
//     FAILED_PRECONDITION.
//   - TokenMint "": GetBalance reports SOL only, and says so. With a mint
//     and Tokens nil, it reports SOL and says the token balance could not
//     be read.
//   - History nil: GetTransactionHistory is UNAVAILABLE.
//   - Pricing: unset parts take pricing.Default()'s (see pricing.Model.WithDefaults);
//     cmd should set PlatformFeePercent from blockchain.platform_fee_percent.
type WalletDeps struct {
	Addresses AddressValidator
	Balances  BalanceSource
	Tokens    TokenBalanceSource
	TokenMint string
	History   projections.WalletQueries
	Pricing   pricing.Model
}

// walletService is cyxwiz.protocol.WalletService: clients check a
// wallet, read its balance and this platform's payments to and from it,
// and price a job before paying for it. It needs a user token (like the
// job service); a token's wallet_address claim is the default wallet.
type walletService struct {
	pb.UnimplementedWalletServiceServer
	*Server
	w     WalletDeps
	price pricing.Model
}

func newWalletService(s *Server) *walletService {
	w := s.deps.Wallet
	if w.Addresses == nil {
		w.Addresses = LocalAddresses{}
	}
	p := w.Pricing.WithDefaults()
	if err := p.Validate(); err != nil {
		s.log.Error("wallet service: invalid price model; EstimateJobCost uses the defaults", "err", err)
		p = pricing.Default()
	}
	return &walletService{Server: s, w: w, price: p}
}

// walletOf returns the wallet a request names, or the caller token's
// wallet_address claim when it names none; INVALID_ARGUMENT naming field
// when there is neither, or when it is not a valid address.
func (s *walletService) walletOf(ctx context.Context, field, address string) (string, error) {
	if address == "" {
		if p, ok := principal(ctx); ok && p.Wallet != "" {
			address = p.Wallet
		} else {
			return "", invalidf("%s is required (or a token with a wallet_address claim)", field)
		}
	}
	if len(address) > domain.MaxAddressBytes {
		return "", invalidf("%s is %d bytes: not a Solana address (at most 44 base58 characters)", field, len(address))
	}
	if err := s.w.Addresses.ValidAddress(address); err != nil {
		return "", invalidf("%s %q is not a valid Solana address: %v", field, clip(address), err)
	}
	return address, nil
}

// ConnectWallet checks an address. A malformed address is an answer, not
// an error: is_valid false and a message saying what is wrong (the call
// exists to ask exactly that). A missing or oversized one is
// INVALID_ARGUMENT.
func (s *walletService) ConnectWallet(ctx context.Context, req *pb.ConnectWalletRequest) (*pb.ConnectWalletResponse, error) {
	a := req.GetWalletAddress()
	if a == "" {
		return nil, invalidf("wallet_address is required")
	}
	if len(a) > domain.MaxAddressBytes {
		return nil, invalidf("wallet_address is %d bytes: not a Solana address (at most 44 base58 characters)", len(a))
	}
	if err := s.w.Addresses.ValidAddress(a); err != nil {
		return &pb.ConnectWalletResponse{Status: pb.StatusCode_STATUS_ERROR, IsValid: false, WalletAddress: a,
			Message: fmt.Sprintf("%q is not a valid Solana address: %v", clip(a), err)}, nil
	}
	msg := "valid Solana address"
	if p, ok := principal(ctx); ok && p.Wallet != "" && p.Wallet != a {
		msg += "; note: your token names another wallet (" + clip(p.Wallet) + ")"
	}
	return &pb.ConnectWalletResponse{Status: okStatus, IsValid: true, WalletAddress: a, Message: msg}, nil
}

// GetBalance reads the wallet's SOL balance on chain, and its token
// balance when a mint is configured.
func (s *walletService) GetBalance(ctx context.Context, req *pb.GetBalanceRequest) (*pb.GetBalanceResponse, error) {
	a, err := s.walletOf(ctx, "wallet_address", req.GetWalletAddress())
	if err != nil {
		return nil, err
	}
	if s.w.Balances == nil {
		return nil, status.Error(codes.FailedPrecondition,
			"the blockchain is disabled on this server (blockchain.network = \"disabled\"): there is no balance to read")
	}
	lamports, err := s.w.Balances.Balance(ctx, a)
	if err != nil {
		return nil, toStatus(s.log, "GetBalance", fmt.Errorf("read the balance of %s: %w", a, err))
	}
	out := &pb.GetBalanceResponse{Status: okStatus, SolBalance: lamportsToSOL(lamports), TokenMint: s.w.TokenMint}
	switch {
	case s.w.TokenMint == "":
		out.Message = "SOL only: no token mint is configured on this server"
	case s.w.Tokens == nil:
		out.Message = "SOL only: this server cannot read token balances yet (mint " + s.w.TokenMint + ")"
	default:
		tok, err := s.w.Tokens.TokenBalance(ctx, a, s.w.TokenMint)
		if err != nil {
			return nil, toStatus(s.log, "GetBalance", fmt.Errorf("read the %s token balance of %s: %w", s.w.TokenMint, a, err))
		}
		out.CyxwizBalance = tok
		out.Message = "SOL and token balances"
	}
	return out, nil
}

func lamportsToSOL(l uint64) float64 { return float64(l) / commands.LamportsPerSOL }

// GetTransactionHistory lists this platform's payments from and to the
// wallet, newest first, limit/offset paged (limit 0 = 50, at most 1000).
// Every entry is a public Solana transaction (or, for a payment not yet
// settled, the deposit that funds it), so any user may read any wallet's.
func (s *walletService) GetTransactionHistory(ctx context.Context, req *pb.GetTransactionHistoryRequest) (*pb.GetTransactionHistoryResponse, error) {
	a, err := s.walletOf(ctx, "wallet_address", req.GetWalletAddress())
	if err != nil {
		return nil, err
	}
	limit, err := checkPageSize("limit", req.GetLimit())
	if err != nil {
		return nil, err
	}
	if req.GetOffset() < 0 {
		return nil, invalidf("offset must be ≥ 0, got %d", req.GetOffset())
	}
	if s.w.History == nil {
		return nil, status.Error(codes.Unavailable, "payment history is not available on this server")
	}
	entries, total, err := s.w.History.WalletPayments(ctx, a, limit, int(req.GetOffset()))
	if err != nil {
		return nil, toStatus(s.log, "GetTransactionHistory", err)
	}
	out := &pb.GetTransactionHistoryResponse{Status: okStatus, TotalCount: int32(min(total, math.MaxInt32)),
		Transactions: make([]*pb.Transaction, 0, len(entries))}
	for i := range entries {
		out.Transactions = append(out.Transactions, transactionToProto(&entries[i]))
	}
	out.Message = fmt.Sprintf("%d of %d transactions", len(entries), total)
	return out, nil
}

// transactionToProto shows one entry of a wallet's history. The wire's
// job_id is a uint64 and job ids here are UUIDs: it is left 0 and the
// description names the job.
//
//   - The payer sees its escrow deposit (JOB_PAYMENT, CONFIRMED: it was
//     verified on chain) until a refund is signed; then the refund
//     (REFUND: PENDING while submitted, CONFIRMED once landed, FAILED when
//     the refund failed).
//   - The payee (the node's wallet) sees the payout (JOB_PAYMENT, its
//     share of the payment: PENDING while submitted, CONFIRMED once
//     released, FAILED when the release failed).
func transactionToProto(e *projections.WalletPayment) *pb.Transaction {
	p := &e.Payment
	tx := &pb.Transaction{Type: pb.TransactionType_JOB_PAYMENT, Status: pb.TransactionStatus_CONFIRMED}
	state := func(pending, done string) {
		switch p.Status {
		case pending:
			tx.Status = pb.TransactionStatus_PENDING
		case done:
			tx.Status = pb.TransactionStatus_CONFIRMED
		case projections.PaymentFailed:
			tx.Status = pb.TransactionStatus_FAILED
		}
	}
	switch {
	case e.Role == projections.RolePayee:
		tx.Signature, tx.Amount = p.Signature, lamportsToSOL(p.PayoutLamports)
		tx.Timestamp = unixOf(p.SettledAt, p.UpdatedAt)
		state(projections.PaymentReleaseSubmitted, projections.PaymentReleased)
		tx.Description = "payout for job " + p.JobID + " (" + sol(p.PayoutLamports) + " SOL; platform fee " + sol(p.FeeLamports) + " SOL)"
	case p.Refunding():
		tx.Type, tx.Signature, tx.Amount = pb.TransactionType_REFUND, p.Signature, lamportsToSOL(p.RefundLamports)
		tx.Timestamp = unixOf(p.SettledAt, p.UpdatedAt)
		state(projections.PaymentRefundSubmitted, projections.PaymentRefunded)
		tx.Description = "refund of the escrow for job " + p.JobID + " (deposit " + p.EscrowSignature + ")"
	default:
		tx.Signature, tx.Amount, tx.Timestamp = p.EscrowSignature, lamportsToSOL(p.Lamports), unixOf(p.CreatedAt, p.UpdatedAt)
		tx.Description = "escrow deposit for job " + p.JobID + " (" + p.Status + ")"
	}
	return tx
}

// unixOf is t in Unix seconds, or else's when t is zero.
func unixOf(t, orElse time.Time) int64 {
	if !t.IsZero() {
		return t.Unix()
	}
	if !orElse.IsZero() {
		return orElse.Unix()
	}
	return 0
}

func sol(lamports uint64) string {
	return strconv.FormatFloat(lamportsToSOL(lamports), 'f', -1, 64)
}

// EstimateJobCost prices a job with the price model (see package pricing).
func (s *walletService) EstimateJobCost(_ context.Context, req *pb.EstimateJobCostRequest) (*pb.EstimateJobCostResponse, error) {
	if err := checkString("model_type", req.GetModelType(), 128); err != nil {
		return nil, err
	}
	if err := checkString("node_tier", req.GetNodeTier(), 128); err != nil {
		return nil, err
	}
	est, err := s.price.Estimate(req.GetModelType(), req.GetEpochs(), req.GetDatasetSize(), req.GetNodeTier())
	if err != nil {
		return nil, toStatus(s.log, "EstimateJobCost", err)
	}
	return &pb.EstimateJobCostResponse{Status: okStatus, EstimatedCost: est.CostSOL, EstimatedTimeMinutes: est.Minutes,
		Breakdown: est.Breakdown, Message: "estimate in SOL; the deposit is the estimated cost, of which the platform keeps its fee"}, nil
}

// ---- addresses ----

// LocalAddresses checks addresses without a chain, with
// domain.CheckAddress.
type LocalAddresses struct{}

// ValidAddress implements AddressValidator.
func (LocalAddresses) ValidAddress(address string) error { return domain.CheckAddress(address) }

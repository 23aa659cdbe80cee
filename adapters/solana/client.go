// Package solana is the settlement saga's chain: it implements commands.Chain
// on a Solana JSON-RPC node with github.com/gagliardetto/solana-go. Deposits
// and payouts are plain SOL transfers (System Program) into and out of one
// custodial escrow account whose keypair the server holds.
package solana

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

// MemoProgramID is the SPL Memo program (v2) that carries a payout's job id.
var MemoProgramID = solanago.MustPublicKeyFromBase58("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")

// Defaults for the zero values of Config.
const (
	DefaultCommitment  = "confirmed"
	DefaultCallTimeout = 10 * time.Second
	DefaultAttempts    = 4
	DefaultBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
)

// Config configures a Client.
type Config struct {
	// RPCURL is the JSON-RPC endpoint, e.g. http://127.0.0.1:8899.
	RPCURL string
	// KeypairPath is the escrow authority's keypair file (Solana CLI JSON
	// format). Ignored when Keypair is set.
	KeypairPath string
	// Keypair is the escrow authority's key, for callers that hold it already.
	Keypair solanago.PrivateKey
	// Commitment is "processed", "confirmed" or "finalized" (default
	// confirmed): the level deposits must reach, and the view used for block
	// heights, blockhashes and balances. getTransaction does not support
	// processed, so deposits are looked up at confirmed then.
	Commitment string
	// CallTimeout bounds one RPC attempt (default 10s).
	CallTimeout time.Duration
	// Attempts is how many times a call is tried when the transport fails
	// (default 4). Answers from the node (an RPC error) are not retried.
	Attempts int
	// Backoff is the wait after the first failed attempt (default 250ms); it
	// doubles, with jitter, up to MaxBackoff (default 5s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Logger receives retry notices (default slog.Default()).
	Logger *slog.Logger
}

// Client implements commands.Chain on a Solana RPC node.
type Client struct {
	rpc        *rpc.Client
	key        solanago.PrivateKey
	escrow     solanago.PublicKey
	commitment rpc.CommitmentType
	cfg        Config
	log        *slog.Logger
}

var _ commands.Chain = (*Client)(nil)

// New loads the escrow keypair and returns a client for cfg.RPCURL. It does
// not contact the node; see Health.
func New(cfg Config) (*Client, error) {
	if cfg.RPCURL == "" {
		return nil, errors.New("solana: RPC URL is empty")
	}
	key := cfg.Keypair
	if key == nil {
		if cfg.KeypairPath == "" {
			return nil, errors.New("solana: no escrow keypair (set a keypair path)")
		}
		var err error
		if key, err = LoadKeypair(cfg.KeypairPath); err != nil {
			return nil, fmt.Errorf("solana: escrow %w", err)
		}
	}
	switch cfg.Commitment {
	case "":
		cfg.Commitment = DefaultCommitment
	case "processed", "confirmed", "finalized":
	default:
		return nil, fmt.Errorf("solana: commitment %q: want processed, confirmed or finalized", cfg.Commitment)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{
		rpc:        rpc.New(cfg.RPCURL),
		key:        key,
		escrow:     key.PublicKey(),
		commitment: rpc.CommitmentType(cfg.Commitment),
		cfg:        cfg,
		log:        cfg.Logger,
	}, nil
}

// Close releases the HTTP connections.
func (c *Client) Close() error { return c.rpc.Close() }

// Commitment is the configured confirmation level.
func (c *Client) Commitment() string { return string(c.commitment) }

// EscrowAddress is the escrow account: the public key of the configured keypair.
func (c *Client) EscrowAddress() string { return c.escrow.String() }

// ValidAddress reports whether address is a base58 account address of 32 bytes.
func (c *Client) ValidAddress(address string) error { return ValidAddress(address) }

// ValidAddress reports whether address is a base58 account address of 32
// bytes (domain.CheckAddress, the one check of an address's form).
func ValidAddress(address string) error {
	if err := domain.CheckAddress(address); err != nil {
		return fmt.Errorf("not a Solana address: %w", err)
	}
	return nil
}

// Health asks the node whether it is healthy, with one attempt: an
// unreachable or unhealthy node is an error wrapping
// commands.ErrChainUnavailable.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, "getHealth", 1, func(ctx context.Context) error {
		status, err := c.rpc.GetHealth(ctx)
		if err == nil && status != rpc.HealthOk {
			return &RPCError{Method: "getHealth", Code: -32005, Message: "node reports " + status}
		}
		return err
	})
}

// VerifyDeposit looks up signature at the configured commitment and sums the
// top-level System Program transfers in it from payer to the escrow account.
// Transfers made by inner (CPI) instructions are not counted.
func (c *Client) VerifyDeposit(ctx context.Context, signature, payer string, minLamports uint64) (commands.Deposit, error) {
	sig, err := solanago.SignatureFromBase58(signature)
	if err != nil {
		return commands.Deposit{}, &commands.DepositError{Problem: commands.DepositNotFound, Detail: fmt.Sprintf("%q is not a transaction signature: %v", signature, err)}
	}
	payerKey, err := solanago.PublicKeyFromBase58(payer)
	if err != nil {
		return commands.Deposit{}, &commands.DepositError{Problem: commands.DepositWrongPayer, Detail: fmt.Sprintf("payer %q is not an address: %v", payer, err)}
	}
	commitment := c.commitment
	if commitment == rpc.CommitmentProcessed {
		commitment = rpc.CommitmentConfirmed
	}
	maxVersion := uint64(0)
	var res *rpc.GetTransactionResult
	err = c.call(ctx, "getTransaction", c.cfg.Attempts, func(ctx context.Context) error {
		var err error
		res, err = c.rpc.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{
			Encoding:                       solanago.EncodingBase64,
			Commitment:                     commitment,
			MaxSupportedTransactionVersion: &maxVersion,
		})
		return err
	})
	if errors.Is(err, rpc.ErrNotFound) || (err == nil && (res == nil || res.Transaction == nil || res.Meta == nil)) {
		return commands.Deposit{}, &commands.DepositError{Problem: commands.DepositNotFound, Detail: fmt.Sprintf("no transaction %s at commitment %s", signature, commitment)}
	}
	if err != nil {
		return commands.Deposit{}, err
	}
	if res.Meta.Err != nil {
		return commands.Deposit{}, &commands.DepositError{Problem: commands.DepositFailedOnChain, Detail: fmt.Sprintf("transaction %s failed on chain: %v", signature, res.Meta.Err)}
	}
	tx, err := res.Transaction.GetTransaction()
	if err != nil {
		return commands.Deposit{}, fmt.Errorf("solana getTransaction %s: decoding: %w", signature, err)
	}
	keys := append(append(append(solanago.PublicKeySlice{}, tx.Message.AccountKeys...),
		res.Meta.LoadedAddresses.Writable...), res.Meta.LoadedAddresses.ReadOnly...)

	var intoEscrow, fromPayer uint64
	var sources []string
	for _, t := range systemTransfers(tx.Message.Instructions, keys) {
		if !t.to.Equals(c.escrow) {
			continue
		}
		intoEscrow += t.lamports
		if t.from.Equals(payerKey) {
			fromPayer += t.lamports
		} else {
			sources = append(sources, t.from.String())
		}
	}
	switch {
	case intoEscrow == 0:
		return commands.Deposit{}, &commands.DepositError{Problem: commands.DepositWrongDestination, Detail: fmt.Sprintf("transaction %s moves no SOL into the escrow account %s", signature, c.escrow)}
	case fromPayer == 0:
		return commands.Deposit{}, &commands.DepositError{Problem: commands.DepositWrongPayer, Detail: fmt.Sprintf("the SOL in transaction %s came from %s, not from the payer %s", signature, strings.Join(sources, ", "), payer)}
	case fromPayer < minLamports:
		return commands.Deposit{}, &commands.DepositError{Problem: commands.DepositTooSmall, Detail: fmt.Sprintf("transaction %s moved %d lamports from the payer into escrow; the job needs %d", signature, fromPayer, minLamports)}
	}
	return commands.Deposit{
		Signature:   signature,
		Payer:       payerKey.String(),
		Destination: c.escrow.String(),
		Lamports:    fromPayer,
		Slot:        res.Slot,
		BlockTime:   blockTime(res.BlockTime),
	}, nil
}

type transfer struct {
	from, to solanago.PublicKey
	lamports uint64
}

// systemTransfers decodes the System Program Transfer instructions (index 2:
// u32 LE 2, then u64 LE lamports; accounts [from, to]) among ixs.
func systemTransfers(ixs []solanago.CompiledInstruction, keys solanago.PublicKeySlice) []transfer {
	var out []transfer
	for _, ix := range ixs {
		if int(ix.ProgramIDIndex) >= len(keys) || !keys[ix.ProgramIDIndex].Equals(solanago.SystemProgramID) {
			continue
		}
		if len(ix.Data) != 12 || binary.LittleEndian.Uint32(ix.Data[:4]) != system.Instruction_Transfer || len(ix.Accounts) < 2 {
			continue
		}
		from, to := int(ix.Accounts[0]), int(ix.Accounts[1])
		if from >= len(keys) || to >= len(keys) {
			continue
		}
		out = append(out, transfer{from: keys[from], to: keys[to], lamports: binary.LittleEndian.Uint64(ix.Data[4:12])})
	}
	return out
}

// MemoInstruction is an SPL Memo instruction whose data is exactly text
// (solana-go's memo builder prefixes a length byte, which lands in the memo).
func MemoInstruction(text string) solanago.Instruction {
	return solanago.NewInstruction(MemoProgramID, solanago.AccountMetaSlice{}, []byte(text))
}

// SignTransfers builds one transaction, paid for and signed by the escrow
// keypair, holding a System transfer from escrow for each of transfers and
// then memo (if not empty) as a Memo instruction, against the latest
// blockhash at the configured commitment. It does not broadcast.
func (c *Client) SignTransfers(ctx context.Context, transfers []commands.Transfer, memo string) (commands.SignedTx, error) {
	if len(transfers) == 0 {
		return commands.SignedTx{}, errors.New("solana: no transfers to sign")
	}
	ixs := make([]solanago.Instruction, 0, len(transfers)+1)
	for i, t := range transfers {
		to, err := solanago.PublicKeyFromBase58(t.To)
		if err != nil {
			return commands.SignedTx{}, fmt.Errorf("solana: transfer %d: destination %q: %w", i, t.To, err)
		}
		if t.Lamports == 0 {
			return commands.SignedTx{}, fmt.Errorf("solana: transfer %d to %s: zero lamports", i, t.To)
		}
		ixs = append(ixs, system.NewTransferInstruction(t.Lamports, c.escrow, to).Build())
	}
	if memo != "" {
		ixs = append(ixs, MemoInstruction(memo))
	}
	var bh *rpc.GetLatestBlockhashResult
	err := c.call(ctx, "getLatestBlockhash", c.cfg.Attempts, func(ctx context.Context) error {
		var err error
		bh, err = c.rpc.GetLatestBlockhash(ctx, c.commitment)
		if err == nil && (bh == nil || bh.Value == nil) {
			err = &RPCError{Method: "getLatestBlockhash", Code: -32603, Message: "empty answer"}
		}
		return err
	})
	if err != nil {
		return commands.SignedTx{}, err
	}
	tx, err := solanago.NewTransaction(ixs, bh.Value.Blockhash, solanago.TransactionPayer(c.escrow))
	if err != nil {
		return commands.SignedTx{}, fmt.Errorf("solana: building transaction: %w", err)
	}
	if _, err := tx.Sign(func(k solanago.PublicKey) *solanago.PrivateKey {
		if k.Equals(c.escrow) {
			return &c.key
		}
		return nil
	}); err != nil {
		return commands.SignedTx{}, fmt.Errorf("solana: signing: %w", err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return commands.SignedTx{}, fmt.Errorf("solana: encoding transaction: %w", err)
	}
	return commands.SignedTx{
		Raw:                  raw,
		Signature:            tx.Signatures[0].String(),
		LastValidBlockHeight: bh.Value.LastValidBlockHeight,
	}, nil
}

// Broadcast sends raw with preflight checks. A transaction the node already
// processed counts as sent. A refusal (e.g. the blockhash expired, or escrow
// lacks the funds) is an *RPCError; a transport failure wraps
// commands.ErrChainUnavailable.
func (c *Client) Broadcast(ctx context.Context, raw []byte) error {
	err := c.call(ctx, "sendTransaction", c.cfg.Attempts, func(ctx context.Context) error {
		_, err := c.rpc.SendRawTransactionWithOpts(ctx, raw, rpc.TransactionOpts{PreflightCommitment: c.commitment})
		return err
	})
	var rerr *RPCError
	if errors.As(err, &rerr) && rerr.alreadyProcessed() {
		return nil
	}
	return err
}

// Status reports how far signature has got, searching the node's whole
// transaction history.
func (c *Client) Status(ctx context.Context, signature string) (commands.TxStatus, error) {
	sig, err := solanago.SignatureFromBase58(signature)
	if err != nil {
		return commands.TxNotFound, fmt.Errorf("solana: %q is not a transaction signature: %w", signature, err)
	}
	var res *rpc.GetSignatureStatusesResult
	err = c.call(ctx, "getSignatureStatuses", c.cfg.Attempts, func(ctx context.Context) error {
		var err error
		res, err = c.rpc.GetSignatureStatuses(ctx, true, sig)
		return err
	})
	if errors.Is(err, rpc.ErrNotFound) {
		return commands.TxNotFound, nil
	}
	if err != nil {
		return commands.TxNotFound, err
	}
	if len(res.Value) == 0 || res.Value[0] == nil {
		return commands.TxNotFound, nil
	}
	st := res.Value[0]
	if st.Err != nil {
		return commands.TxFailed, nil
	}
	switch st.ConfirmationStatus {
	case rpc.ConfirmationStatusFinalized:
		return commands.TxFinalized, nil
	case rpc.ConfirmationStatusConfirmed:
		return commands.TxConfirmed, nil
	case rpc.ConfirmationStatusProcessed:
		return commands.TxProcessed, nil
	}
	if st.Confirmations == nil { // old nodes: null confirmations means rooted
		return commands.TxFinalized, nil
	}
	return commands.TxProcessed, nil
}

// BlockHeight is the block height at the configured commitment.
func (c *Client) BlockHeight(ctx context.Context) (uint64, error) {
	var h uint64
	err := c.call(ctx, "getBlockHeight", c.cfg.Attempts, func(ctx context.Context) error {
		var err error
		h, err = c.rpc.GetBlockHeight(ctx, c.commitment)
		return err
	})
	return h, err
}

// Balance is address's balance in lamports at the configured commitment (0
// for an account that does not exist).
func (c *Client) Balance(ctx context.Context, address string) (uint64, error) {
	key, err := solanago.PublicKeyFromBase58(address)
	if err != nil {
		return 0, fmt.Errorf("solana: balance of %q: %w", address, err)
	}
	var res *rpc.GetBalanceResult
	err = c.call(ctx, "getBalance", c.cfg.Attempts, func(ctx context.Context) error {
		var err error
		res, err = c.rpc.GetBalance(ctx, key, c.commitment)
		return err
	})
	if err != nil {
		return 0, err
	}
	return res.Value, nil
}

func blockTime(t *solanago.UnixTimeSeconds) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time()
}

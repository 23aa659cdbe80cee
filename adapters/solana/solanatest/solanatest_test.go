package solanatest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/cyxwiz/central-server/adapters/solana/solanatest"
)

const sol = solanago.LAMPORTS_PER_SOL

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// The test chain answers solana-go's calls in the shapes solana-go decodes.
func TestChainSpeaksSolanaRPC(t *testing.T) {
	tc := solanatest.Start(t)
	cl := rpc.New(tc.URL())
	defer cl.Close()

	if h, err := cl.GetHealth(ctx(t)); err != nil || h != rpc.HealthOk {
		t.Fatalf("getHealth = %q, %v", h, err)
	}
	if v, err := cl.GetVersion(ctx(t)); err != nil || v.SolanaCore == "" {
		t.Fatalf("getVersion = %+v, %v", v, err)
	}
	height, err := cl.GetBlockHeight(ctx(t), rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	slot, err := cl.GetSlot(ctx(t), rpc.CommitmentConfirmed)
	if err != nil || slot == height {
		t.Fatalf("slot %d, height %d, %v: slots and heights differ on purpose", slot, height, err)
	}
	if rent, err := cl.GetMinimumBalanceForRentExemption(ctx(t), 0, ""); err != nil || rent != 890880 {
		t.Fatalf("rent exemption for 0 bytes = %d, %v", rent, err)
	}
	memo, err := cl.GetAccountInfo(ctx(t), solanago.MemoProgramID)
	if err != nil || !memo.Value.Executable || len(memo.GetBinary()) == 0 {
		t.Fatalf("memo program account: %+v, %v", memo, err)
	}
	if _, err := cl.GetAccountInfo(ctx(t), solanago.NewWallet().PublicKey()); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("missing account: err = %v, want rpc.ErrNotFound", err)
	}

	payer, _ := tc.NewFundedKeypair(5 * sol)
	if got := tc.Balance(payer.PublicKey().String()); got != 5*sol {
		t.Fatalf("airdropped balance = %d", got)
	}
	to := solanago.NewWallet().PublicKey()
	bh, err := cl.GetLatestBlockhash(ctx(t), rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solanago.NewTransaction([]solanago.Instruction{system.NewTransferInstruction(sol, payer.PublicKey(), to).Build()},
		bh.Value.Blockhash, solanago.TransactionPayer(payer.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(solanago.PublicKey) *solanago.PrivateKey { return &payer }); err != nil {
		t.Fatal(err)
	}
	msg, _ := tx.Message.MarshalBinary()
	fee, err := cl.GetFeeForMessage(ctx(t), base64.StdEncoding.EncodeToString(msg), rpc.CommitmentConfirmed)
	if err != nil || fee.Value == nil || *fee.Value != 5000 {
		t.Fatalf("getFeeForMessage = %+v, %v", fee, err)
	}
	if ok, err := cl.IsBlockhashValid(ctx(t), bh.Value.Blockhash, rpc.CommitmentConfirmed); err != nil || !ok.Value {
		t.Fatalf("isBlockhashValid = %+v, %v", ok, err)
	}

	// base58, as older clients send it
	raw, _ := tx.MarshalBinary()
	sig, err := cl.SendEncodedTransactionWithOpts(ctx(t), solanago.Base58(raw).String(), rpc.TransactionOpts{Encoding: solanago.EncodingBase58})
	if err != nil || !sig.Equals(tx.Signatures[0]) {
		t.Fatalf("sendTransaction (base58) = %s, %v", sig, err)
	}
	// base64, the same bytes again: same signature, paid once
	if again, err := cl.SendRawTransaction(ctx(t), raw); err != nil || !again.Equals(sig) {
		t.Fatalf("resend = %s, %v", again, err)
	}
	if got := tc.Balance(to.String()); got != sol {
		t.Fatalf("recipient balance = %d, want %d", got, sol)
	}

	st, err := cl.GetSignatureStatuses(ctx(t), true, sig)
	if err != nil || st.Value[0] == nil || st.Value[0].ConfirmationStatus != rpc.ConfirmationStatusConfirmed || st.Value[0].Err != nil {
		t.Fatalf("getSignatureStatuses = %+v, %v", st, err)
	}

	// json encoding (the default) decodes into solana-go's types
	got, err := cl.GetTransaction(ctx(t), sig, &rpc.GetTransactionOpts{Commitment: rpc.CommitmentConfirmed})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := got.Transaction.GetTransaction()
	if err != nil {
		t.Fatal(err)
	}
	if !parsed.Message.AccountKeys[1].Equals(to) || len(parsed.Message.Instructions) != 1 || got.BlockTime == nil || got.Slot != st.Value[0].Slot {
		t.Fatalf("getTransaction (json) = %+v", got)
	}
	m := got.Meta
	if m.Fee != 5000 || m.PreBalances[0]-m.PostBalances[0] != sol+5000 || m.PostBalances[1]-m.PreBalances[1] != sol {
		t.Fatalf("meta: fee %d pre %v post %v", m.Fee, m.PreBalances, m.PostBalances)
	}
	// at finalized it appears only after the finality depth
	if _, err := cl.GetTransaction(ctx(t), sig, &rpc.GetTransactionOpts{Commitment: rpc.CommitmentFinalized}); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("finalized before depth: err = %v", err)
	}
	tc.AdvanceBlocks(solanatest.DefaultFinalityDepth)
	if _, err := cl.GetTransaction(ctx(t), sig, &rpc.GetTransactionOpts{Commitment: rpc.CommitmentFinalized}); err != nil {
		t.Fatalf("finalized after depth: %v", err)
	}

	// blockhash expiry: valid for 150 blocks after it was handed out
	tc.AdvanceBlocks(int(bh.Value.LastValidBlockHeight - tc.BlockHeight()))
	if ok, _ := cl.IsBlockhashValid(ctx(t), bh.Value.Blockhash, ""); ok.Value {
		t.Fatal("blockhash still valid at its last valid block height")
	}
	if fee, err := cl.GetFeeForMessage(ctx(t), base64.StdEncoding.EncodeToString(msg), ""); err != nil || fee.Value != nil {
		t.Fatalf("fee for an expired blockhash = %+v, %v; want null", fee, err)
	}
}

// A transaction sent without preflight that fails in execution lands with
// its error and charges the fee; with preflight it is refused and nothing
// lands.
func TestChainFailedTransactions(t *testing.T) {
	tc := solanatest.Start(t)
	poor, _ := tc.NewFundedKeypair(sol / 100)
	to := solanago.NewWallet().PublicKey()
	ix := system.NewTransferInstruction(sol, poor.PublicKey(), to).Build()

	_, err := tc.Send([]solanago.PrivateKey{poor}, false, ix)
	var rerr *jsonrpc.RPCError
	if !errors.As(err, &rerr) || rerr.Code != -32002 {
		t.Fatalf("with preflight: err = %v, want rpc error -32002", err)
	}
	if got := tc.Balance(poor.PublicKey().String()); got != sol/100 {
		t.Fatalf("balance after a refused transaction = %d", got)
	}

	sig, err := tc.Send([]solanago.PrivateKey{poor}, true, ix)
	if err != nil {
		t.Fatal(err)
	}
	_, meta := tc.Transaction(sig)
	if meta == nil || meta.Err == nil {
		t.Fatalf("meta = %+v, want an error", meta)
	}
	st, err := tc.RPC().GetSignatureStatuses(ctx(t), true, solanago.MustSignatureFromBase58(sig))
	if err != nil || st.Value[0] == nil || st.Value[0].Err == nil {
		t.Fatalf("status = %+v, %v; want the error", st, err)
	}
	if got := tc.Balance(to.String()); got != 0 {
		t.Fatalf("recipient got %d from a failed transaction", got)
	}
	t.Logf("failed tx: err %v, fee %d, payer %d -> %d", meta.Err, meta.Fee, meta.PreBalances[0], meta.PostBalances[0])
}

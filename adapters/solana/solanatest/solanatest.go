// Package solanatest runs the repository's test chain (tools/litesvm-rpc: a
// Solana JSON-RPC subset served by LiteSVM) as a subprocess for a test, and
// offers the few chain-side helpers tests need: funded keypairs, balances,
// deposits, advancing blocks and making the RPC unreachable.
//
// When node or the tool's node_modules is missing the test is skipped with a
// loud reason, or fails when CI=true. Install with
//
//	(cd tools/litesvm-rpc && npm install --no-audit --no-fund)
package solanatest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	solanago "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"

	chain "github.com/cyxwiz/central-server/adapters/solana"
)

// DefaultFinalityDepth is how many blocks after landing the test chain calls
// a transaction finalized (it is confirmed at once).
const DefaultFinalityDepth = 32

// Options tune the test chain.
type Options struct {
	// FinalityDepth: blocks after landing until "finalized"; 0 finalizes at
	// once. Negative means DefaultFinalityDepth.
	FinalityDepth int
}

// TestChain is a running test chain. URL goes through a loopback proxy that
// Stop and Restart switch off and on; the helpers talk to the chain directly,
// so they work while it is "unreachable".
type TestChain struct {
	t      testing.TB
	cmd    *exec.Cmd
	stderr *syncBuffer
	direct string // the node server's own URL
	rpc    *rpc.Client
	proxy  *proxy
}

// Start starts a test chain for t with default options (finality depth 32).
// It is stopped when the test ends.
func Start(t testing.TB) *TestChain {
	t.Helper()
	return StartWith(t, Options{FinalityDepth: -1})
}

// StartWith starts a test chain for t with opts.
func StartWith(t testing.TB, opts Options) *TestChain {
	t.Helper()
	dir, err := ToolDir()
	if err != nil {
		unavailable(t, err.Error())
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node is not on PATH (Node 20+ is needed for the test chain)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "litesvm")); err != nil {
		unavailable(t, fmt.Sprintf("the test chain is not installed: run (cd %s && npm install --no-audit --no-fund)", dir))
	}
	depth := opts.FinalityDepth
	if depth < 0 {
		depth = DefaultFinalityDepth
	}
	c := &TestChain{t: t, stderr: &syncBuffer{}}
	c.cmd = exec.Command(node, "server.js", "--port", "0", "--finality-depth", fmt.Sprint(depth))
	c.cmd.Dir = dir
	c.cmd.Stderr = c.stderr
	dieWithParent(c.cmd)
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("solanatest: %v", err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("solanatest: starting node: %v", err)
	}
	t.Cleanup(c.Kill)

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				addr <- a
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case a := <-addr:
		c.direct = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("solanatest: the test chain did not start in 60s; stderr:\n%s", c.stderr.String())
	}
	c.rpc = rpc.New(c.direct)
	t.Cleanup(func() { _ = c.rpc.Close() })
	c.proxy, err = newProxy(strings.TrimPrefix(c.direct, "http://"))
	if err != nil {
		t.Fatalf("solanatest: %v", err)
	}
	t.Cleanup(c.proxy.stop)
	return c
}

func unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("solanatest: test chain unavailable (CI=true, so this fails): %s", reason)
	}
	t.Skipf("SKIPPED: test chain unavailable: %s", reason)
}

// ToolDir finds tools/litesvm-rpc from the working directory by walking up to
// the module root (the directory holding go.mod).
func ToolDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "tools", "litesvm-rpc"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// URL is the JSON-RPC endpoint to give the code under test.
func (c *TestChain) URL() string { return "http://" + c.proxy.addr }

// RPC is a client talking to the chain directly (not through the proxy).
func (c *TestChain) RPC() *rpc.Client { return c.rpc }

func (c *TestChain) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func (c *TestChain) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("solanatest: "+format+"\nchain stderr:\n%s", append(args, c.stderr.String())...)
}

// Airdrop credits lamports to address and returns the airdrop's signature.
func (c *TestChain) Airdrop(address string, lamports uint64) string {
	c.t.Helper()
	key, err := solanago.PublicKeyFromBase58(address)
	if err != nil {
		c.fatalf("airdrop to %q: %v", address, err)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	sig, err := c.rpc.RequestAirdrop(ctx, key, lamports, rpc.CommitmentConfirmed)
	if err != nil {
		c.fatalf("airdrop to %s: %v", address, err)
	}
	return sig.String()
}

// NewKeypair returns a fresh keypair and the path of its Solana CLI JSON
// file in the test's temporary directory.
func (c *TestChain) NewKeypair() (solanago.PrivateKey, string) {
	c.t.Helper()
	key, err := chain.NewKeypair()
	if err != nil {
		c.fatalf("%v", err)
	}
	path := filepath.Join(c.t.TempDir(), key.PublicKey().String()+".json")
	if err := chain.WriteKeypair(path, key); err != nil {
		c.fatalf("%v", err)
	}
	return key, path
}

// NewFundedKeypair is NewKeypair with lamports airdropped to it.
func (c *TestChain) NewFundedKeypair(lamports uint64) (solanago.PrivateKey, string) {
	c.t.Helper()
	key, path := c.NewKeypair()
	c.Airdrop(key.PublicKey().String(), lamports)
	return key, path
}

// Balance is address's balance in lamports (0 if the account does not exist).
func (c *TestChain) Balance(address string) uint64 {
	c.t.Helper()
	key, err := solanago.PublicKeyFromBase58(address)
	if err != nil {
		c.fatalf("balance of %q: %v", address, err)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	res, err := c.rpc.GetBalance(ctx, key, rpc.CommitmentConfirmed)
	if err != nil {
		c.fatalf("balance of %s: %v", address, err)
	}
	return res.Value
}

// BlockHeight is the tip's block height.
func (c *TestChain) BlockHeight() uint64 {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	h, err := c.rpc.GetBlockHeight(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		c.fatalf("block height: %v", err)
	}
	return h
}

// AdvanceBlocks produces n empty blocks and returns the new block height.
// Advancing more than 150 blocks expires every blockhash handed out before.
func (c *TestChain) AdvanceBlocks(n int) uint64 {
	c.t.Helper()
	var out struct {
		BlockHeight uint64 `json:"blockHeight"`
	}
	c.control(&out, "cyxwiz_advanceBlocks", n)
	return out.BlockHeight
}

// SetDropTransactions makes sendTransaction accept transactions (answering
// with their signature) without ever landing them, like a cluster dropping
// them, until switched off.
func (c *TestChain) SetDropTransactions(on bool) {
	c.t.Helper()
	var out bool
	c.control(&out, "cyxwiz_setDropTransactions", on)
}

// SetFinalityDepth changes how many blocks after landing a transaction is
// finalized.
func (c *TestChain) SetFinalityDepth(n int) {
	c.t.Helper()
	var out int
	c.control(&out, "cyxwiz_setFinalityDepth", n)
}

func (c *TestChain) control(out any, method string, params ...any) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	if err := c.rpc.RPCCallForInto(ctx, out, method, params); err != nil {
		c.fatalf("%s: %v", method, err)
	}
}

// Transfer sends lamports from from to address in a System transfer (with
// preflight) and returns the signature; the transaction has landed when it
// returns.
func (c *TestChain) Transfer(from solanago.PrivateKey, to string, lamports uint64) string {
	c.t.Helper()
	toKey, err := solanago.PublicKeyFromBase58(to)
	if err != nil {
		c.fatalf("transfer to %q: %v", to, err)
	}
	sig, err := c.Send([]solanago.PrivateKey{from}, false,
		system.NewTransferInstruction(lamports, from.PublicKey(), toKey).Build())
	if err != nil {
		c.fatalf("transfer %d lamports to %s: %v", lamports, to, err)
	}
	return sig
}

// Send signs a transaction of ixs, paid by signers[0], and sends it. With
// skipPreflight a transaction that fails in execution lands with an error
// (as on a real cluster), which tests of failed deposits need.
func (c *TestChain) Send(signers []solanago.PrivateKey, skipPreflight bool, ixs ...solanago.Instruction) (string, error) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	bh, err := c.rpc.GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		return "", err
	}
	tx, err := solanago.NewTransaction(ixs, bh.Value.Blockhash, solanago.TransactionPayer(signers[0].PublicKey()))
	if err != nil {
		return "", err
	}
	if _, err := tx.Sign(func(k solanago.PublicKey) *solanago.PrivateKey {
		for i := range signers {
			if signers[i].PublicKey().Equals(k) {
				return &signers[i]
			}
		}
		return nil
	}); err != nil {
		return "", err
	}
	sig, err := c.rpc.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: skipPreflight})
	return sig.String(), err
}

// Transaction fetches a landed transaction (base64, decoded) and its meta at
// confirmed commitment; nil when the chain does not know it.
func (c *TestChain) Transaction(signature string) (*solanago.Transaction, *rpc.TransactionMeta) {
	c.t.Helper()
	sig, err := solanago.SignatureFromBase58(signature)
	if err != nil {
		c.fatalf("%q: %v", signature, err)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	v := uint64(0)
	res, err := c.rpc.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{
		Encoding: solanago.EncodingBase64, Commitment: rpc.CommitmentConfirmed, MaxSupportedTransactionVersion: &v,
	})
	if errors.Is(err, rpc.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		c.fatalf("getTransaction %s: %v", signature, err)
	}
	tx, err := res.Transaction.GetTransaction()
	if err != nil {
		c.fatalf("decoding %s: %v", signature, err)
	}
	return tx, res.Meta
}

// Stop makes the RPC URL unreachable (connections are refused or cut) while
// the chain keeps its state; Restart brings it back at the same URL.
func (c *TestChain) Stop() { c.proxy.stop() }

// Restart makes the RPC URL reachable again after Stop.
func (c *TestChain) Restart() {
	c.t.Helper()
	if err := c.proxy.start(); err != nil {
		c.fatalf("restart: %v", err)
	}
}

// Kill ends the chain process: its state is gone and the URL is unreachable
// for good. Tests end it anyway on cleanup.
func (c *TestChain) Kill() {
	if c.proxy != nil {
		c.proxy.stop()
	}
	if c.cmd != nil && c.cmd.Process != nil && c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

// proxy forwards TCP from its own loopback address to the chain, and can be
// switched off (listener closed, open connections cut) and on again.
type proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newProxy(target string) (*proxy, error) {
	p := &proxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *proxy) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port was ours a moment ago; retry while the kernel frees it
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("proxy listen on %s: %w", p.addr, err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	go p.accept(ln)
	return nil
}

func (p *proxy) accept(ln net.Listener) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // stopped meanwhile
			p.mu.Unlock()
			_ = in.Close()
			_ = out.Close()
			return
		}
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for conn := range p.conns {
		_ = conn.Close()
		delete(p.conns, conn)
	}
}

// syncBuffer collects the chain's stderr for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

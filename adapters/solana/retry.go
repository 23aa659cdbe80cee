package solana

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/cyxwiz/central-server/commands"
)

// RPCError is an answer from the node refusing a call (a JSON-RPC error
// object): the node was reached, so retrying the same call will not help.
type RPCError struct {
	Method  string
	Code    int
	Message string
	Data    any
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("solana %s: %s (rpc error %d)", e.Method, e.Message, e.Code)
}

// alreadyProcessed reports a preflight refusal because the transaction has
// already landed.
func (e *RPCError) alreadyProcessed() bool {
	if data, ok := e.Data.(map[string]any); ok {
		if s, ok := data["err"].(string); ok && s == "AlreadyProcessed" {
			return true
		}
	}
	return strings.Contains(e.Message, "AlreadyProcessed") || strings.Contains(e.Message, "already been processed")
}

// JSON-RPC error codes that mean "this node cannot answer now" rather than
// "no": node unhealthy, block not available, slot skipped, min context slot
// not reached. They are retried and reported as the chain being unavailable.
var unavailableCodes = map[int]bool{-32004: true, -32005: true, -32007: true, -32014: true, -32016: true}

// call runs fn with a per-attempt timeout, up to attempts times while the
// failure is the transport's (not an answer from the node), waiting with
// exponential backoff and jitter in between. Transport failures wrap
// commands.ErrChainUnavailable; refusals are *RPCError; rpc.ErrNotFound (a
// null answer) is returned as is.
func (c *Client) call(ctx context.Context, method string, attempts int, fn func(context.Context) error) error {
	backoff := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		err := fn(actx)
		cancel()
		if err == nil || errors.Is(err, rpc.ErrNotFound) {
			return err
		}
		var rpcErr *jsonrpc.RPCError
		if errors.As(err, &rpcErr) && !unavailableCodes[rpcErr.Code] {
			return &RPCError{Method: method, Code: rpcErr.Code, Message: rpcErr.Message, Data: rpcErr.Data}
		}
		var ours *RPCError
		if errors.As(err, &ours) && !unavailableCodes[ours.Code] {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("solana %s: %w: %w", method, commands.ErrChainUnavailable, ctx.Err())
		}
		if attempt >= attempts {
			return fmt.Errorf("solana %s: %w after %d attempts: %w", method, commands.ErrChainUnavailable, attempt, err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		c.log.DebugContext(ctx, "solana rpc failed; retrying", "method", method, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("solana %s: %w: %w", method, commands.ErrChainUnavailable, ctx.Err())
		case <-t.C:
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
}

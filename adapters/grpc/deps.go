package grpc

import (
	"context"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/projections"
)

// Deps are what the services use: the write side, the read side, tokens
// and the node monitor.
type Deps struct {
	Commands   *commands.Handler
	Monitor    *commands.Monitor
	Jobs       projections.JobQueries
	Nodes      projections.NodeQueries
	Watcher    projections.JobWatcher
	Projection Positioner
	Auth       *auth.Issuer
	Tokens     commands.P2PTokens
	Now        func() time.Time
	// Wallet is what WalletService reads: the chain, payment history and
	// the price model (see WalletDeps; the zero value degrades, never fails).
	Wallet WalletDeps
}

// Positioner tells how far the read model has applied the log.
type Positioner interface {
	WaitFor(ctx context.Context, pos uint64) error
}

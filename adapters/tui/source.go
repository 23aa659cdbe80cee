// Package tui is the operator console: a live tview terminal over the
// read model. Views (dashboard, jobs, nodes, blockchain, logs, settings)
// read only the Source interface, which has two implementations: inproc
// (the server's own queries and projection feed, in one process) and
// attach (the REST API and its Server-Sent Events stream).
//
// Liveness: a Source signals that something changed on Changes(); the
// console's refresher coalesces those signals (and log lines) into at most
// one fetch-and-redraw per refresh interval, and does nothing while idle.
// Nothing the server does ever waits on the console.
package tui

import (
	"context"
	"time"

	"github.com/cyxwiz/central-server/adapters/logbuf"
)

// Source is everything the console reads. Every method may be called from
// any goroutine; the snapshot queries may block on I/O (the console calls
// them off its UI goroutine, with a deadline).
type Source interface {
	// Stats is the network at a glance.
	Stats(ctx context.Context) (Stats, error)
	// Health reports each component and the server's uptime.
	Health(ctx context.Context) (Health, error)
	// Jobs lists the newest jobs q selects.
	Jobs(ctx context.Context, q JobQuery) (JobPage, error)
	// Job returns one job and its event history, oldest first.
	Job(ctx context.Context, id string) (Job, []Event, error)
	// Nodes lists nodes, best reputation first.
	Nodes(ctx context.Context, limit int) (NodePage, error)
	// Node returns one node and its load samples since from, oldest first.
	Node(ctx context.Context, id string, from time.Time) (Node, []MetricPoint, error)
	// Activity returns up to limit lines of the activity log, newest
	// first, from cursor ("" = the newest); next continues after them
	// ("" = there are no older lines).
	Activity(ctx context.Context, limit int, cursor string) (lines []Activity, next string, err error)
	// Payments lists the newest payments.
	Payments(ctx context.Context, limit int) ([]Payment, error)
	// Chain describes settlement: network, escrow wallet, treasury.
	Chain(ctx context.Context) (Chain, error)
	// Settings is the effective configuration, secrets masked.
	Settings(ctx context.Context) (Settings, error)
	// Logs is the buffer of log lines the Logs view shows.
	Logs() *logbuf.Buffer
	// Changes receives a value (never blocking the sender; one pending
	// value stands for any number of changes) whenever the read model may
	// have changed, and after a reconnection (a resync).
	Changes() <-chan struct{}
	// Conn describes the connection, for the header.
	Conn() Conn
}

// Conn is the state of a Source's live feed.
type Conn struct {
	Mode     string // "in-process" or "attached to http://…"
	Live     bool   // events are flowing (attached: the stream is open)
	Detail   string // why not live, or "" when live
	Position uint64 // global position of the newest event seen
}

// Stats is the network at a glance.
type Stats struct {
	NodesTotal, NodesOnline             int
	JobsTotal, JobsPending, JobsRunning int
	JobsCompleted24h, JobsFailed24h     int
}

// Component is one dependency's state: ok, memory, disabled, degraded, down.
type Component struct {
	Name, Status, Detail string
}

// Health is the state of the server.
type Health struct {
	Status     string // healthy, degraded, unhealthy
	Components []Component
	Uptime     time.Duration
	Version    string
}

// JobQuery selects jobs; zero fields select everything.
type JobQuery struct {
	Status string // a JobStatuses entry, "" = every status
	Type   string // a JobTypes entry, "" = every type
	Limit  int
}

// JobStatuses are the status filters the Jobs view cycles through.
var JobStatuses = []string{"", "pending", "in_progress", "assigned", "running", "completed", "failed", "cancelled"}

// JobTypes are the type filters the Jobs view cycles through.
var JobTypes = []string{"", "training", "inference", "evaluation", "preprocessing"}

// Job is a job as the console shows it.
type Job struct {
	ID, Owner, Type, Priority, Status string
	NodeID                            string
	Device, Model, Dataset            string
	Progress                          float64 // 0..1
	Epoch, Epochs                     int32
	Attempts, Requeues                int
	Payment                           float64
	SubmittedAt, StartedAt, EndedAt   time.Time
	Reason, LastLog                   string
	Metrics                           map[string]float64
}

// JobPage is a list of jobs and how many the query selects in all.
type JobPage struct {
	Jobs  []Job
	Total int
}

// Event is one event of a stream's history.
type Event struct {
	Position uint64
	Revision uint64
	Time     time.Time
	Name     string
	Actor    string
	Summary  string
}

// Node is a node as the console shows it.
type Node struct {
	ID, Name, Owner, Region, Version string
	Online, Banned                   bool
	Reputation                       float64 // 0..1
	Devices                          []string
	ActiveJobs, FreeSlots            int
	JobsCompleted                    int64
	PricePerHour                     float64
	Uptime                           float64 // percent
	LastSeen                         time.Time
	Load                             *MetricPoint // latest sample, nil before the first
}

// NodePage is a list of nodes.
type NodePage struct {
	Nodes         []Node
	Total, Online int
}

// MetricPoint is one load sample of a node; usages as reported.
type MetricPoint struct {
	At               time.Time
	CPU, GPU, Memory float64
	ActiveJobs       int
}

// Activity is one line of the activity log.
type Activity struct {
	Position uint64
	At       time.Time
	Event    string
	JobID    string
	NodeID   string
	Actor    string
	Summary  string
}

// Payment is one job's settlement (projections.PaymentView, or
// /api/payments' PaymentJSON).
type Payment struct {
	JobID  string
	Status string // funded, release_submitted, released, refund_submitted, refunded, failed, skipped
	// Amount is the job's payment in SOL; the *Lamports fields are exact.
	Amount   float64
	Lamports uint64
	Payer    string // the payer's wallet
	// NodeID and Payee (the node's wallet) are set once a payout is
	// signed; PayoutLamports and FeeLamports split it.
	NodeID, Payee               string
	PayoutLamports, FeeLamports uint64
	RefundLamports              uint64 // what a refund returns to the payer
	// EscrowSignature is the payer's deposit; Signature the payout's or
	// the refund's transaction (or the failed one's).
	EscrowSignature, Signature string
	Reason                     string // why it was skipped, refunded or failed
	CreatedAt, UpdatedAt       time.Time
	SettledAt                  time.Time // released or refunded
}

// Chain describes settlement as configured.
type Chain struct {
	Enabled      bool
	Network      string // devnet, …, or "disabled"
	RPC          string
	Escrow       string // the escrow wallet's address
	Treasury     string
	FeePercent   int
	Confirmation string // the level a settlement is counted at
	Status       string // the health check's word for Solana
	Detail       string // the health check's detail (pending settlements, errors)
	Note         string // what is missing, for an honest empty state
}

// Setting is one key of the configuration.
type Setting struct {
	Key, Value string
}

// Settings is the effective configuration.
type Settings struct {
	Items []Setting
	Note  string // e.g. why it is not available
}

package projections

import (
	"context"
	"time"
)

// HourStats is one hour of network activity, counted when the events
// happened (their recorded time, UTC).
type HourStats struct {
	Hour      time.Time // start of the hour, UTC
	Submitted int
	Completed int
	Failed    int
	Cancelled int
	// AvgDurationMs is the mean of started→completed (or assigned→completed
	// when the job never reported a start) of the jobs completed in the
	// hour; 0 when none completed.
	AvgDurationMs float64
}

// NetworkStats is the network at a glance, for /api/stats and the console.
type NetworkStats struct {
	NodesTotal       int
	NodesOnline      int
	JobsTotal        int // not deleted
	JobsPending      int
	JobsRunning      int // assigned or running
	JobsCompleted24h int // completed in the 24 hours before now
	JobsFailed24h    int
	Hourly           []HourStats // the 24 hours before now, oldest first, empty hours included
}

// StatsQueries answers questions about the whole network.
type StatsQueries interface {
	NetworkStats(ctx context.Context, now time.Time) (NetworkStats, error)
	// HourlyStats returns the hours with from ≤ Hour < to, oldest first,
	// empty hours included.
	HourlyStats(ctx context.Context, from, to time.Time) ([]HourStats, error)
}

// Activity is one line of the activity log: an event, readably.
type Activity struct {
	Position uint64
	At       time.Time
	Event    string // event name
	Stream   string
	JobID    string // "" when the event is not about a job
	NodeID   string // "" when the event is not about a node
	Actor    string // metadata actor, e.g. "user:alice", "node:<id>"
	Summary  string // Describe(event)
}

// ActivityQueries reads the activity log, newest first.
type ActivityQueries interface {
	// RecentActivity returns up to limit entries with Position < before
	// (before = 0: from the newest), newest first.
	RecentActivity(ctx context.Context, limit int, before uint64) ([]Activity, error)
}

// PaymentQueries lists payments, newest first.
type PaymentQueries interface {
	ListPayments(ctx context.Context, status string, limit int, before time.Time) ([]PaymentView, error)
}

package projections

import (
	"context"
	"errors"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// ErrBadPageToken is wrapped by the error a list returns for a page token
// it did not issue, or issued for a different filter or sort.
var ErrBadPageToken = errors.New("invalid page token")

// Page sizes of lists.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
	// DefaultFindResults is the number of nodes FindNodes returns when
	// MaxResults is 0; MaxFindResults bounds it.
	DefaultFindResults = 20
	MaxFindResults     = 1000
)

// PageSize returns the effective size of a page asked for with n.
func PageSize(n int) int {
	switch {
	case n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

// ReadModel is the storage a Runner feeds.
type ReadModel interface {
	// Apply folds batch into the model atomically: queries see all of it or
	// none of it. batch is only valid during the call (the runner reuses
	// it). checkpoint is the global position of the last event the
	// runner consumed, at least the last envelope's (events the runner
	// skipped count too); the model stores it with the views. Envelopes at
	// or below the stored checkpoint are ignored, so a replayed batch is
	// harmless.
	Apply(ctx context.Context, batch []Envelope, checkpoint uint64) error
	// Checkpoint returns the stored checkpoint: the runner resumes after it.
	Checkpoint() uint64
}

// InProgress is the status group of the wire's STATUS_IN_PROGRESS.
var InProgress = []domain.JobStatus{domain.JobStatusAssigned, domain.JobStatusRunning}

// JobFilter selects jobs; zero fields select everything.
type JobFilter struct {
	Owner    string          // "" = every owner (operators)
	Type     *domain.JobType // nil = every type
	Statuses []domain.JobStatus
	// PageSize is the page's size (see PageSize); PageToken continues a
	// list from the Next of the previous page of the same filter.
	PageSize  int
	PageToken string
}

// Matches reports whether v is selected by f's owner, type and statuses.
// Deleted jobs never match.
func (f *JobFilter) Matches(v *JobView) bool {
	if v.Deleted || (f.Owner != "" && v.Owner != f.Owner) || (f.Type != nil && v.Spec.Type != *f.Type) {
		return false
	}
	return f.MatchesStatus(v.Status)
}

// MatchesStatus reports whether s is one of f's statuses.
func (f *JobFilter) MatchesStatus(s domain.JobStatus) bool {
	if len(f.Statuses) == 0 {
		return true
	}
	for _, want := range f.Statuses {
		if s == want {
			return true
		}
	}
	return false
}

// JobQueries answers the API's questions about jobs.
type JobQueries interface {
	// GetJob returns a job; found is false for an unknown or deleted job.
	GetJob(ctx context.Context, id string) (v JobView, found bool, err error)
	// ListJobs returns a page of the jobs f selects, newest first; next is
	// "" on the last page; total counts every job f selects. Deleted jobs
	// are hidden. A bad token is an error wrapping ErrBadPageToken.
	ListJobs(ctx context.Context, f JobFilter) (jobs []JobView, next string, total int, err error)
}

// JobWatcher delivers the steps of one job, for StreamJobUpdates.
type JobWatcher interface {
	// WatchJob starts with the job's current view (when the read model has
	// it) and then delivers one update per event of the job. A slow reader
	// loses the oldest updates, never the newest, so the terminal one
	// always arrives; the channel is closed after it, or on cancel.
	WatchJob(jobID string) (updates <-chan JobUpdate, cancel func())
}

// NodeSort orders node lists; values match the wire's FindNodesRequest.SortBy.
type NodeSort int

// Sort orders.
const (
	SortByPrice        NodeSort = iota // price per hour
	SortByPerformance                  // compute score
	SortByReputation                   // reputation
	SortByAvailability                 // free slots, then uptime
)

// Valid reports whether s is a known order.
func (s NodeSort) Valid() bool { return s >= SortByPrice && s <= SortByAvailability }

// NodeListFilter is ListNodesRequest: it selects and orders every node.
type NodeListFilter struct {
	Owner      string // "" = every owner
	OnlineOnly bool
	Device     domain.DeviceType // DeviceAny = every node
	Region     string            // "" = every region; compared case-insensitively
	MinPrice   float64           // price per hour; 0 = no bound
	MaxPrice   float64           // price per hour; 0 = no bound
	Sort       NodeSort
	Descending bool
	PageSize   int
	PageToken  string
	// Now is the time uptime is computed at (sort by availability); zero
	// means the time of the call.
	Now time.Time
}

// NodePage is a page of ListNodes.
type NodePage struct {
	Nodes []NodeView
	Next  string // "" on the last page
	Total int    // nodes the filter selects
	// Online counts the selected nodes that are online.
	Online int
	// NetworkAvgPrice is the mean price per hour, and NetworkTotalCompute
	// the sum of the compute scores, of every online node that is not
	// banned, whatever the filter.
	NetworkAvgPrice     float64
	NetworkTotalCompute float64
}

// NodeFindFilter is FindNodesRequest: the nodes a client could use. Only
// online nodes that are not banned are found. Zero fields do not filter.
type NodeFindFilter struct {
	Device          domain.DeviceType // DeviceAny = any; else the node has one
	MinMemory       int64             // bytes, on the required device (RAM for CPU)
	MinReputation   float64
	PreferredRegion string   // nodes there rank first
	AllowedRegions  []string // non-empty: only these
	BlockedRegions  []string
	MaxPricePerHour float64
	MaxPriceUSD     float64 // pricing's USD equivalent
	// PreferredBilling ranks nodes with this billing model first (after
	// the preferred region); nil = no preference.
	PreferredBilling *int
	RequireFreeTier  bool
	MinVRAM          int64 // bytes, on one device of the required type
	MinComputeScore  float64
	MinStake         float64
	// Sort orders the results, best first: price ascending; performance,
	// reputation and availability descending.
	Sort       NodeSort
	MaxResults int // see DefaultFindResults
	Now        time.Time
}

// NodeMatches is the answer of FindNodes.
type NodeMatches struct {
	Nodes         []NodeView
	TotalMatching int
	// Prices per hour over every matching node (not only those returned);
	// 0 when none matches.
	AvgPrice, MinPrice, MaxPrice float64
}

// NodeQueries answers the API's questions about nodes.
type NodeQueries interface {
	GetNode(ctx context.Context, id string) (v NodeView, found bool, err error)
	ListNodes(ctx context.Context, f NodeListFilter) (NodePage, error)
	FindNodes(ctx context.Context, f NodeFindFilter) (NodeMatches, error)
	// NodeMetrics returns the node's samples with from ≤ At ≤ to, oldest
	// first; a zero bound is open.
	NodeMetrics(ctx context.Context, id string, from, to time.Time) ([]MetricPoint, error)
}

// SchedulerSnapshot is what the scheduler, dispatcher, node monitor and
// timeouts read. Every call is consistent on its own and cheap: it reads
// indexes, never every job ever submitted.
type SchedulerSnapshot interface {
	// PendingJobs returns the queue in order (domain.QueueLess).
	PendingJobs() []domain.QueuedJob
	// Candidates returns every registered node, in id order.
	Candidates() []domain.Candidate
	// Assignments returns the assigned and running jobs, oldest assignment first.
	Assignments() []domain.Assignment
	// Reservations returns every slot every node holds, by node id.
	Reservations() []domain.Reservation
	// OnlineNodes returns the ids of the online nodes, in order.
	OnlineNodes() []string
	// NodeOwner returns the owner of a registered node.
	NodeOwner(id string) (owner string, found bool)
}

// Queries is everything a complete read model answers.
type Queries interface {
	JobQueries
	JobWatcher
	NodeQueries
	SchedulerSnapshot
}

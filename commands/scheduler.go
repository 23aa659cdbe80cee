package commands

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cyxwiz/central-server/commands/placement"
	"github.com/cyxwiz/central-server/domain"
)

// SchedulerConfig tunes the scheduler.
type SchedulerConfig struct {
	Interval    time.Duration // fallback tick; events wake it at once
	Parallelism int           // assignments recorded concurrently in a pass
	Seed        uint64        // random seed for fair ties (0: random)
	// Departures, when set, steers a requeued job away from the nodes it
	// was requeued from, unless no other node can take it.
	Departures *Departures
}

// Scheduler matches pending jobs to nodes. A pass takes a snapshot of the
// read model, orders the queue (priority, then age), places each job with
// feasibility then ranking, and records the assignments; the dispatcher
// then pushes each to its node. Several schedulers may run against one log:
// the handler's expected revisions let exactly one win each job and keep
// every node within capacity.
type Scheduler struct {
	h    *Handler
	view View
	disp *Dispatcher
	cfg  SchedulerConfig
	log  *slog.Logger
	rng  *rand.Rand
	kick chan struct{}
}

// NewScheduler builds a Scheduler; disp may be nil (assignments are then
// only recorded, as in tests of the scheduler alone).
func NewScheduler(h *Handler, view View, disp *Dispatcher, cfg SchedulerConfig, log *slog.Logger) *Scheduler {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 32
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{h: h, view: view, disp: disp, cfg: cfg, log: log,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), kick: make(chan struct{}, 1)}
}

// Placeable reports whether an event may let a pending job be placed: a
// new or requeued job, a node registering, coming online, being unbanned
// or freeing a slot. Whoever follows the log kicks the schedulers on such
// an event; the fallback tick covers the rest.
func Placeable(e domain.Event) bool {
	switch e.(type) {
	case domain.JobSubmitted, domain.JobRequeued, domain.NodeWentOnline, domain.NodeJobReleased, domain.NodeRegistered, domain.NodeUnbanned:
		return true
	}
	return false
}

// Kick asks for a pass soon; it never blocks.
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run makes passes on every kick and tick until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	runEvery(ctx, s.cfg.Interval, s.kick, func(ctx context.Context) { s.Pass(ctx) })
	return nil
}

// Pass places what it can of the queue and returns how many jobs it
// assigned.
func (s *Scheduler) Pass(ctx context.Context) int {
	policy := domain.NodeLimits{MaxJobsPerNode: s.h.policy.MaxJobsPerNode, MinReputation: s.h.policy.MinReputation}
	candidates := s.view.Candidates()
	free := freeSlots(candidates, policy)
	if free == 0 {
		return 0 // nothing can be placed; do not even look at the queue
	}
	fleet := placement.NewFleet(candidates)

	// Place the whole pass first (placement is sequential and cheap), then
	// record it: one AssignJobs per node, nodes in parallel.
	byNode := map[string][]Placement{}
	var order []string
	for job := range s.queue(&free) {
		if ctx.Err() != nil || free == 0 {
			break
		}
		p, err := fleet.PlaceAvoiding(job.Req, policy, s.rng, s.cfg.Departures.Nodes(job.JobID))
		if err != nil {
			var none *placement.NoPlacement
			if errors.As(err, &none) && !none.Cached {
				s.log.Debug("job waits", "job", job.JobID, "why", err)
			}
			continue
		}
		if s.cfg.Departures.Barred(job.JobID, p.NodeID) {
			continue // only a node that refused it is left: the job waits for another
		}
		fleet.Take(p.Index)
		free--
		if _, ok := byNode[p.NodeID]; !ok {
			order = append(order, p.NodeID)
		}
		byNode[p.NodeID] = append(byNode[p.NodeID], Placement{JobID: job.JobID, Score: p.Score})
	}

	var (
		wg       sync.WaitGroup
		assigned atomic.Int64
		sem      = make(chan struct{}, s.cfg.Parallelism)
	)
	for _, nodeID := range order {
		jobs := byNode[nodeID]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			for i, res := range s.h.AssignJobs(ctx, nodeID, jobs) {
				jobID := jobs[i].JobID
				if res.Err != nil {
					if !errors.Is(res.Err, domain.ErrFailedPrecondition) && !errors.Is(res.Err, domain.ErrResourceExhausted) {
						s.log.Warn("assign", "job", jobID, "node", nodeID, "err", res.Err)
					}
					continue
				}
				assigned.Add(1)
				s.log.Debug("job assigned", "job", jobID, "node", nodeID, "score", jobs[i].Score)
				if s.disp != nil {
					s.disp.Dispatch(ctx, jobID, nodeID)
				}
			}
		}()
	}
	wg.Wait()
	return int(assigned.Load())
}

// queuePage is how many jobs a pass reads from a QueuePages view at a
// time, at least.
const queuePage = 256

// queue yields the view's queue in order until *free (the slots left in
// the pass) is 0: a page at a time from a QueuePages view, else all of it.
func (s *Scheduler) queue(free *int) iter.Seq[domain.QueuedJob] {
	return func(yield func(domain.QueuedJob) bool) {
		pages, ok := s.view.(QueuePages)
		if !ok {
			for _, j := range s.view.PendingJobs() {
				if !yield(j) {
					return
				}
			}
			return
		}
		var last domain.QueuedJob
		for first := true; *free > 0; first = false {
			n := max(queuePage, 4**free)
			page := pages.PendingJobsAfter(last, first, n)
			for _, j := range page {
				if !yield(j) {
					return
				}
			}
			if len(page) < n {
				return
			}
			last = page[len(page)-1]
		}
	}
}

// freeSlots counts the job slots of nodes that could take a job at all.
func freeSlots(nodes []domain.Candidate, p domain.NodeLimits) int {
	free := 0
	for i := range nodes {
		c := &nodes[i]
		if c.Online && !c.Banned && c.Reputation >= p.MinReputation && c.ActiveJobs < p.MaxJobsPerNode {
			free += p.MaxJobsPerNode - c.ActiveJobs
		}
	}
	return free
}

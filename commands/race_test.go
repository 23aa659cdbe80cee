package commands_test

// "Only one wins": many writers race for the same job, the same node or
// the same queue, over real stores (memory, and bolt with fsync on). The
// log, read back after the race, must show every invariant held.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

// 50 goroutines assign one pending job, each to its own online node.
func TestRaceAssignSameJobToManyNodes(t *testing.T) {
	for _, kind := range bothKinds {
		t.Run(kind.name, func(t *testing.T) {
			const racers = 50
			x := newHarness(t, kind, nil)
			nodes := x.registerNodes(racers)
			jobID := x.submit("alice")

			errs := make([]error, racers)
			parallel(racers, func(i int) {
				_, _, errs[i] = x.h.AssignJob(x.ctx, jobID, nodes[i], float64(i))
			})

			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					if winner >= 0 {
						t.Fatalf("nodes %d and %d both won job %s", winner, i, jobID)
					}
					winner = i
				case !errors.Is(err, domain.ErrFailedPrecondition):
					t.Errorf("racer %d: got %v, want an error wrapping ErrFailedPrecondition", i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("nobody won job %s: %v", jobID, errs)
			}

			assigned := only[domain.JobAssigned](x.jobEvents(jobID))
			if len(assigned) != 1 {
				t.Fatalf("job stream has %d JobAssigned, want exactly 1: %v", len(assigned), eventNames(x.jobEvents(jobID)))
			}
			if assigned[0].NodeID != nodes[winner] {
				t.Errorf("JobAssigned names node %s, the winning call was for %s", assigned[0].NodeID, nodes[winner])
			}
			for i, id := range nodes {
				f := x.foldNode(id)
				want := 0
				if i == winner {
					want = 1
				}
				if held := f.reserved[jobID] - f.released[jobID]; held != want {
					t.Errorf("node %d: %d reservations, %d releases of the job: holds %d, want %d",
						i, f.reserved[jobID], f.released[jobID], held, want)
				}
				if len(f.active) != want || f.maxActive > 1 {
					t.Errorf("node %d: active %v (max %d), want %d", i, f.active, f.maxActive, want)
				}
			}
		})
	}
}

// 50 goroutines assign 50 different jobs to one node with 3 slots.
func TestRaceAssignManyJobsToOneNode(t *testing.T) {
	for _, kind := range bothKinds {
		t.Run(kind.name, func(t *testing.T) {
			const racers, slots = 50, 3
			x := newHarness(t, kind, func(p *commands.Policy) { p.MaxJobsPerNode = slots })
			node := x.registerNode(0, true)
			jobs := x.submitMany(racers, "alice")

			errs := make([]error, racers)
			parallel(racers, func(i int) {
				_, _, errs[i] = x.h.AssignJob(x.ctx, jobs[i], node, 1)
			})

			var won []string
			for i, err := range errs {
				var capErr *domain.CapacityError
				switch {
				case err == nil:
					won = append(won, jobs[i])
				case errors.Is(err, domain.ErrResourceExhausted):
					if !errors.As(err, &capErr) || capErr.Max != slots {
						t.Errorf("racer %d: %v is not a CapacityError with Max=%d", i, err, slots)
					}
				case errors.Is(err, domain.ErrFailedPrecondition):
					// The job got taken meanwhile; nobody else assigns here.
					t.Errorf("racer %d: unexpected precondition failure: %v", i, err)
				default:
					t.Errorf("racer %d: got %v, want ErrResourceExhausted", i, err)
				}
			}
			if len(won) != slots {
				t.Fatalf("%d assignments succeeded, want exactly %d", len(won), slots)
			}

			f := x.foldNode(node)
			if f.maxActive > slots {
				t.Errorf("node held %d jobs at once, max is %d", f.maxActive, slots)
			}
			if !sameSet(f.active, won) {
				t.Errorf("node holds %v, the winners were %v", f.active, won)
			}
			for i, j := range jobs {
				n := countOf[domain.JobAssigned](x.jobEvents(j))
				want := 0
				if slices.Contains(won, j) {
					want = 1
				}
				if n != want {
					t.Errorf("job %d: %d JobAssigned, want %d", i, n, want)
				}
			}
		})
	}
}

// Two schedulers over one read model fed by a projections.Runner pass
// concurrently, many times, over 200 pending jobs and 10 nodes of 5 slots.
func TestRaceTwoSchedulers(t *testing.T) {
	const trials = 3 // different seeds, so different placements and interleavings
	for _, kind := range bothKinds {
		for trial := range trials {
			t.Run(fmt.Sprintf("%s/trial-%d", kind.name, trial), func(t *testing.T) {
				raceTwoSchedulers(t, kind, uint64(2*trial+1))
			})
		}
	}
}

func raceTwoSchedulers(t *testing.T, kind storeKind, seed uint64) {
	const numJobs, numNodes, slots = 200, 10, 5
	x := newHarness(t, kind, func(p *commands.Policy) { p.MaxJobsPerNode = slots })
	nodes := x.registerNodes(numNodes)
	jobs := x.submitMany(numJobs, "alice")
	v := x.startView()

	scheds := []*commands.Scheduler{
		commands.NewScheduler(x.h, v, nil, commands.SchedulerConfig{Seed: seed}, x.log),
		commands.NewScheduler(x.h, v, nil, commands.SchedulerConfig{Seed: seed + 1}, x.log),
	}
	// A slot given back after a lost assignment may itself lose every
	// conflict retry (the handler then logs it and leaves it to the
	// reconciler); the timeouts' orphan sweep frees it after the
	// grace period, as in production.
	reconciler := commands.NewTimeouts(x.h, v, commands.TimeoutConfig{}, x.clock.Now, x.log)
	var total atomic.Int64
	quiet, reconciled := 0, 0
	for round := 0; round < 40 && quiet < 3; round++ {
		var n atomic.Int64
		parallel(len(scheds), func(i int) { n.Add(int64(scheds[i].Pass(x.ctx))) })
		total.Add(n.Load())
		v.sync()
		if n.Load() > 0 {
			quiet = 0
			continue
		}
		quiet++
		if total.Load() < numNodes*slots {
			x.clock.Advance(x.policy.ReservationGrace + time.Second)
			reconciler.Check(x.ctx)
			reconciled++
			v.sync()
		}
	}
	if reconciled > 0 {
		t.Logf("the reconciler had to free leaked slots (%d sweeps): see the handler warnings", reconciled)
		t.Log(x.logs.String())
	}

	if got := total.Load(); got != numNodes*slots {
		t.Errorf("schedulers report %d assignments, want the capacity %d", got, numNodes*slots)
	}
	onNode := map[string][]string{}
	assignedJobs := 0
	for i, j := range jobs {
		as := only[domain.JobAssigned](x.jobEvents(j))
		if len(as) > 1 {
			t.Errorf("job %d assigned %d times: %+v", i, len(as), as)
		}
		if len(as) == 1 {
			assignedJobs++
			onNode[as[0].NodeID] = append(onNode[as[0].NodeID], j)
		}
	}
	if assignedJobs != numNodes*slots {
		t.Errorf("%d jobs have a JobAssigned, want %d", assignedJobs, numNodes*slots)
	}
	for i, id := range nodes {
		f := x.foldNode(id)
		if f.maxActive > slots {
			t.Errorf("node %d held %d jobs at once, max is %d", i, f.maxActive, slots)
		}
		if !sameSet(f.active, onNode[id]) {
			t.Errorf("node %d holds %v, but the jobs assigned to it are %v (leaked or missing slots)", i, f.active, onNode[id])
		}
	}
}

// Duplicate reports and retries: exactly one of them records anything.
func TestRaceDuplicateReports(t *testing.T) {
	const racers = 20
	for _, kind := range bothKinds {
		t.Run(kind.name, func(t *testing.T) {
			x := newHarness(t, kind, nil)
			node := x.registerNode(0, true)

			t.Run("CompleteJob", func(t *testing.T) {
				job := x.submit("alice")
				x.assign(job, node)
				if _, _, err := x.h.AcceptJob(x.ctx, job, node); err != nil {
					t.Fatal(err)
				}
				errs := make([]error, racers)
				parallel(racers, func(i int) {
					_, _, errs[i] = x.h.CompleteJob(x.ctx, job, node, domain.JobResult{ModelWeightsURI: "s3://out", ComputeTimeMs: 1000})
				})
				endedOnce[domain.JobCompleted](t, x, job, node, "report", errs)
			})

			t.Run("CancelJob", func(t *testing.T) {
				job := x.submit("alice")
				x.assign(job, node)
				errs := make([]error, racers)
				parallel(racers, func(i int) {
					_, _, errs[i] = x.h.CancelJob(x.ctx, job, "alice", "changed my mind")
				})
				endedOnce[domain.JobCancelled](t, x, job, node, "cancel", errs)
			})

			t.Run("SubmitJob same spec", func(t *testing.T) {
				id := "8a4b0c55-5e1f-4a51-9b77-3f0e8f6c2a10"
				type out struct {
					job     *domain.Job
					created bool
					err     error
				}
				res := make([]out, racers)
				parallel(racers, func(i int) {
					j, created, _, err := x.h.SubmitJob(x.ctx, commands.SubmitJob{JobID: id, Owner: "alice", Spec: jobSpec()})
					res[i] = out{j, created, err}
				})
				created := 0
				for i, r := range res {
					if r.err != nil {
						t.Fatalf("submit %d: %v", i, r.err)
					}
					if r.created {
						created++
					}
					if r.job.ID() != id || r.job.Owner() != "alice" || r.job.Status() != domain.JobStatusPending {
						t.Errorf("submit %d returned job %s of %s, %s", i, r.job.ID(), r.job.Owner(), r.job.Status())
					}
					if !sameSpec(r.job.Spec(), jobSpec()) {
						t.Errorf("submit %d returned spec %+v", i, r.job.Spec())
					}
				}
				if created != 1 {
					t.Errorf("%d calls report created, want 1", created)
				}
				evs := x.jobEvents(id)
				if len(evs) != 1 || countOf[domain.JobSubmitted](evs) != 1 {
					t.Errorf("stream holds %v, want one JobSubmitted", eventNames(evs))
				}
			})

			t.Run("SubmitJob different spec", func(t *testing.T) {
				id := "0d7c9e7e-9d8a-4a51-8f0e-6c2a103f0e8f"
				specs := [2]domain.JobSpec{jobSpec(), jobSpec()}
				specs[1].Epochs = 99
				errs := make([]error, racers)
				parallel(racers, func(i int) {
					_, _, _, errs[i] = x.h.SubmitJob(x.ctx, commands.SubmitJob{JobID: id, Owner: "alice", Spec: specs[i%2]})
				})
				stored := x.job(id).Spec()
				winner := 0
				if stored.Epochs == 99 {
					winner = 1
				}
				for i, err := range errs {
					if i%2 == winner && err != nil {
						t.Errorf("submit %d with the stored spec: %v", i, err)
					}
					if i%2 != winner && !errors.Is(err, domain.ErrAlreadyExists) {
						t.Errorf("submit %d with another spec: got %v, want ErrAlreadyExists", i, err)
					}
				}
				if evs := x.jobEvents(id); len(evs) != 1 {
					t.Errorf("stream holds %v, want one JobSubmitted", eventNames(evs))
				}
				// Another owner with the same spec is refused too.
				_, _, _, err := x.h.SubmitJob(x.ctx, commands.SubmitJob{JobID: id, Owner: "mallory", Spec: stored})
				if !errors.Is(err, domain.ErrAlreadyExists) {
					t.Errorf("same id, other owner: got %v, want ErrAlreadyExists", err)
				}
			})
		})
	}
}

// Concurrent progress reports from the assigned node: the same report
// sent many times records one JobStarted and one JobProgressed.
func TestRaceDuplicateProgress(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	node := x.registerNode(0, true)
	job := x.submit("alice")
	x.assign(job, node)
	var mu sync.Mutex
	var errs []error
	parallel(20, func(int) {
		_, _, err := x.h.ReportProgress(x.ctx, job, node, domain.Progress{Fraction: 0.25, Epoch: 1, Metrics: map[string]float64{"loss": 0.5}})
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	if len(errs) > 0 {
		t.Fatalf("progress reports failed: %v", errs)
	}
	evs := x.jobEvents(job)
	if countOf[domain.JobStarted](evs) != 1 || countOf[domain.JobProgressed](evs) != 1 {
		t.Errorf("stream %v: want exactly one JobStarted and one JobProgressed", eventNames(evs))
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func sameSpec(a, b domain.JobSpec) bool {
	norm := func(s domain.JobSpec) domain.JobSpec {
		if len(s.Hyperparameters) == 0 {
			s.Hyperparameters = nil
		}
		if len(s.InitialData) == 0 {
			s.InitialData = nil
		}
		return s
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// endedOnce checks a race of racers ending job on node: every racer
// succeeded (a duplicate is a no-op), the log holds one E, and the node's
// slot was released once and is no longer held.
func endedOnce[E domain.Event](t *testing.T, x *harness, job, node, what string, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s %d: %v (a duplicate should be a no-op)", what, i, err)
		}
	}
	evs := x.jobEvents(job)
	if n := countOf[E](evs); n != 1 {
		var e E
		t.Errorf("%d %s, want 1: %v", n, e.EventName(), eventNames(evs))
	}
	f := x.foldNode(node)
	if f.released[job] != 1 || slices.Contains(f.active, job) {
		t.Errorf("slot released %d times; still held: %v", f.released[job], slices.Contains(f.active, job))
	}
}

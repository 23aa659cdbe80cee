package commands_test

import (
	"math"
	"testing"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

// Reputation moves once per job outcome, with the slot's release, however
// often (and however concurrently) the outcome is reported. The settlement
// itself is proven against the real test chain in cmd/cyxwiz-central.
func TestOutcomeReputationOnce(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fail  bool
		delta func(commands.Policy) float64
	}{
		{"completion", false, func(p commands.Policy) float64 { return p.RewardSuccess }},
		{"failure", true, func(p commands.Policy) float64 { return -p.PenaltyFailure }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := newHarness(t, memoryKind, func(p *commands.Policy) { p.RewardSuccess, p.PenaltyFailure = 0.1, 0.2 })
			node := x.registerNode(0, true)
			job := x.submit("alice")
			x.assign(job, node)
			parallel(8, func(int) {
				var err error
				if tt.fail {
					_, _, err = x.h.FailJob(x.ctx, job, node, "boom")
				} else {
					_, _, err = x.h.CompleteJob(x.ctx, job, node, domain.JobResult{})
				}
				if err != nil {
					t.Errorf("report: %v", err)
				}
			})
			n := x.node(node)
			if want := domain.InitialReputation + tt.delta(x.policy); math.Abs(n.Reputation()-want) > 1e-9 {
				t.Fatalf("reputation %v after 8 reports, want %v", n.Reputation(), want)
			}
			if n.Holds(job) {
				t.Fatal("the node still holds the job's slot")
			}
			adjusted := 0
			for _, e := range x.nodeEvents(node) {
				if _, ok := e.(domain.ReputationAdjusted); ok {
					adjusted++
				}
			}
			if adjusted != 1 {
				t.Fatalf("%d ReputationAdjusted events, want 1", adjusted)
			}
		})
	}
}

// A crash between JobCompleted and the slot's release: the reconciler's
// release brings the reputation change with it.
func TestOrphanReleaseCarriesTheOutcome(t *testing.T) {
	x := newHarness(t, memoryKind, func(p *commands.Policy) { p.RewardSuccess = 0.1 })
	node := x.registerNode(0, true)
	job := x.submit("alice")
	x.assign(job, node)
	j := x.job(job)
	x.appendRaw(domain.JobStream(job), domain.JobCompleted{JobID: job, NodeID: node, At: j.AssignedAt()}) // no release
	released, err := x.h.ReleaseOrphanSlot(x.ctx, node, job)
	if err != nil || !released {
		t.Fatalf("ReleaseOrphanSlot = %v, %v", released, err)
	}
	if got, want := x.node(node).Reputation(), domain.InitialReputation+0.1; math.Abs(got-want) > 1e-9 {
		t.Fatalf("reputation %v, want %v", got, want)
	}
	if _, err := x.h.ReleaseOrphanSlot(x.ctx, node, job); err != nil {
		t.Fatal(err)
	}
	if got, want := x.node(node).Reputation(), domain.InitialReputation+0.1; math.Abs(got-want) > 1e-9 {
		t.Fatalf("a second release moved reputation to %v", got)
	}
}

// Without a chain a paid job's payment is recorded as skipped, once.
func TestPaymentSkippedWithoutChain(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	job := x.submit("alice")
	p, err := x.h.LoadPayment(x.ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status() != domain.PaymentStatusSkipped || p.SkipReason() != commands.ChainDisabledReason {
		t.Fatalf("payment %s (%q), want skipped", p.Status(), p.SkipReason())
	}
	if evs := x.events(domain.PaymentStream(job)); len(evs) != 1 {
		t.Fatalf("payment stream has %d events, want 1", len(evs))
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/nodesim"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

// jobHistory is what the log says about one job, in order.
type jobHistory struct {
	events    []string // event types
	rejectors []string // nodes that refused it with the simulated reason
	requeues  int
	final     string // JobCompleted, JobFailed, JobCancelled ("" while running)
	finalNode string
	reason    string // JobFailed's reason
}

// eventFields are the payload fields the test reads.
type eventFields struct {
	NodeID string `json:"node_id"`
	Reason string `json:"reason"`
}

// TestFleetSimulator runs the fleet simulator (adapters/nodesim's Fleet,
// which cmd/cyxwiz-node-sim wraps) against the real embedded-default
// server over loopback gRPC: 20 nodes with cycled devices, regions and
// prices; 200 jobs. Nodes refuse 10% of first pushes (the server records
// JobRejected and requeues the job, up to scheduler.max_retries) and
// report failure for 10% of the jobs they run (terminal JobFailed). It
// checks, from the event log and the public API:
//   - every job reaches a terminal state (completed or failed);
//   - the log and the nodes agree: completions, failure reports and
//     refusals counted on both sides are equal;
//   - the failure rate per attempt run and the refusal rate per first
//     push are within bounds of the configured 10%;
//   - every terminally failed job either got the node's failure report or
//     spent exactly max_retries requeues;
//   - every requeued job finished on a node other than the ones that
//     refused it, and some of them completed there.
func TestFleetSimulator(t *testing.T) {
	const (
		nodes, jobs    = 20, 200
		failP, rejectP = 0.1, 0.1
	)
	a := startBenchApp(t, func(c *config.Config) { c.Scheduler.PollingIntervalMS = 20 })
	cuda24, _ := nodesim.ParseDevice("cuda:24", 24)
	cuda80, _ := nodesim.ParseDevice("cuda:80", 24)
	fleet, err := nodesim.StartFleet(context.Background(), nodesim.FleetConfig{
		Count: nodes, Seed: 42,
		Template: nodesim.Config{Conn: a.conns[0], OwnerToken: a.token("fleet-owner"),
			TrainDuration: 20 * time.Millisecond, ProgressReports: 2, HeartbeatInterval: 200 * time.Millisecond,
			FailureProbability: failP, RejectProbability: rejectP},
		Devices: []*pb.DeviceCaps{cuda24, cuda80},
		Regions: []string{"eu-west", "us-east", "ap-south"},
		Prices:  []float64{1.5, 2, 3.25},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	byID := map[string]int{}
	for i, n := range fleet.Nodes() {
		byID[n.ID()] = i
	}

	start := time.Now()
	ids := make([]string, jobs)
	var wg sync.WaitGroup
	for g := range len(a.conns) {
		wg.Go(func() {
			tok := a.token(fmt.Sprintf("user-%d", g))
			for i := g; i < jobs; i += len(a.conns) {
				resp, err := a.jobs(g).SubmitJob(as(tok), &pb.SubmitJobRequest{Config: benchJob("")})
				if err != nil {
					t.Errorf("SubmitJob: %v", err)
					return
				}
				ids[i] = resp.GetJobId()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Follow the log until every job is terminal.
	hist := map[string]*jobHistory{}
	var after uint64
	terminal := 0
	read := func() {
		for {
			recs, err := a.app.store.ReadAll(context.Background(), after, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				return
			}
			for _, r := range recs {
				after = r.Position
				id, ok := strings.CutPrefix(r.Stream, "job-")
				if !ok {
					continue
				}
				h := hist[id]
				if h == nil {
					h = &jobHistory{}
					hist[id] = h
				}
				var f eventFields
				if err := json.Unmarshal(r.Data, &f); err != nil {
					t.Fatalf("%s %s: %v", r.Stream, r.Type, err)
				}
				h.events = append(h.events, r.Type)
				switch r.Type {
				case "JobRejected":
					if strings.Contains(f.Reason, nodesim.RejectReason) {
						h.rejectors = append(h.rejectors, f.NodeID)
					}
				case "JobRequeued":
					h.requeues++
				case "JobCompleted", "JobFailed", "JobCancelled":
					if h.final != "" {
						t.Errorf("job %s: %s after the terminal %s", id, r.Type, h.final)
					}
					h.final, h.finalNode, h.reason = r.Type, f.NodeID, f.Reason
					terminal++
				}
			}
		}
	}
	eventually(t, 60*time.Second, "every job terminal", func() bool { read(); return terminal == jobs })
	elapsed := time.Since(start)

	var completed, nodeFailed, exhausted, rejections, requeued, requeuedCompleted int
	used := map[string]bool{}
	for _, id := range ids {
		h := hist[id]
		if h == nil {
			t.Fatalf("job %s is not in the log", id)
		}
		rejections += len(h.rejectors)
		used[h.finalNode] = true
		switch {
		case h.final == "JobCompleted":
			completed++
		case h.final == "JobFailed" && h.reason == nodesim.FailureMessage:
			nodeFailed++
		case h.final == "JobFailed" && strings.HasPrefix(h.reason, "retries exhausted"):
			exhausted++
			if h.requeues != a.app.cfg.Scheduler.MaxRetries {
				t.Errorf("job %s failed with retries exhausted after %d requeues, want max_retries = %d", id, h.requeues, a.app.cfg.Scheduler.MaxRetries)
			}
		default:
			t.Errorf("job %s ended %s (%q) on %s: %v", id, h.final, h.reason, h.finalNode, h.events)
		}
		if h.final == "JobCompleted" || h.reason == nodesim.FailureMessage {
			if _, ok := byID[h.finalNode]; !ok {
				t.Errorf("job %s ended on %q, not a fleet node", id, h.finalNode)
			}
		}
		if len(h.rejectors) > 0 && h.requeues > 0 {
			requeued++
			// A job out of retries ends on the node that refused it last:
			// only a job that ran somewhere must have run elsewhere.
			for _, x := range h.rejectors {
				if x == h.finalNode && !strings.HasPrefix(h.reason, "retries exhausted") {
					t.Errorf("job %s was refused by node %s, requeued, and then ended there: %v", id, x, h.events)
				}
			}
			if h.final == "JobCompleted" {
				requeuedCompleted++
			}
		}
	}
	if t.Failed() {
		return
	}
	// The nodes and the log agree. A node counts a report once the server
	// acknowledged it, after the log has it: wait for the counters to catch up.
	var st nodesim.Stats
	deadline := time.Now().Add(5 * time.Second)
	for {
		st = fleet.Stats()
		if (int(st.Completed) == completed && int(st.Failed) == nodeFailed) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if int(st.Completed) != completed || int(st.Failed) != nodeFailed || int(st.Rejected) != rejections || st.Refused != 0 || st.Cancelled != 0 {
		t.Fatalf("nodes say %+v; the log says %d completed, %d failure reports, %d refusals", st, completed, nodeFailed, rejections)
	}
	// Every job the nodes ran ended with a report: accepted = attempts run.
	attempts := completed + nodeFailed
	if int(st.Accepted) != attempts {
		t.Fatalf("%d jobs accepted by nodes, %d ended with a report", st.Accepted, attempts)
	}
	// Failure reports per attempt run: Binomial(~200, 0.1), mean ~20, sd ~4.2.
	if nodeFailed < 5 || nodeFailed > 40 {
		t.Errorf("%d failure reports in %d attempts, with p=%.2f", nodeFailed, attempts, failP)
	}
	// Refusals per first push of a job to a node: Binomial(~220, 0.1), mean ~22, sd ~4.5.
	if rejections < 5 || rejections > 45 {
		t.Errorf("%d refusals in %d first pushes, with p=%.2f", rejections, attempts+rejections, rejectP)
	}
	if requeued == 0 || requeuedCompleted == 0 {
		t.Errorf("%d jobs were requeued after a refusal, %d of them completed elsewhere; want some of each", requeued, requeuedCompleted)
	}
	if completed+nodeFailed+exhausted != jobs {
		t.Errorf("%d completed + %d failed by the node + %d out of retries ≠ %d jobs", completed, nodeFailed, exhausted, jobs)
	}
	if len(used) < nodes/2 {
		t.Errorf("jobs ended on %d of %d nodes", len(used), nodes)
	}
	// The public API shows the same terminal states.
	alice := a.token("user-0")
	for i := 0; i < jobs; i += len(a.conns) {
		resp, err := a.jobs(0).GetJobStatus(as(alice), &pb.GetJobStatusRequest{JobId: ids[i]})
		if err != nil {
			t.Fatalf("GetJobStatus: %v", err)
		}
		want := map[string]pb.StatusCode{"JobCompleted": pb.StatusCode_STATUS_COMPLETED, "JobFailed": pb.StatusCode_STATUS_FAILED}[hist[ids[i]].final]
		if got := resp.GetStatus().GetStatus(); got != want {
			t.Errorf("job %s: GetJobStatus says %v, the log %s", ids[i], got, hist[ids[i]].final)
		}
	}
	t.Logf("%d jobs on %d nodes in %s: %d completed, %d failed by the node (of %d attempts run), %d out of retries; "+
		"%d refusals, %d jobs requeued after a refusal (%d completed elsewhere)",
		jobs, len(used), elapsed.Round(time.Millisecond), completed, nodeFailed, attempts, exhausted, rejections, requeued, requeuedCompleted)
}

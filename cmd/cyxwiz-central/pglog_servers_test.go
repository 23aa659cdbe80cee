package main

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// startServerProcess runs `cyxwiz-central serve` as a separate OS process
// with env and returns a client of its gRPC address; the process is
// killed with SIGKILL when the test ends. logs returns its output so far.
func startServerProcess(t *testing.T, env []string) (s *testServer, logs func() string) {
	t.Helper()
	cmd, addr, logs := serveProcess(t, env, 60*time.Second)
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &testServer{t: t, conn: conn, iss: auth.NewIssuer([]byte(testSecret), nil)}, logs
}

// TestTwoServerProcessesShareThePostgresLog: two server processes (OS
// processes, backend = "postgres", one schema) race to assign the same
// queued jobs to one node of capacity 2, while the test completes each
// job it receives through either server. Checked from the log, folded in
// position order: no job is assigned while already assigned, and the node
// never holds more than 2 jobs, by its own stream or by the jobs'. (With
// append_events' expected-revision check disabled, this test fails: the
// node ends up holding 3 jobs.)
func TestTwoServerProcessesShareThePostgresLog(t *testing.T) {
	const jobs, capacity = 24, 2
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	env := func(dir string) []string {
		return []string{
			"CYXWIZ_EVENTSTORE_BACKEND=postgres", "CYXWIZ_EVENTSTORE_POSTGRES_URL=" + url,
			"CYXWIZ_EVENTSTORE_POSTGRES_SCHEMA=" + schema, "CYXWIZ_EVENTSTORE_DATA_DIR=" + dir,
			"CYXWIZ_JWT_SECRET=" + testSecret, "CYXWIZ_DATABASE_URL=", "CYXWIZ_REDIS_URL=",
			"CYXWIZ_SERVER_GRPC_ADDRESS=127.0.0.1:0", "CYXWIZ_SERVER_REST_ADDRESS=127.0.0.1:0",
			"CYXWIZ_SCHEDULER_POLLING_INTERVAL_MS=20", fmt.Sprintf("CYXWIZ_SCHEDULER_MAX_JOBS_PER_NODE=%d", capacity),
			"CYXWIZ_SCHEDULER_DISPATCH_ATTEMPTS=1", "CYXWIZ_SCHEDULER_DISPATCH_BACKOFF_MS=10", "CYXWIZ_LOG=debug",
		}
	}
	s0, logs0 := startServerProcess(t, env(t.TempDir()))
	s1, logs1 := startServerProcess(t, env(t.TempDir()))
	servers := []*testServer{s0, s1}
	alice := servers[1].userToken("alice")
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = servers[i%2].submit(alice, trainingJob())
	}
	// The node appears with the queue full: both servers see it at once.
	node := startNode(t, servers[0], "ops", "shared", pb.DeviceType_DEVICE_CUDA, 24<<30)
	node.keepAlive(time.Second)
	// Both servers hear from the node, so both hold it online.
	other := &testNode{t: t, srv: servers[1], id: node.id, session: node.session}
	other.keepAlive(time.Second)

	// Complete what the node receives, both slots at once, each through
	// another server, so both servers see slots free up together.
	completed := map[string]bool{}
	deadline := time.Now().Add(120 * time.Second)
	for len(completed) < jobs {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs completed within 120s", len(completed), jobs)
		}
		var batch []string
		select {
		case req := <-node.assigned:
			batch = append(batch, req.GetJob().GetJobId())
		case <-time.After(time.Second):
			continue
		}
		for more := true; more; {
			select {
			case req := <-node.assigned:
				batch = append(batch, req.GetJob().GetJobId())
			case <-time.After(50 * time.Millisecond):
				more = false
			}
		}
		var wg sync.WaitGroup
		for i, id := range batch {
			if completed[id] {
				continue
			}
			completed[id] = true
			via := servers[i%2]
			wg.Go(func() {
				deadline := time.Now().Add(30 * time.Second)
				for {
					_, err := via.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: id,
						FinalStatus: pb.StatusCode_STATUS_SUCCESS})
					if err == nil {
						return
					}
					if time.Now().After(deadline) {
						t.Errorf("result of %s not taken within 30s: %v", id, err)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
	for _, s := range servers {
		eventually(t, 30*time.Second, "both servers to see every job completed", func() bool {
			for _, id := range ids {
				if s.jobStatus(alice, id).GetStatus().GetStatus() != pb.StatusCode_STATUS_COMPLETED {
					return false
				}
			}
			return true
		})
	}
	checkAssignmentsFromLog(t, url, schema, capacity)
	for i, logs := range []func() string{logs0, logs1} {
		t.Logf("server %d assigned %d jobs", i, strings.Count(logs(), `"job assigned"`))
	}
}

// checkAssignmentsFromLog folds the whole log in position order and fails
// at the first job assigned while assigned, or node over capacity
// (foldLog), or when a job was never assigned.
func checkAssignmentsFromLog(t *testing.T, url, schema string, capacity int) {
	t.Helper()
	rep := foldLog(t, url, schema, capacity)
	if rep.assignments < rep.jobs {
		t.Fatalf("%d assignments in the log for %d jobs", rep.assignments, rep.jobs)
	}
	t.Logf("%d events, %d assignments of %d jobs; no double assignment, capacity held", rep.events, rep.assignments, rep.jobs)
}

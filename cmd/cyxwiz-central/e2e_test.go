package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/domain"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestLifecycle runs a job end to end over loopback gRPC: register →
// heartbeat → submit → pushed assignment → accept → progress → result →
// completed, with StreamJobUpdates seeing each step.
func TestLifecycle(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	alice := s.userToken("alice")

	// Submitted before any node exists, so the stream opens on a pending job.
	jobID := s.submit(alice, trainingJob())
	stream, err := s.jobs().StreamJobUpdates(as(alice), &pb.GetJobStatusRequest{JobId: jobID})
	if err != nil {
		t.Fatal(err)
	}
	updates := make(chan *pb.JobUpdateStream, 64)
	go func() {
		defer close(updates)
		for {
			u, err := stream.Recv()
			if err != nil {
				if err != io.EOF {
					t.Logf("stream ended: %v", err)
				}
				return
			}
			updates <- u
		}
	}()

	first := <-updates
	if first.GetStatus().GetStatus() != pb.StatusCode_STATUS_PENDING {
		t.Fatalf("first update %v, want the pending job", first.GetStatus())
	}
	node := startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	node.heartbeat()
	assign := node.waitAssignment(5 * time.Second)
	if assign.GetJob().GetJobId() != jobID || assign.GetNodeId() != node.id {
		t.Fatalf("assignment %+v, want job %s on node %s", assign, jobID, node.id)
	}
	if assign.GetAuthorizationToken() == "" {
		t.Fatal("the pushed assignment carries no P2P token")
	}
	eventually(t, 5*time.Second, "job accepted", func() bool {
		return s.jobStatus(alice, jobID).GetStatus().GetStatus() == pb.StatusCode_STATUS_IN_PROGRESS
	})
	st := s.jobStatus(alice, jobID)
	na := st.GetNodeAssignment()
	if na.GetNodeId() != node.id || na.GetAuthToken() != assign.GetAuthorizationToken() || !strings.HasPrefix(na.GetNodeEndpoint(), "127.0.0.1:") {
		t.Fatalf("node assignment %+v does not match what the node got", na)
	}
	if _, _, _, err := s.iss.VerifyP2P(na.GetAuthToken()); err != nil {
		t.Fatalf("P2P token: %v", err)
	}

	if _, err := s.nodes().NotifyJobAccepted(as(node.session), &pb.JobAcceptedRequest{NodeId: node.id, JobId: jobID}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []float64{0.25, 0.5, 0.5} { // the duplicate records nothing
		resp, err := s.status().UpdateJobStatus(as(node.session), &pb.UpdateJobStatusRequest{
			NodeId: node.id, JobId: jobID, Status: pb.StatusCode_STATUS_IN_PROGRESS, Progress: p, CurrentEpoch: 1,
			Metrics: map[string]float64{"loss": 1 - p},
		})
		if err != nil || !resp.GetShouldContinue() {
			t.Fatalf("UpdateJobStatus(%v) = %v, %v", p, resp, err)
		}
	}
	if _, err := s.nodes().ReportProgress(as(node.session), &pb.ReportProgressRequest{NodeId: node.id, JobId: jobID,
		Status: &pb.JobStatus{JobId: jobID, Status: pb.StatusCode_STATUS_IN_PROGRESS, Progress: 0.75, CurrentEpoch: 2}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: jobID,
		FinalStatus: pb.StatusCode_STATUS_SUCCESS, FinalMetrics: map[string]float64{"accuracy": 0.91},
		ModelWeightsUri: "s3://out/w.bin", ModelWeightsHash: "abc", TotalComputeTime: 1500})
	if err != nil || res.GetStatus() != pb.StatusCode_STATUS_SUCCESS {
		t.Fatalf("ReportJobResult = %v, %v", res, err)
	}
	// A duplicate result is answered the same and records nothing.
	if _, err := s.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: jobID,
		FinalStatus: pb.StatusCode_STATUS_COMPLETED}); err != nil {
		t.Fatalf("duplicate result: %v", err)
	}

	seen := []string{first.GetStatus().GetStatus().String()}
	var progress []float64
	for u := range updates {
		seen = append(seen, u.GetStatus().GetStatus().String())
		progress = append(progress, u.GetStatus().GetProgress())
	}
	joined := strings.Join(seen, ",")
	if !strings.HasPrefix(joined, "STATUS_PENDING,STATUS_IN_PROGRESS") || !strings.HasSuffix(joined, "STATUS_COMPLETED") {
		t.Fatalf("stream saw %s", joined)
	}
	for _, want := range []float64{0.25, 0.5, 0.75} {
		found := false
		for _, p := range progress {
			found = found || p == want
		}
		if !found {
			t.Errorf("stream never showed progress %v (saw %v)", want, progress)
		}
	}
	final := s.jobStatus(alice, jobID).GetStatus()
	if final.GetStatus() != pb.StatusCode_STATUS_COMPLETED || final.GetProgress() != 1 || final.GetEndTime() == 0 || final.GetMetrics()["accuracy"] != 0.91 {
		t.Fatalf("final status %+v", final)
	}
	list, err := s.jobs().ListJobs(as(alice), &pb.ListJobsRequest{FilterStatus: pb.StatusCode_STATUS_COMPLETED})
	if err != nil || list.GetTotalCount() != 1 || list.GetJobs()[0].GetJobId() != jobID {
		t.Fatalf("ListJobs = %v, %v", list, err)
	}
	info, err := s.discovery().GetNodeInfo(as(s.userToken("ops")), &pb.GetNodeInfoRequest{NodeId: node.id})
	if err != nil || info.GetInfo().GetTotalJobsCompleted() != 1 || !info.GetInfo().GetIsOnline() || info.GetInfo().GetIpAddress() != "127.0.0.1" ||
		info.GetInfo().GetUptimePercentage() <= 0 || info.GetInfo().GetUptimePercentage() > 100 {
		t.Fatalf("GetNodeInfo for the owner = %v, %v", info, err)
	}
	public, err := s.discovery().GetNodeInfo(as(alice), &pb.GetNodeInfoRequest{NodeId: node.id})
	if err != nil || public.GetInfo().GetIpAddress() != "" || public.GetInfo().GetWalletAddress() != "" {
		t.Fatalf("GetNodeInfo for a stranger shows private fields: %v, %v", public, err)
	}
}

// TestCancel: the owner cancels a running job; the node learns it from its
// heartbeat and its progress reports.
func TestCancel(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	node := startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	alice := s.userToken("alice")
	jobID := s.submit(alice, trainingJob())
	node.waitAssignment(5 * time.Second)
	eventually(t, 5*time.Second, "assignment accepted", func() bool {
		return s.jobStatus(alice, jobID).GetStatus().GetStatus() == pb.StatusCode_STATUS_IN_PROGRESS
	})

	if _, err := s.jobs().CancelJob(as(s.userToken("mallory")), &pb.CancelJobRequest{JobId: jobID}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a stranger's cancel: %v", err)
	}
	for range 2 { // a duplicate cancel answers the same
		resp, err := s.jobs().CancelJob(as(alice), &pb.CancelJobRequest{JobId: jobID, Reason: "changed my mind"})
		if err != nil || resp.GetStatus() != pb.StatusCode_STATUS_SUCCESS || resp.GetRefundIssued() {
			t.Fatalf("CancelJob = %v, %v (no escrow with the chain disabled: no refund)", resp, err)
		}
	}
	if st := s.jobStatus(alice, jobID).GetStatus(); st.GetStatus() != pb.StatusCode_STATUS_CANCELLED || st.GetError().GetMessage() != "changed my mind" {
		t.Fatalf("status after cancel: %+v", st)
	}
	if hb := node.heartbeat(jobID); len(hb.GetJobsToCancel()) != 1 || hb.GetJobsToCancel()[0] != jobID {
		t.Fatalf("heartbeat jobs_to_cancel = %v", hb.GetJobsToCancel())
	}
	resp, err := s.nodes().ReportProgress(as(node.session), &pb.ReportProgressRequest{NodeId: node.id, JobId: jobID,
		Status: &pb.JobStatus{Status: pb.StatusCode_STATUS_IN_PROGRESS, Progress: 0.5}})
	if err != nil || resp.GetContinueJob() {
		t.Fatalf("progress after cancel = %v, %v; want continue_job=false", resp, err)
	}
	if _, err := s.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: jobID,
		FinalStatus: pb.StatusCode_STATUS_SUCCESS}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a result for a cancelled job: %v, want FailedPrecondition", err)
	}
	// Deleting hides it; the log keeps it.
	if _, err := s.jobs().DeleteJob(as(alice), &pb.DeleteJobRequest{JobId: jobID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.jobs().GetJobStatus(as(alice), &pb.GetJobStatusRequest{JobId: jobID}); status.Code(err) != codes.NotFound {
		t.Fatalf("deleted job: %v, want NotFound", err)
	}
	// The node's slot is free again: a second job is placed there.
	job2 := s.submit(alice, trainingJob())
	if got := node.waitAssignment(5 * time.Second).GetJob().GetJobId(); got != job2 {
		t.Fatalf("second assignment for %s, want %s", got, job2)
	}
}

// TestOfflineNodeJobMovesElsewhere: a node that stops heartbeating goes
// offline, its job is requeued and placed on another node, and it loses
// reputation.
func TestOfflineNodeJobMovesElsewhere(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{HeartbeatTimeout: 400 * time.Millisecond})
	ops := s.userToken("ops")
	a := startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	silence := a.keepAlive(100 * time.Millisecond)
	alice := s.userToken("alice")
	jobID := s.submit(alice, trainingJob())
	a.waitAssignment(5 * time.Second)
	eventually(t, 5*time.Second, "accepted on alpha", func() bool {
		return s.jobStatus(alice, jobID).GetStatus().GetCurrentNodeId() == a.id
	})
	silence() // from here on alpha never heartbeats
	b := startNode(t, s, "ops", "beta", pb.DeviceType_DEVICE_CUDA, 24<<30)
	b.keepAlive(100 * time.Millisecond)
	got := b.waitAssignment(5 * time.Second)
	if got.GetJob().GetJobId() != jobID {
		t.Fatalf("beta got %s, want %s", got.GetJob().GetJobId(), jobID)
	}
	eventually(t, 5*time.Second, "job on beta", func() bool {
		return s.jobStatus(alice, jobID).GetStatus().GetCurrentNodeId() == b.id
	})
	eventually(t, 5*time.Second, "alpha offline with less reputation", func() bool {
		info, err := s.discovery().GetNodeInfo(as(ops), &pb.GetNodeInfoRequest{NodeId: a.id})
		return err == nil && !info.GetInfo().GetIsOnline() && info.GetInfo().GetReputationScore() < 0.5
	})
	// alpha heartbeats again: it is online, and its stale job is cancelled.
	if hb := a.heartbeat(jobID); len(hb.GetJobsToCancel()) != 1 {
		t.Fatalf("alpha's stale job not cancelled: %v", hb.GetJobsToCancel())
	}
	eventually(t, 2*time.Second, "alpha online again", func() bool {
		info, err := s.discovery().GetNodeInfo(as(ops), &pb.GetNodeInfoRequest{NodeId: a.id})
		return err == nil && info.GetInfo().GetIsOnline()
	})
}

// TestRunTimeout: a job that runs past its time limit is requeued, and
// fails once its retries are spent.
func TestRunTimeout(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{RunTimeout: 300 * time.Millisecond}, func(c *config.Config) {
		c.Scheduler.MaxRetries = 1
	})
	node := startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	node.keepAlive(100 * time.Millisecond)
	alice := s.userToken("alice")
	jobID := s.submit(alice, trainingJob())
	node.waitAssignment(5 * time.Second) // first attempt: times out
	node.waitAssignment(5 * time.Second) // requeued, second attempt: times out too
	eventually(t, 5*time.Second, "job failed after its retry", func() bool {
		return s.jobStatus(alice, jobID).GetStatus().GetStatus() == pb.StatusCode_STATUS_FAILED
	})
	if msg := s.jobStatus(alice, jobID).GetStatus().GetError().GetMessage(); !strings.Contains(msg, "timed out") {
		t.Fatalf("failure reason %q does not say it timed out", msg)
	}
}

// TestRejectedAssignmentRequeues: a node that declines costs reputation;
// another node gets the job.
func TestRejectedAssignmentRequeues(t *testing.T) {
	// Retries enough that the job outlives picky's refusals until willing
	// registers; each refusal lowers picky's score below willing's.
	s := startServer(t, t.TempDir(), Settings{}, func(c *config.Config) { c.Scheduler.MaxRetries = 100 })
	picky := startNode(t, s, "ops", "picky", pb.DeviceType_DEVICE_CUDA, 24<<30)
	picky.setAccept(false, "busy with a local job")
	picky.keepAlive(100 * time.Millisecond)
	alice := s.userToken("alice")
	jobID := s.submit(alice, trainingJob())
	picky.waitAssignment(5 * time.Second)
	willing := startNode(t, s, "ops", "willing", pb.DeviceType_DEVICE_CUDA, 24<<30)
	willing.keepAlive(100 * time.Millisecond)
	eventually(t, 10*time.Second, "job on the willing node", func() bool {
		return s.jobStatus(alice, jobID).GetStatus().GetCurrentNodeId() == willing.id
	})
}

// TestRestart: after a stop and a start on the same data dir, every job,
// node and status is as before.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, Settings{})
	node, alice, done := s.jobOnNode(t)
	if _, err := s.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: done,
		FinalStatus: pb.StatusCode_STATUS_SUCCESS}); err != nil {
		t.Fatal(err)
	}
	cpuJob := trainingJob()
	cpuJob.RequiredDevice = pb.DeviceType_DEVICE_METAL // nothing can run it: stays pending
	pending := s.submit(alice, cpuJob)
	before := map[string]*pb.JobStatus{done: s.jobStatus(alice, done).GetStatus(), pending: s.jobStatus(alice, pending).GetStatus()}
	nodesBefore, err := s.discovery().ListNodes(as(alice), &pb.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	s.stop()

	s2 := startServer(t, dir, Settings{})
	for id, want := range before {
		got := s2.jobStatus(alice, id).GetStatus()
		if got.GetStatus() != want.GetStatus() || got.GetCurrentNodeId() != want.GetCurrentNodeId() ||
			got.GetProgress() != want.GetProgress() || got.GetEndTime() != want.GetEndTime() {
			t.Errorf("job %s after restart: %+v, before: %+v", id, got, want)
		}
	}
	nodesAfter, err := s2.discovery().ListNodes(as(alice), &pb.ListNodesRequest{})
	if err != nil || nodesAfter.GetTotalCount() != nodesBefore.GetTotalCount() || nodesAfter.GetNodes()[0].GetNodeId() != node.id ||
		nodesAfter.GetNodes()[0].GetTotalJobsCompleted() != 1 {
		t.Fatalf("nodes after restart: %v (before %v), %v", nodesAfter, nodesBefore, err)
	}
	// The node's session token from before the restart still works.
	if _, err := s2.nodes().Heartbeat(as(node.session), &pb.HeartbeatRequest{NodeId: node.id}); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	// Idempotent retry of the first submission, across the restart.
	again, err := s2.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: withID(cpuJob, pending)})
	if err != nil || again.GetJobId() != pending {
		t.Fatalf("retried submission: %v, %v", again, err)
	}
}

func withID(c *pb.JobConfig, id string) *pb.JobConfig {
	c.JobId = id
	return c
}

// TestAuthRefusals: every way a caller can fail to prove who it is, or try
// to touch what is not theirs.
func TestAuthRefusals(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	alice := s.userToken("alice")
	jobID := s.submit(alice, trainingJob())
	node := startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)

	expired, _, _ := auth.NewIssuer([]byte(testSecret), func() time.Time { return time.Now().Add(-2 * time.Hour) }).MintUser("alice", "", "", time.Hour)
	wrongKey, _, _ := auth.NewIssuer([]byte("another-secret-0123456789abcdef0123"), nil).MintUser("alice", "", "", time.Hour)
	enc := base64.RawURLEncoding.EncodeToString
	algNone := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"alice","exp":`+itoa(time.Now().Add(time.Hour).Unix())+`}`)) + "."
	p2p, _, _ := s.iss.P2PToken(jobID, node.id, "alice", time.Now())

	get := func(token string) error {
		ctx := as(token)
		if token == "" {
			ctx = context.Background()
		}
		_, err := s.jobs().GetJobStatus(ctx, &pb.GetJobStatusRequest{JobId: jobID})
		return err
	}
	for _, tt := range []struct {
		name, token string
		want        codes.Code
		msg         string
	}{
		{"no token", "", codes.Unauthenticated, "authorization"},
		{"expired", expired, codes.Unauthenticated, "expired"},
		{"wrong signature", wrongKey, codes.Unauthenticated, "signature"},
		{"alg none", algNone, codes.Unauthenticated, "HS256"},
		{"garbage", "not-a-jwt", codes.Unauthenticated, "malformed"},
		{"p2p token", p2p, codes.Unauthenticated, "peer-to-peer"},
		{"another user's job", s.userToken("mallory"), codes.PermissionDenied, "another user"},
		{"node session on a client call", node.session, codes.PermissionDenied, "user token"},
		{"owner", alice, codes.OK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := get(tt.token)
			if status.Code(err) != tt.want || !strings.Contains(status.Convert(err).Message(), tt.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tt.want, tt.msg)
			}
		})
	}

	mallory := s.userToken("mallory")
	other := startNode(t, s, "mallory", "rogue", pb.DeviceType_DEVICE_METAL, 8<<30) // cannot take the CUDA job
	for _, tt := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"heartbeat with another owner's token", func() error {
			_, err := s.nodes().Heartbeat(as(mallory), &pb.HeartbeatRequest{NodeId: node.id})
			return err
		}, codes.PermissionDenied},
		{"heartbeat with another node's session", func() error {
			_, err := s.nodes().Heartbeat(as(other.session), &pb.HeartbeatRequest{NodeId: node.id})
			return err
		}, codes.PermissionDenied},
		{"result for a job not assigned to the node", func() error {
			_, err := s.status().ReportJobResult(as(other.session), &pb.ReportJobResultRequest{NodeId: other.id, JobId: jobID, FinalStatus: pb.StatusCode_STATUS_SUCCESS})
			return err
		}, codes.PermissionDenied},
		{"re-register another owner's node", func() error {
			info := nodeInfo("hijack", 9000, pb.DeviceType_DEVICE_CUDA, 8<<30)
			info.NodeId = node.id
			_, err := s.nodes().RegisterNode(as(mallory), &pb.RegisterNodeRequest{Info: info})
			return err
		}, codes.PermissionDenied},
		{"metrics of another owner's node", func() error {
			_, err := s.nodes().GetNodeMetrics(as(mallory), &pb.GetNodeMetricsRequest{NodeId: node.id})
			return err
		}, codes.PermissionDenied},
		{"list another user's jobs", func() error {
			_, err := s.jobs().ListJobs(as(mallory), &pb.ListJobsRequest{UserId: "alice"})
			return err
		}, codes.PermissionDenied},
		{"register without a token", func() error {
			_, err := s.nodes().RegisterNode(context.Background(), &pb.RegisterNodeRequest{Info: nodeInfo("x", 9000, pb.DeviceType_DEVICE_CPU, 0)})
			return err
		}, codes.Unauthenticated},
		{"AssignJob on the server", func() error {
			_, err := s.nodes().AssignJob(as(mallory), &pb.AssignJobRequest{})
			return err
		}, codes.FailedPrecondition},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); status.Code(err) != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
	// A node may register with its owner's token in the request body.
	resp, err := s.nodes().RegisterNode(context.Background(), &pb.RegisterNodeRequest{
		Info: nodeInfo("bodytoken", 9100, pb.DeviceType_DEVICE_CPU, 0), AuthenticationToken: alice})
	if err != nil || resp.GetSessionToken() == "" {
		t.Fatalf("register with a body token: %v, %v", resp, err)
	}
}

// TestValidation: bad input gets INVALID_ARGUMENT naming the field, and
// records nothing.
func TestValidation(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	alice := s.userToken("alice")
	node := startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	nan := math.NaN()
	for _, tt := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"no config", func() error { _, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{}); return err }, "config"},
		{"bad job id", func() error {
			_, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: withID(trainingJob(), "job-1")})
			return err
		}, "job_id"},
		{"NaN payment", func() error {
			c := trainingJob()
			c.PaymentAmount = nan
			_, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: c})
			return err
		}, "payment_amount"},
		{"unknown job type", func() error {
			c := trainingJob()
			c.JobType = 42
			_, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: c})
			return err
		}, "job_type"},
		{"negative memory", func() error {
			c := trainingJob()
			c.EstimatedMemory = -1
			_, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: c})
			return err
		}, "estimated_memory"},
		{"oversized initial data", func() error {
			_, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: trainingJob(), InitialData: make([]byte, 2<<20)})
			return err
		}, "initial_data"},
		{"bad wallet", func() error {
			c := trainingJob()
			c.PaymentAddress = "0xdeadbeef"
			_, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: c})
			return err
		}, "payment_address"},
		{"progress above 1", func() error {
			_, err := s.status().UpdateJobStatus(as(node.session), &pb.UpdateJobStatusRequest{NodeId: node.id, JobId: "00000000-0000-0000-0000-000000000001", Status: pb.StatusCode_STATUS_IN_PROGRESS, Progress: 1.5})
			return err
		}, "progress"},
		{"pending is no report", func() error {
			_, err := s.status().UpdateJobStatus(as(node.session), &pb.UpdateJobStatusRequest{NodeId: node.id, JobId: "00000000-0000-0000-0000-000000000001", Status: pb.StatusCode_STATUS_PENDING})
			return err
		}, "status"},
		{"Inf metric", func() error {
			_, err := s.status().UpdateJobStatus(as(node.session), &pb.UpdateJobStatusRequest{NodeId: node.id, JobId: "00000000-0000-0000-0000-000000000001", Status: pb.StatusCode_STATUS_IN_PROGRESS, Metrics: map[string]float64{"loss": math.Inf(1)}})
			return err
		}, "metrics"},
		{"bad port", func() error {
			_, err := s.nodes().RegisterNode(as(alice), &pb.RegisterNodeRequest{Info: nodeInfo("x", 70000, pb.DeviceType_DEVICE_CPU, 0)})
			return err
		}, "port"},
		{"page size", func() error {
			_, err := s.jobs().ListJobs(as(alice), &pb.ListJobsRequest{PageSize: 5000})
			return err
		}, "page_size"},
		{"page token", func() error {
			_, err := s.jobs().ListJobs(as(alice), &pb.ListJobsRequest{PageToken: "forged"})
			return err
		}, "page token"},
		{"NUL in a string", func() error {
			c := trainingJob()
			c.Hyperparameters = map[string]string{"lr": "0.1\x00"}
			_, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: c})
			return err
		}, "config.hyperparameters[lr] contains a NUL"},
		{"NUL in a node name", func() error {
			_, err := s.nodes().RegisterNode(as(alice), &pb.RegisterNodeRequest{Info: nodeInfo("bad\x00name", 9000, pb.DeviceType_DEVICE_CPU, 0)})
			return err
		}, "info.name"},
		{"find nodes NaN", func() error {
			_, err := s.discovery().FindNodes(as(alice), &pb.FindNodesRequest{MinReputation: nan})
			return err
		}, "min_reputation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tt.field) {
				t.Fatalf("got %v, want InvalidArgument naming %q", err, tt.field)
			}
		})
	}
	// Past server.max_message_bytes the transport refuses the message.
	if _, err := s.jobs().SubmitJob(as(alice), &pb.SubmitJobRequest{Config: trainingJob(), InitialData: make([]byte, 5<<20)}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a 5 MiB message: %v, want ResourceExhausted", err)
	}
	list, err := s.jobs().ListJobs(as(alice), &pb.ListJobsRequest{})
	if err != nil || list.GetTotalCount() != 0 {
		t.Fatalf("refused submissions recorded jobs: %v, %v", list, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRequeuedJobGoesElsewhere: a job a node refused is placed on another
// node even when, by score, the refusing node still ranks first (it is
// idle while the other one is busy): the scheduler keeps the nodes a job
// was requeued from as a last resort. Each job is refused exactly once.
func TestRequeuedJobGoesElsewhere(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{}, func(c *config.Config) {
		c.Scheduler.MaxRetries = 5
		c.Scheduler.MaxJobsPerNode = 10
	})
	alice := s.userToken("alice")
	willing := startNode(t, s, "ops", "willing", pb.DeviceType_DEVICE_CUDA, 24<<30)
	willing.keepAlive(100 * time.Millisecond)
	first := s.submit(alice, trainingJob())
	willing.waitAssignment(5 * time.Second)
	eventually(t, 5*time.Second, "the first job on the willing node", func() bool {
		return s.jobStatus(alice, first).GetStatus().GetCurrentNodeId() == willing.id
	})
	picky := startNode(t, s, "ops", "picky", pb.DeviceType_DEVICE_CUDA, 24<<30)
	picky.setAccept(false, "busy with a local job")
	picky.keepAlive(100 * time.Millisecond)
	for i := range 3 {
		// willing runs 1+i jobs (−10 each), picky none: picky scores higher.
		job := s.submit(alice, trainingJob())
		eventually(t, 10*time.Second, fmt.Sprintf("job %d on the willing node", i+2), func() bool {
			return s.jobStatus(alice, job).GetStatus().GetCurrentNodeId() == willing.id
		})
		recs, err := s.app.store.ReadStream(context.Background(), domain.JobStream(job), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		rejected := 0
		for _, r := range recs {
			if r.Type == "JobRejected" {
				rejected++
			}
		}
		if rejected != 1 {
			t.Fatalf("job %d was refused %d times, want once (then placed elsewhere)", i+2, rejected)
		}
	}
}

package grpc

import (
	"context"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// nodeService is cyxwiz.protocol.NodeService: nodes register, heartbeat
// and report on their jobs.
type nodeService struct {
	pb.UnimplementedNodeServiceServer
	*Server
}

// nodeCaller checks that the caller may act for node nodeID (its session
// token or its owner's user token) and returns the node.
func (s *Server) nodeCaller(ctx context.Context, nodeID string) (projections.NodeView, error) {
	if err := checkID("node_id", nodeID); err != nil {
		return projections.NodeView{}, err
	}
	p, ok := principal(ctx)
	if !ok {
		return projections.NodeView{}, status.Error(codes.Unauthenticated, "missing `authorization: Bearer <JWT>` metadata; "+auth.MintHint)
	}
	v, found, err := s.deps.Nodes.GetNode(ctx, nodeID)
	if err != nil {
		return v, toStatus(s.log, "GetNode", err)
	}
	if !found {
		return v, status.Errorf(codes.NotFound, "node %s is not registered; call RegisterNode first", nodeID)
	}
	if !p.ActsForNode(nodeID, v.Owner) {
		return v, status.Errorf(codes.PermissionDenied, "this token may not act for node %s: use its session token or its owner's token", nodeID)
	}
	return v, s.checkNodeCertificate(ctx, v.Owner)
}

func (s *nodeService) RegisterNode(ctx context.Context, req *pb.RegisterNodeRequest) (*pb.RegisterNodeResponse, error) {
	p, ok := principal(ctx)
	if !ok {
		// Nodes may carry their owner's token in the request body instead.
		tok := req.GetAuthenticationToken()
		if tok == "" {
			return nil, status.Error(codes.Unauthenticated, "RegisterNode needs the owner's user token, as `authorization: Bearer <JWT>` metadata or in authentication_token; "+auth.MintHint)
		}
		var err error
		if p, err = s.deps.Auth.Verify(tok); err != nil {
			return nil, status.Error(codes.Unauthenticated, err.Error())
		}
		ctx = commands.WithMetadata(auth.WithPrincipal(ctx, p), callMetadata(auth.WithPrincipal(ctx, p), "/cyxwiz.protocol.NodeService/RegisterNode"))
	}
	if p.Kind != auth.KindUser {
		return nil, status.Error(codes.PermissionDenied, "RegisterNode needs the owner's user token, not a node session token")
	}
	if err := s.checkNodeCertificate(ctx, p.Subject); err != nil {
		return nil, err
	}
	info := req.GetInfo()
	if info == nil {
		return nil, invalidf("info is required")
	}
	if err := checkOptionalID("info.node_id", info.GetNodeId()); err != nil {
		return nil, err
	}
	if len(req.GetPublicKey()) > domain.MaxPublicKeyBytes {
		return nil, invalidf("public_key is %d bytes; the limit is %d", len(req.GetPublicKey()), domain.MaxPublicKeyBytes)
	}
	if err := checkNodeInfo(info); err != nil {
		return nil, err
	}
	if err := s.checkNodeQuota(ctx, p.Subject, info.GetNodeId()); err != nil {
		return nil, err
	}
	if err := s.opts.NodeAddresses.CheckHost(info.GetIpAddress()); err != nil {
		return nil, invalidf("info.ip_address: %v", err)
	}
	node, created, pos, err := s.deps.Commands.RegisterNode(ctx, commands.RegisterNode{
		NodeID: info.GetNodeId(), Owner: p.Subject, Spec: nodeSpecFromProto(info, req.GetPublicKey()),
	})
	if err != nil {
		return nil, toStatus(s.log, "RegisterNode", err)
	}
	s.awaitReadModel(ctx, pos)
	if err := s.deps.Monitor.Heartbeat(ctx, node.ID(), nil, len(node.ActiveJobs())); err != nil {
		return nil, toStatus(s.log, "RegisterNode", err)
	}
	token, _, err := s.deps.Auth.MintNodeSession(node.ID(), p.Subject, s.opts.NodeSessionTTL)
	if err != nil {
		return nil, toStatus(s.log, "RegisterNode", err)
	}
	s.log.Info("node registered", "node", node.ID(), "owner", p.Subject, "new", created)
	return &pb.RegisterNodeResponse{Status: okStatus, NodeId: node.ID(), SessionToken: token}, nil
}

// checkNodeInfo checks the wire-level parts of NodeInfo the domain cannot
// see (NaN in doubles it does not keep, enum ranges); the domain checks the rest.
func checkNodeInfo(n *pb.NodeInfo) error {
	for _, v := range []struct {
		name string
		v    float64
	}{{"info.compute_score", n.GetComputeScore()}, {"info.reputation_score", n.GetReputationScore()},
		{"info.average_rating", n.GetAverageRating()}, {"info.staked_amount", n.GetStakedAmount()},
		{"info.uptime_percentage", n.GetUptimePercentage()}} {
		if err := checkFinite(v.name, v.v); err != nil {
			return err
		}
	}
	if len(n.GetSupportedFormats()) > domain.MaxListEntries || len(n.GetAvailableRuntimes()) > domain.MaxListEntries {
		return invalidf("info.supported_formats and info.available_runtimes may list at most %d entries", domain.MaxListEntries)
	}
	if err := checkString("info.region", n.GetRegion(), domain.MaxRegionBytes); err != nil {
		return err
	}
	return checkString("info.version.build", n.GetVersion().GetBuild(), domain.MaxNodeVersionBytes/2)
}

func (s *nodeService) Heartbeat(ctx context.Context, req *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	if _, err := s.nodeCaller(ctx, req.GetNodeId()); err != nil {
		return nil, err
	}
	if len(req.GetActiveJobs()) > domain.MaxActiveJobs {
		return nil, invalidf("active_jobs lists %d jobs; the limit is %d", len(req.GetActiveJobs()), domain.MaxActiveJobs)
	}
	var spec *domain.NodeSpec
	if cs := req.GetCurrentStatus(); cs != nil {
		if err := checkNodeInfo(cs); err != nil {
			return nil, err
		}
		sp := nodeSpecFromProto(cs, nil)
		if err := sp.ValidateStatus(); err != nil {
			return nil, toStatus(s.log, "Heartbeat", err)
		}
		spec = &sp
	}
	if err := s.deps.Monitor.Heartbeat(ctx, req.GetNodeId(), spec, len(req.GetActiveJobs())); err != nil {
		return nil, toStatus(s.log, "Heartbeat", err)
	}
	resp := &pb.HeartbeatResponse{Status: okStatus, KeepAlive: true}
	for _, jobID := range req.GetActiveJobs() {
		if checkID("active_jobs[]", jobID) != nil {
			resp.JobsToCancel = append(resp.JobsToCancel, jobID)
			continue
		}
		v, found, err := s.deps.Jobs.GetJob(ctx, jobID)
		if err != nil {
			return nil, toStatus(s.log, "Heartbeat", err)
		}
		// A job the node should not be running: unknown, finished, or
		// taken back and given to another node.
		if !found || v.Status.Terminal() || v.NodeID != req.GetNodeId() || v.Status == domain.JobStatusPending {
			resp.JobsToCancel = append(resp.JobsToCancel, jobID)
		}
	}
	return resp, nil
}

func (s *nodeService) AssignJob(context.Context, *pb.AssignJobRequest) (*pb.AssignJobResponse, error) {
	return nil, status.Error(codes.FailedPrecondition,
		"assignments are pushed to nodes: the central server calls AssignJob on the node's control address (ip_address:port+3); nodes do not pull jobs")
}

// reportProgress is shared by ReportProgress and UpdateJobStatus.
func (s *Server) reportProgress(ctx context.Context, nodeID, jobID string, p domain.Progress) (bool, error) {
	if err := checkID("job_id", jobID); err != nil {
		return false, err
	}
	if err := checkMetrics("metrics", p.Metrics); err != nil {
		return false, err
	}
	if err := checkString("log_message", p.Log, maxLogBytes); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, toStatus(s.log, "ReportProgress", err)
	}
	job, pos, err := s.deps.Commands.ReportProgress(ctx, jobID, nodeID, p)
	if err != nil {
		return false, toStatus(s.log, "ReportProgress", err)
	}
	s.awaitReadModel(ctx, pos)
	return !job.Status().Terminal(), nil
}

// finish records a node's final report: success or failure.
func (s *Server) finish(ctx context.Context, nodeID, jobID string, o outcome, r domain.JobResult, reason string) error {
	if err := checkID("job_id", jobID); err != nil {
		return err
	}
	if err := checkMetrics("final_metrics", r.FinalMetrics); err != nil {
		return err
	}
	if err := checkString("error_message", reason, maxLogBytes); err != nil {
		return err
	}
	var (
		pos uint64
		err error
	)
	if o == outcomeSuccess {
		_, pos, err = s.deps.Commands.CompleteJob(ctx, jobID, nodeID, r)
	} else {
		_, pos, err = s.deps.Commands.FailJob(ctx, jobID, nodeID, reason)
	}
	if err != nil {
		return toStatus(s.log, "finish", err)
	}
	s.awaitReadModel(ctx, pos)
	return nil
}

func (s *nodeService) ReportProgress(ctx context.Context, req *pb.ReportProgressRequest) (*pb.ReportProgressResponse, error) {
	if _, err := s.nodeCaller(ctx, req.GetNodeId()); err != nil {
		return nil, err
	}
	st := req.GetStatus()
	if st == nil {
		return nil, invalidf("status is required")
	}
	if id := st.GetJobId(); id != "" && id != req.GetJobId() {
		return nil, invalidf("status.job_id %q differs from job_id %q", clip(id), clip(req.GetJobId()))
	}
	o, err := outcomeFromProto("status.status", st.GetStatus())
	if err != nil {
		return nil, err
	}
	metrics := req.GetCurrentMetrics()
	if len(metrics) == 0 {
		metrics = st.GetMetrics()
	}
	if o != outcomeProgress {
		if err := s.finish(ctx, req.GetNodeId(), req.GetJobId(), o, domain.JobResult{FinalMetrics: metrics}, st.GetError().GetMessage()); err != nil {
			return nil, err
		}
		return &pb.ReportProgressResponse{Status: okStatus, ContinueJob: false}, nil
	}
	cont, err := s.reportProgress(ctx, req.GetNodeId(), req.GetJobId(), domain.Progress{
		Fraction: st.GetProgress(), Epoch: st.GetCurrentEpoch(), Metrics: metrics,
	})
	if err != nil {
		return nil, err
	}
	return &pb.ReportProgressResponse{Status: okStatus, ContinueJob: cont}, nil
}

func (s *nodeService) ReportCompletion(ctx context.Context, req *pb.ReportCompletionRequest) (*pb.ReportCompletionResponse, error) {
	if _, err := s.nodeCaller(ctx, req.GetNodeId()); err != nil {
		return nil, err
	}
	r := req.GetResult()
	if r == nil {
		return nil, invalidf("result is required")
	}
	if id := r.GetJobId(); id != "" && id != req.GetJobId() {
		return nil, invalidf("result.job_id %q differs from job_id %q", clip(id), clip(req.GetJobId()))
	}
	o, err := outcomeFromProto("result.status", r.GetStatus())
	if err != nil {
		return nil, err
	}
	if o == outcomeProgress {
		return nil, invalidf("result.status STATUS_IN_PROGRESS is not a completion; use ReportProgress")
	}
	if err := checkFinite("result.energy_consumed", r.GetEnergyConsumed()); err != nil {
		return nil, err
	}
	if r.GetTotalComputeTime() < 0 || r.GetTotalComputeTime() > 1<<40 {
		return nil, invalidf("result.total_compute_time must be seconds ≥ 0, got %d", r.GetTotalComputeTime())
	}
	for _, f := range []struct{ name, v string }{{"result.model_weights_uri", r.GetModelWeightsUri()},
		{"result.model_weights_hash", r.GetModelWeightsHash()}, {"result.proof_of_compute", r.GetProofOfCompute()}} {
		if err := checkString(f.name, f.v, maxStringBytes); err != nil {
			return nil, err
		}
	}
	result := domain.JobResult{
		ModelWeightsURI: r.GetModelWeightsUri(), ModelWeightsHash: r.GetModelWeightsHash(), ModelSize: r.GetModelSize(),
		FinalMetrics: r.GetFinalMetrics(), ComputeTimeMs: r.GetTotalComputeTime() * 1000,
		EnergyConsumed: r.GetEnergyConsumed(), ProofOfCompute: r.GetProofOfCompute(),
	}
	reason := "the node reported failure"
	if err := s.finish(ctx, req.GetNodeId(), req.GetJobId(), o, result, reason); err != nil {
		return nil, err
	}
	// The payout is settled by the saga after this answer, usually: a
	// repeated report (or GetJobStatus) sees it once it is known.
	pay, err := s.deps.Commands.PaymentState(ctx, req.GetJobId())
	if err != nil {
		return nil, toStatus(s.log, "ReportCompletion", err)
	}
	return &pb.ReportCompletionResponse{Status: okStatus, PaymentReleased: pay.Released, PaymentTxHash: pay.PayoutSignature}, nil
}

func (s *nodeService) GetNodeMetrics(ctx context.Context, req *pb.GetNodeMetricsRequest) (*pb.GetNodeMetricsResponse, error) {
	if _, err := s.nodeCaller(ctx, req.GetNodeId()); err != nil {
		return nil, err
	}
	from, to := req.GetStartTime(), req.GetEndTime()
	if from < 0 || to < 0 || (to != 0 && from > to) {
		return nil, invalidf("start_time and end_time are unix seconds ≥ 0 with start_time ≤ end_time (0 = open), got %d..%d", from, to)
	}
	points, err := s.deps.Nodes.NodeMetrics(ctx, req.GetNodeId(), unixOrZero(from), unixOrZero(to))
	if err != nil {
		return nil, toStatus(s.log, "GetNodeMetrics", err)
	}
	out := &pb.GetNodeMetricsResponse{}
	for _, p := range points {
		out.Metrics = append(out.Metrics, &pb.MetricPoint{
			Timestamp: p.At.Unix(), CpuUsage: p.Sample.CPUUsage, GpuUsage: p.Sample.GPUUsage,
			MemoryUsage: p.Sample.MemoryUsage, NetworkThroughput: p.Sample.NetworkThroughput,
			PowerConsumption: p.Sample.PowerConsumption,
		})
	}
	// The reply has no token: the oldest points that fit; a later
	// start_time reads on.
	out.Metrics = out.Metrics[:fitReply(s.Server, out.Metrics)]
	return out, nil
}

func (s *nodeService) NotifyJobAccepted(ctx context.Context, req *pb.JobAcceptedRequest) (*pb.JobAcceptedResponse, error) {
	if _, err := s.nodeCaller(ctx, req.GetNodeId()); err != nil {
		return nil, err
	}
	if err := checkID("job_id", req.GetJobId()); err != nil {
		return nil, err
	}
	_, pos, err := s.deps.Commands.AcceptJob(ctx, req.GetJobId(), req.GetNodeId())
	if err == nil {
		_, pos, err = s.deps.Commands.StartJob(ctx, req.GetJobId(), req.GetNodeId())
	}
	if err != nil {
		return nil, toStatus(s.log, "NotifyJobAccepted", err)
	}
	s.awaitReadModel(ctx, pos)
	return &pb.JobAcceptedResponse{Status: okStatus, Acknowledged: true}, nil
}

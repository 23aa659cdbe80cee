package grpc

import (
	"context"
	"encoding/base64"
	"net"
	"strconv"
	"time"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// jobService is cyxwiz.protocol.JobService: clients submit and watch jobs.
type jobService struct {
	pb.UnimplementedJobServiceServer
	*Server
}

func (s *jobService) SubmitJob(ctx context.Context, req *pb.SubmitJobRequest) (*pb.SubmitJobResponse, error) {
	p, _ := principal(ctx)
	cfg := req.GetConfig()
	if cfg == nil {
		return nil, invalidf("config is required")
	}
	if err := checkOptionalID("config.job_id", cfg.GetJobId()); err != nil {
		return nil, err
	}
	if err := checkFinite("config.payment_amount", cfg.GetPaymentAmount()); err != nil {
		return nil, err
	}
	if a := cfg.GetPaymentAddress(); a != "" {
		if err := domain.CheckAddress(a); err != nil {
			return nil, invalidf("config.payment_address %q is not a base58 Solana address: %v", clip(a), err)
		}
	}
	if err := s.checkQueueQuota(ctx, p.Subject); err != nil {
		return nil, err
	}
	job, _, pos, err := s.deps.Commands.SubmitJob(ctx, commands.SubmitJob{
		JobID: cfg.GetJobId(), Owner: p.Subject, Spec: specFromProto(cfg, req.GetInitialData()), Wallet: p.Wallet,
	})
	if err != nil {
		return nil, toStatus(s.log, "SubmitJob", err)
	}
	s.awaitReadModel(ctx, pos) // the read model's update wakes the scheduler
	return &pb.SubmitJobResponse{
		JobId: job.ID(), Status: statusToProto(job.Status()), AssignedNodeId: job.Node(),
		EstimatedStartTime: s.deps.Now().Unix(),
	}, nil
}

// ownJob returns the caller's job, or NOT_FOUND / PERMISSION_DENIED.
func (s *Server) ownJob(ctx context.Context, jobID string) (projections.JobView, error) {
	if err := checkID("job_id", jobID); err != nil {
		return projections.JobView{}, err
	}
	v, found, err := s.deps.Jobs.GetJob(ctx, jobID)
	if err != nil {
		return v, toStatus(s.log, "GetJob", err)
	}
	if !found {
		return v, status.Errorf(codes.NotFound, "job %s not found", jobID)
	}
	if p, _ := principal(ctx); v.Owner != p.Subject {
		return v, status.Errorf(codes.PermissionDenied, "job %s belongs to another user", jobID)
	}
	return v, nil
}

func (s *jobService) GetJobStatus(ctx context.Context, req *pb.GetJobStatusRequest) (*pb.GetJobStatusResponse, error) {
	v, err := s.ownJob(ctx, req.GetJobId())
	if err != nil {
		return nil, err
	}
	return &pb.GetJobStatusResponse{Status: jobStatusToProto(&v), NodeAssignment: s.assignmentOf(ctx, &v)}, nil
}

// assignmentOf tells the job's owner where its job runs and gives the P2P
// token the node expects; nil while the job has no node.
func (s *Server) assignmentOf(ctx context.Context, v *projections.JobView) *pb.NodeAssignment {
	if v.NodeID == "" || v.Status.Terminal() || v.Status == domain.JobStatusPending {
		return nil
	}
	node, found, err := s.deps.Nodes.GetNode(ctx, v.NodeID)
	if err != nil || !found {
		return &pb.NodeAssignment{NodeId: v.NodeID}
	}
	out := &pb.NodeAssignment{
		NodeId:        v.NodeID,
		NodeEndpoint:  net.JoinHostPort(node.Spec.IPAddress, strconv.Itoa(int(node.Spec.Port))),
		NodePublicKey: base64.StdEncoding.EncodeToString(node.Spec.PublicKey),
	}
	if tok, exp, err := s.deps.Tokens.P2PToken(v.ID, v.NodeID, v.Owner, v.AssignedAt); err == nil {
		out.AuthToken, out.TokenExpiresAt = tok, exp.Unix()
	} else {
		s.log.Warn("mint p2p token", "job", v.ID, "err", err)
	}
	return out
}

func jobStatusToProto(v *projections.JobView) *pb.JobStatus {
	out := &pb.JobStatus{
		JobId: v.ID, Status: statusToProto(v.Status), Progress: v.Progress, CurrentNodeId: v.NodeID,
		Metrics: v.Metrics, CurrentEpoch: v.Epoch,
	}
	if !v.Status.Terminal() && v.Status != domain.JobStatusAssigned && v.Status != domain.JobStatusRunning {
		out.CurrentNodeId = ""
	}
	if !v.StartedAt.IsZero() {
		out.StartTime = v.StartedAt.Unix()
	}
	if !v.EndedAt.IsZero() {
		out.EndTime = v.EndedAt.Unix()
	}
	if v.Status == domain.JobStatusFailed || v.Status == domain.JobStatusCancelled {
		out.Error = &pb.Error{Code: int32(statusToProto(v.Status)), Message: v.Reason}
	}
	if v.Result != nil && len(v.Result.FinalMetrics) > 0 {
		out.Metrics = v.Result.FinalMetrics
	}
	return out
}

func (s *jobService) CancelJob(ctx context.Context, req *pb.CancelJobRequest) (*pb.CancelJobResponse, error) {
	if err := checkID("job_id", req.GetJobId()); err != nil {
		return nil, err
	}
	if err := checkString("reason", req.GetReason(), domain.MaxReasonBytes); err != nil {
		return nil, err
	}
	if _, err := s.ownJob(ctx, req.GetJobId()); err != nil {
		return nil, err
	}
	p, _ := principal(ctx)
	_, pos, err := s.deps.Commands.CancelJob(ctx, req.GetJobId(), p.Subject, req.GetReason())
	if err != nil {
		return nil, toStatus(s.log, "CancelJob", err)
	}
	s.awaitReadModel(ctx, pos)
	// Escrow held for the job goes back to the payer: the settlement saga
	// refunds it (or has begun to).
	refund := false
	if pay, err := s.deps.Commands.PaymentState(ctx, req.GetJobId()); err != nil {
		s.log.Warn("CancelJob: read the payment", "job", req.GetJobId(), "err", err)
	} else {
		switch pay.Status {
		case domain.PaymentStatusFunded, domain.PaymentStatusRefunding, domain.PaymentStatusRefunded:
			refund = true
		}
	}
	return &pb.CancelJobResponse{Status: okStatus, RefundIssued: refund}, nil
}

func (s *jobService) DeleteJob(ctx context.Context, req *pb.DeleteJobRequest) (*pb.DeleteJobResponse, error) {
	if _, err := s.ownJob(ctx, req.GetJobId()); err != nil {
		return nil, err
	}
	p, _ := principal(ctx)
	_, pos, err := s.deps.Commands.DeleteJob(ctx, req.GetJobId(), p.Subject)
	if err != nil {
		return nil, toStatus(s.log, "DeleteJob", err)
	}
	s.awaitReadModel(ctx, pos)
	return &pb.DeleteJobResponse{Status: okStatus}, nil
}

func (s *jobService) StreamJobUpdates(req *pb.GetJobStatusRequest, stream pb.JobService_StreamJobUpdatesServer) error {
	ctx := stream.Context()
	if _, err := s.ownJob(ctx, req.GetJobId()); err != nil {
		return err
	}
	p, _ := principal(ctx)
	release, ok := s.opts.Streams.Acquire(p.Subject)
	if !ok {
		return exhausted(ctx, quotaRetry, "you already have %d job update streams open, the most one user may (limits.streams_per_principal); close one", s.opts.Streams.Max())
	}
	defer release()
	updates, cancel := s.deps.Watcher.WatchJob(req.GetJobId())
	defer cancel()
	// The stream ends when its token does; the client calls again with a
	// fresh one.
	var expired <-chan time.Time
	if !p.ExpiresAt.IsZero() {
		t := time.NewTimer(time.Until(p.ExpiresAt))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-expired:
			return status.Error(codes.Unauthenticated, "the stream's token expired; call StreamJobUpdates again with a fresh token")
		case u, ok := <-updates:
			if !ok {
				return nil // terminal state delivered
			}
			msg := &pb.JobUpdateStream{JobId: u.Job.ID, Status: jobStatusToProto(&u.Job), LiveMetrics: u.LiveMetrics, LogMessage: u.Log}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
}

func (s *jobService) ListJobs(ctx context.Context, req *pb.ListJobsRequest) (*pb.ListJobsResponse, error) {
	p, _ := principal(ctx)
	if u := req.GetUserId(); u != "" && u != p.Subject {
		return nil, status.Errorf(codes.PermissionDenied, "user_id %q: you can list only your own jobs (leave user_id empty)", clip(u))
	}
	size, err := checkPageSize("page_size", req.GetPageSize())
	if err != nil {
		return nil, err
	}
	f := projections.JobFilter{Owner: p.Subject, PageSize: size, PageToken: req.GetPageToken()}
	if t := domain.JobType(req.GetFilterType()); t != domain.JobTypeUnknown {
		if !t.Valid() {
			return nil, invalidf("filter_type %d is not a job type", t)
		}
		f.Type = &t
	}
	if f.Statuses, err = statusFilterFromProto(req.GetFilterStatus()); err != nil {
		return nil, err
	}
	jobs, next, total, err := s.deps.Jobs.ListJobs(ctx, f)
	if err != nil {
		return nil, toStatus(s.log, "ListJobs", err)
	}
	out := &pb.ListJobsResponse{TotalCount: int32(total)}
	for i := range jobs {
		out.Jobs = append(out.Jobs, jobStatusToProto(&jobs[i]))
	}
	n := fitReply(s.Server, out.Jobs)
	out.Jobs = out.Jobs[:n]
	_, out.NextPageToken = projections.TrimJobs(f, jobs, next, n)
	return out, nil
}

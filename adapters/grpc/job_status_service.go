package grpc

import (
	"context"
	"time"

	"github.com/cyxwiz/central-server/domain"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

// jobStatusService is cyxwiz.protocol.JobStatusService: nodes report the
// status and the result of their jobs.
type jobStatusService struct {
	pb.UnimplementedJobStatusServiceServer
	*Server
}

func (s *jobStatusService) UpdateJobStatus(ctx context.Context, req *pb.UpdateJobStatusRequest) (*pb.UpdateJobStatusResponse, error) {
	if _, err := s.nodeCaller(ctx, req.GetNodeId()); err != nil {
		return nil, err
	}
	o, err := outcomeFromProto("status", req.GetStatus())
	if err != nil {
		return nil, err
	}
	if o != outcomeProgress {
		if err := s.finish(ctx, req.GetNodeId(), req.GetJobId(), o, domain.JobResult{FinalMetrics: req.GetMetrics()}, req.GetLogMessage()); err != nil {
			return nil, err
		}
		return &pb.UpdateJobStatusResponse{Status: okStatus, ShouldContinue: false}, nil
	}
	cont, err := s.reportProgress(ctx, req.GetNodeId(), req.GetJobId(), domain.Progress{
		Fraction: req.GetProgress(), Epoch: req.GetCurrentEpoch(), Metrics: req.GetMetrics(), Log: req.GetLogMessage(),
	})
	if err != nil {
		return nil, err
	}
	return &pb.UpdateJobStatusResponse{Status: okStatus, ShouldContinue: cont}, nil
}

func (s *jobStatusService) ReportJobResult(ctx context.Context, req *pb.ReportJobResultRequest) (*pb.ReportJobResultResponse, error) {
	if _, err := s.nodeCaller(ctx, req.GetNodeId()); err != nil {
		return nil, err
	}
	o, err := outcomeFromProto("final_status", req.GetFinalStatus())
	if err != nil {
		return nil, err
	}
	if o == outcomeProgress {
		return nil, invalidf("final_status STATUS_IN_PROGRESS is not a result; use UpdateJobStatus")
	}
	if req.GetTotalComputeTime() < 0 || req.GetModelSize() < 0 {
		return nil, invalidf("total_compute_time and model_size must be ≥ 0")
	}
	for _, f := range []struct{ name, v string }{{"model_weights_uri", req.GetModelWeightsUri()}, {"model_weights_hash", req.GetModelWeightsHash()}} {
		if err := checkString(f.name, f.v, maxStringBytes); err != nil {
			return nil, err
		}
	}
	result := domain.JobResult{
		ModelWeightsURI: req.GetModelWeightsUri(), ModelWeightsHash: req.GetModelWeightsHash(),
		ModelSize: req.GetModelSize(), FinalMetrics: req.GetFinalMetrics(), ComputeTimeMs: req.GetTotalComputeTime(),
	}
	if err := s.finish(ctx, req.GetNodeId(), req.GetJobId(), o, result, req.GetErrorMessage()); err != nil {
		return nil, err
	}
	return &pb.ReportJobResultResponse{Status: okStatus}, nil
}

func unixOrZero(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

package grpc

import (
	"strings"
	"testing"

	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// TestLowerIDs: job and node ids are written in lower case at any depth;
// other strings, and ids that are not UUIDs, are left alone.
func TestLowerIDs(t *testing.T) {
	const up, low = "6F1C2A9E-0B1D-4C3E-8F7A-9B8C7D6E5F4A", "6f1c2a9e-0b1d-4c3e-8f7a-9b8c7d6e5f4a"
	req := &pb.ReportProgressRequest{NodeId: up, JobId: up, Status: &pb.JobStatus{JobId: up, CurrentNodeId: up}}
	lowerIDs(req)
	if req.NodeId != low || req.JobId != low || req.Status.JobId != low {
		t.Fatalf("ids not lowered: %v", req)
	}
	if req.Status.CurrentNodeId != up {
		t.Fatalf("a field not named job_id/node_id changed: %q", req.Status.CurrentNodeId)
	}
	hb := &pb.HeartbeatRequest{NodeId: "NOT-A-UUID", ActiveJobs: []string{up, "Other"}}
	lowerIDs(hb)
	if hb.NodeId != "NOT-A-UUID" || hb.ActiveJobs[0] != low || hb.ActiveJobs[1] != "Other" {
		t.Fatalf("heartbeat ids: %v", hb)
	}
}

// TestLenientCodec: an undecodable request decodes to an empty message
// whose error the first interceptor answers INVALID_ARGUMENT, once.
func TestLenientCodec(t *testing.T) {
	c := newLenientCodec()
	req := &pb.SubmitJobRequest{}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})}, req); err != nil {
		t.Fatalf("the lenient codec failed: %v", err)
	}
	err := decodeError(req)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "not a valid protobuf message") {
		t.Fatalf("decodeError = %v, want INVALID_ARGUMENT", err)
	}
	if decodeError(req) != nil {
		t.Fatal("the error was kept after it was answered")
	}
	good, _ := c.Marshal(&pb.SubmitJobRequest{Config: &pb.JobConfig{ModelDefinition: "m"}})
	ok := &pb.SubmitJobRequest{}
	if err := c.Unmarshal(good, ok); err != nil || decodeError(ok) != nil || ok.GetConfig().GetModelDefinition() != "m" {
		t.Fatalf("a valid message: %v, %v", ok, err)
	}
}

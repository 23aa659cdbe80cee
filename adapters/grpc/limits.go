package grpc

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/ratelimit"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// RetryAfterKey is the trailer metadata key of a RESOURCE_EXHAUSTED
// answer: whole seconds to wait before retrying (RetryInfo in the
// status details says the same, to the millisecond).
const RetryAfterKey = "retry-after"

// principalKey is who a call is counted against: the user or node of its
// token, else the client's IP.
func principalKey(ctx context.Context) (ratelimit.Kind, string) {
	if p, ok := auth.PrincipalFrom(ctx); ok {
		if p.Kind == auth.KindNode {
			return ratelimit.Node, p.NodeID
		}
		return ratelimit.User, p.Subject
	}
	return ratelimit.IP, peerIP(ctx)
}

// peerIP is the client's IP address ("" when unknown).
func peerIP(ctx context.Context) string {
	pr, ok := peer.FromContext(ctx)
	if !ok || pr.Addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(pr.Addr.String())
	if err != nil {
		return pr.Addr.String()
	}
	return host
}

// exhausted is a RESOURCE_EXHAUSTED status that says when to retry, in
// its details (RetryInfo) and in the trailer metadata (retry-after).
func exhausted(ctx context.Context, wait time.Duration, format string, args ...any) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs(RetryAfterKey, strconv.Itoa(ratelimit.RetryAfterSeconds(wait))))
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(format, args...))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
		st = d
	}
	return st.Err()
}

// admit counts one call against its principal's rate.
func (s *Server) admit(ctx context.Context) error {
	kind, key := principalKey(ctx)
	ok, wait := s.opts.Limits.Allow(kind, key, time.Now())
	if ok {
		return nil
	}
	return exhausted(ctx, wait, "rate limit: this %s makes calls faster than the server allows (see [limits] in config.toml); retry in %s", kind, wait.Round(time.Millisecond))
}

// exempt are the methods no rate applies to: health checks, which load
// balancers make from one address and which cost nothing.
func exempt(fullMethod string) bool { return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") }

// refused counts a call refused by authentication against its IP: a
// flood of bad tokens has no principal of its own, and without this it
// would be free.
func (s *Server) refused(ctx context.Context, err error) error {
	if ok, wait := s.opts.Limits.Allow(ratelimit.IP, peerIP(ctx), time.Now()); !ok {
		return exhausted(ctx, wait, "rate limit: this ip makes calls with bad tokens faster than the server allows calls without one; retry in %s", wait.Round(time.Millisecond))
	}
	return err
}

func (s *Server) limitUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if exempt(info.FullMethod) {
		return next(ctx, req)
	}
	if err := s.admit(ctx); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

func (s *Server) limitStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if exempt(info.FullMethod) {
		return next(srv, ss)
	}
	if err := s.admit(ss.Context()); err != nil {
		return err
	}
	return next(srv, ss)
}

// quotaRetry is the retry advice of a quota answer: a quota frees up as
// jobs leave the queue, not at a rate.
const quotaRetry = 30 * time.Second

// checkQueueQuota refuses a submission from a user whose pending jobs
// reach Options.QueuedJobsPerUser. Concurrent submissions may pass it
// together: the quota is a bound, not an exact count.
func (s *Server) checkQueueQuota(ctx context.Context, owner string) error {
	if s.opts.QueuedJobsPerUser <= 0 {
		return nil
	}
	_, _, queued, err := s.deps.Jobs.ListJobs(ctx, projections.JobFilter{Owner: owner, Statuses: []domain.JobStatus{domain.JobStatusPending}, PageSize: 1})
	if err != nil {
		return toStatus(s.log, "SubmitJob", err)
	}
	if queued >= s.opts.QueuedJobsPerUser {
		return exhausted(ctx, quotaRetry, "quota: you have %d pending jobs, the most one user may queue (limits.queued_jobs_per_user); wait for some to start, or cancel some", queued)
	}
	return nil
}

// checkNodeQuota refuses a new node from an owner who has
// Options.NodesPerOwner nodes; re-registering one of them passes.
func (s *Server) checkNodeQuota(ctx context.Context, owner, nodeID string) error {
	if s.opts.NodesPerOwner <= 0 {
		return nil
	}
	if nodeID != "" {
		if v, found, err := s.deps.Nodes.GetNode(ctx, nodeID); err == nil && found && v.Owner == owner {
			return nil
		}
	}
	page, err := s.deps.Nodes.ListNodes(ctx, projections.NodeListFilter{Owner: owner, PageSize: 1})
	if err != nil {
		return toStatus(s.log, "RegisterNode", err)
	}
	if page.Total >= s.opts.NodesPerOwner {
		return exhausted(ctx, quotaRetry, "quota: you own %d nodes, the most one user may register (limits.nodes_per_owner); re-register one of them by its node_id instead", page.Total)
	}
	return nil
}

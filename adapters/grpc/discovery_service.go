package grpc

import (
	"context"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// discoveryService is cyxwiz.protocol.NodeDiscoveryService. It is public;
// a node's IP address and wallet are shown to its owner only.
type discoveryService struct {
	pb.UnimplementedNodeDiscoveryServiceServer
	*Server
}

// nodeToProto shows a node to the caller, hiding what only its owner may see.
func (s *Server) nodeToProto(ctx context.Context, v *projections.NodeView) *pb.NodeInfo {
	n := nodeSpecToProto(v.Spec)
	n.NodeId = v.ID
	n.ReputationScore = v.Reputation
	n.IsOnline = v.Online
	n.TotalJobsCompleted = v.JobsCompleted
	n.TotalComputeHours = int64(v.ComputeHours())
	n.UptimePercentage = v.Uptime(s.deps.Now())
	if t, ok := s.deps.Monitor.LastHeartbeat(v.ID); ok {
		n.LastHeartbeat = t.Unix()
	}
	if p, ok := principal(ctx); !ok || !p.ActsForNode(v.ID, v.Owner) {
		n.IpAddress, n.Port, n.WalletAddress = "", 0, ""
	}
	return n
}

// replyMargin is what a list reply keeps free of records, within the
// message limit, for its other fields and framing.
const replyMargin = 64 << 10

// nodesToProto shows the nodes that fit in one reply, in order.
func (s *Server) nodesToProto(ctx context.Context, views []projections.NodeView) []*pb.NodeInfo {
	out := make([]*pb.NodeInfo, len(views))
	for i := range views {
		out[i] = s.nodeToProto(ctx, &views[i])
	}
	return out[:fitReply(s, out)]
}

// fitReply is how many of items fit in one reply message.
func fitReply[T proto.Message](s *Server, items []T) int {
	budget := s.opts.MaxMessageBytes - min(replyMargin, s.opts.MaxMessageBytes/4)
	return projections.FitBytes(len(items), budget, func(i int) int { return proto.Size(items[i]) + 8 })
}

func checkDevice(field string, d pb.DeviceType) (domain.DeviceType, error) {
	dt := domain.DeviceType(d)
	if !dt.Valid() {
		return 0, invalidf("%s %d is not a device type", field, d)
	}
	return dt, nil
}

func checkSort(field string, v pb.FindNodesRequest_SortBy) (projections.NodeSort, error) {
	so := projections.NodeSort(v)
	if !so.Valid() {
		return 0, invalidf("%s %d is not a sort order", field, v)
	}
	return so, nil
}

func (s *discoveryService) FindNodes(ctx context.Context, req *pb.FindNodesRequest) (*pb.FindNodesResponse, error) {
	dev, err := checkDevice("required_device", req.GetRequiredDevice())
	if err != nil {
		return nil, err
	}
	sort, err := checkSort("sort_by", req.GetSortBy())
	if err != nil {
		return nil, err
	}
	if err := checkAmounts(amount{"min_reputation", req.GetMinReputation()}, amount{"max_price_per_hour", req.GetMaxPricePerHour()},
		amount{"max_price_usd", req.GetMaxPriceUsd()}, amount{"min_compute_score", req.GetMinComputeScore()}, amount{"min_stake", req.GetMinStake()}); err != nil {
		return nil, err
	}
	if req.GetMinReputation() > 1 {
		return nil, invalidf("min_reputation is 0..1, got %v", req.GetMinReputation())
	}
	if req.GetMinMemory() < 0 || req.GetMinVram() < 0 {
		return nil, invalidf("min_memory and min_vram must be ≥ 0 bytes")
	}
	if req.GetMaxResults() < 0 || req.GetMaxResults() > projections.MaxFindResults {
		return nil, invalidf("max_results must be within 0..%d, got %d", projections.MaxFindResults, req.GetMaxResults())
	}
	if len(req.GetAllowedRegions()) > 256 || len(req.GetBlockedRegions()) > 256 {
		return nil, invalidf("allowed_regions and blocked_regions may list at most 256 regions")
	}
	f := projections.NodeFindFilter{
		Device: dev, MinMemory: req.GetMinMemory(), MinReputation: req.GetMinReputation(),
		PreferredRegion: req.GetPreferredRegion(), AllowedRegions: req.GetAllowedRegions(), BlockedRegions: req.GetBlockedRegions(),
		MaxPricePerHour: req.GetMaxPricePerHour(), MaxPriceUSD: req.GetMaxPriceUsd(), RequireFreeTier: req.GetRequireFreeTier(),
		MinVRAM: req.GetMinVram(), MinComputeScore: req.GetMinComputeScore(), MinStake: req.GetMinStake(),
		Sort: sort, MaxResults: int(req.GetMaxResults()), Now: s.deps.Now(),
	}
	if b := req.GetPreferredBilling(); b != pb.NodePricing_BILLING_HOURLY {
		if b < 0 || b > pb.NodePricing_BILLING_PER_INFERENCE {
			return nil, invalidf("preferred_billing %d is not a billing model", b)
		}
		bm := int(b)
		f.PreferredBilling = &bm
	}
	m, err := s.deps.Nodes.FindNodes(ctx, f)
	if err != nil {
		return nil, toStatus(s.log, "FindNodes", err)
	}
	out := &pb.FindNodesResponse{TotalMatching: int32(m.TotalMatching), AvgPricePerHour: m.AvgPrice,
		MinPricePerHour: m.MinPrice, MaxPricePerHour: m.MaxPrice}
	// The best matches that fit in one message (the reply has no token:
	// total_matching says how many there are).
	out.Nodes = s.nodesToProto(ctx, m.Nodes)
	return out, nil
}

func (s *discoveryService) ListNodes(ctx context.Context, req *pb.ListNodesRequest) (*pb.ListNodesResponse, error) {
	size, err := checkPageSize("page_size", req.GetPageSize())
	if err != nil {
		return nil, err
	}
	dev, err := checkDevice("filter_device", req.GetFilterDevice())
	if err != nil {
		return nil, err
	}
	sort, err := checkSort("sort_by", req.GetSortBy())
	if err != nil {
		return nil, err
	}
	if err := checkAmounts(amount{"min_price_per_hour", req.GetMinPricePerHour()}, amount{"max_price_per_hour", req.GetMaxPricePerHour()}); err != nil {
		return nil, err
	}
	if err := checkString("filter_region", req.GetFilterRegion(), 128); err != nil {
		return nil, err
	}
	f := projections.NodeListFilter{
		OnlineOnly: req.GetOnlineOnly(), Device: dev, Region: req.GetFilterRegion(),
		MinPrice: req.GetMinPricePerHour(), MaxPrice: req.GetMaxPricePerHour(), Sort: sort,
		Descending: req.GetSortDescending(), PageSize: size, PageToken: req.GetPageToken(), Now: s.deps.Now(),
	}
	page, err := s.deps.Nodes.ListNodes(ctx, f)
	if err != nil {
		return nil, toStatus(s.log, "ListNodes", err)
	}
	nodes := s.nodesToProto(ctx, page.Nodes)
	projections.TrimNodes(&page, f, s.opts.MaxJobsPerNode, len(nodes))
	return &pb.ListNodesResponse{Nodes: nodes, NextPageToken: page.Next, TotalCount: int32(page.Total), OnlineCount: int32(page.Online),
		NetworkAvgPrice: page.NetworkAvgPrice, NetworkTotalCompute: page.NetworkTotalCompute}, nil
}

func (s *discoveryService) GetNodeInfo(ctx context.Context, req *pb.GetNodeInfoRequest) (*pb.GetNodeInfoResponse, error) {
	if err := checkID("node_id", req.GetNodeId()); err != nil {
		return nil, err
	}
	v, found, err := s.deps.Nodes.GetNode(ctx, req.GetNodeId())
	if err != nil {
		return nil, toStatus(s.log, "GetNodeInfo", err)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "node %s not found", req.GetNodeId())
	}
	return &pb.GetNodeInfoResponse{Info: s.nodeToProto(ctx, &v)}, nil
}

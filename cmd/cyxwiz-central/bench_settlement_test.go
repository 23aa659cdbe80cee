package main

// BenchmarkSettlement: paid jobs end to end on the LiteSVM test chain —
// real deposits, SubmitJob verifying each on chain, a node that accepts
// and completes every job over gRPC, and the saga paying each out (node
// 90 %, treasury 10 %, one transaction with a Memo) until confirmed. One
// op is one confirmed payout. Results are in docs/benchmarks.md.
//
//	go test ./cmd/cyxwiz-central -run '^$' -bench Settlement -benchtime 300x

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/solana/solanatest"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	solanago "github.com/gagliardetto/solana-go"
	"github.com/google/uuid"
	"google.golang.org/grpc"
)

// benchNode accepts every assignment and completes it at once.
type benchNode struct {
	pb.UnimplementedNodeServiceServer
	assigned chan string
}

func (n *benchNode) AssignJob(_ context.Context, req *pb.AssignJobRequest) (*pb.AssignJobResponse, error) {
	n.assigned <- req.GetJob().GetJobId()
	return &pb.AssignJobResponse{Status: pb.StatusCode_STATUS_SUCCESS, JobId: req.GetJob().GetJobId(), Accepted: true}, nil
}

func BenchmarkSettlement(b *testing.B) {
	for _, interval := range []int{50, 500} {
		b.Run(fmt.Sprintf("poll=%dms", interval), func(b *testing.B) { benchSettlement(b, interval) })
	}
}

func benchSettlement(b *testing.B, pollMS int) {
	tc := solanatest.Start(b)
	escrowKey, escrowPath := tc.NewFundedKeypair(10 * lamportsPerSOL)
	escrow := escrowKey.PublicKey().String()
	treasury := solanago.NewWallet().PublicKey().String()
	wallet := solanago.NewWallet().PublicKey().String()
	payerKey, _ := tc.NewFundedKeypair(uint64(b.N+1) * (jobLamports + 10_000))
	payerAddr := payerKey.PublicKey().String()
	a := startBenchApp(b, func(c *config.Config) {
		c.Scheduler.MaxJobsPerNode = b.N + 1
		c.Blockchain.Network = config.NetworkLocalnet
		c.Blockchain.SolanaRPCURL = tc.URL()
		c.Blockchain.PayerKeypairPath = escrowPath
		c.Blockchain.TreasuryAddress = treasury
		c.Blockchain.PlatformFeePercent = feePercent
		c.Blockchain.PollIntervalMS = pollMS
	})
	ctx := context.Background()

	// The node: a control server that accepts everything, registered with
	// its wallet, heartbeating.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	node := &benchNode{assigned: make(chan string, b.N+1)}
	gs := grpc.NewServer()
	pb.RegisterNodeServiceServer(gs, node)
	go gs.Serve(lis)
	b.Cleanup(gs.Stop)
	_, portStr, _ := net.SplitHostPort(lis.Addr().String())
	port, _ := strconv.Atoi(portStr)
	nodes := pb.NewNodeServiceClient(a.conns[0])
	info := nodeInfo("bench-node", int32(port-3), pb.DeviceType_DEVICE_CUDA, 24<<30)
	info.WalletAddress = wallet
	reg, err := nodes.RegisterNode(as(a.token("ops")), &pb.RegisterNodeRequest{Info: info})
	if err != nil {
		b.Fatal(err)
	}
	nodeID, session := reg.GetNodeId(), reg.GetSessionToken()
	if _, err := nodes.Heartbeat(as(session), &pb.HeartbeatRequest{NodeId: nodeID}); err != nil {
		b.Fatal(err)
	}
	stopBeat := make(chan struct{})
	defer close(stopBeat)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopBeat:
				return
			case <-t.C:
				nodes.Heartbeat(as(session), &pb.HeartbeatRequest{NodeId: nodeID})
			}
		}
	}()

	// Deposits and submissions (not timed): each job is escrowed on chain.
	alice, _, err := a.iss.MintUser("alice", payerAddr, "", 2*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	var jobs []string
	for i := range b.N {
		sig := tc.Transfer(payerKey, escrow, jobLamports)
		cfg := trainingJob()
		cfg.JobId, cfg.PaymentAmount, cfg.PaymentAddress, cfg.EscrowTxHash = uuid.NewString(), jobSOL, payerAddr, sig
		if _, err := a.jobs(i).SubmitJob(as(alice), &pb.SubmitJobRequest{Config: cfg}); err != nil {
			b.Fatalf("SubmitJob %d: %v", i, err)
		}
		jobs = append(jobs, cfg.JobId)
	}
	// Every job accepted and started before the clock starts.
	for range b.N {
		select {
		case id := <-node.assigned:
			if _, err := nodes.NotifyJobAccepted(as(session), &pb.JobAcceptedRequest{NodeId: nodeID, JobId: id}); err != nil {
				b.Fatal(err)
			}
		case <-time.After(time.Minute):
			b.Fatal("the node got too few assignments")
		}
	}
	treasuryBefore := tc.Balance(treasury)

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, benchClients)
	for i, id := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c := pb.NewNodeServiceClient(a.conns[i%len(a.conns)])
			if _, err := c.ReportCompletion(as(session), &pb.ReportCompletionRequest{NodeId: nodeID, JobId: id,
				Result: &pb.JobResult{JobId: id, Status: pb.StatusCode_STATUS_SUCCESS}}); err != nil {
				b.Errorf("ReportCompletion: %v", err)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(2*time.Minute + time.Duration(b.N)*50*time.Millisecond)
	for a.app.Settlement().Pending() > 0 || !allReleased(ctx, a.app.handler, jobs) {
		if time.Now().After(deadline) {
			b.Fatalf("%d settlements still pending", a.app.Settlement().Pending())
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	// Latency JobCompleted → PaymentReleased, from the log's record times.
	var lat latencies
	for _, id := range jobs {
		completed := recordedAt(b, a.app, domain.JobStream(id), "JobCompleted")
		released := recordedAt(b, a.app, domain.PaymentStream(id), "PaymentReleased")
		lat.add(released.Sub(completed))
	}
	fee := jobLamports * feePercent / 100
	if got, want := tc.Balance(wallet), uint64(b.N)*(jobLamports-fee); got != want {
		b.Fatalf("node wallet holds %d lamports, want %d", got, want)
	}
	if got, want := tc.Balance(treasury)-treasuryBefore, uint64(b.N)*fee; got != want {
		b.Fatalf("treasury got %d lamports, want %d", got, want)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "settlements/s")
	b.ReportMetric(lat.quantile(0.50), "p50-ms")
	b.ReportMetric(lat.quantile(0.95), "p95-ms")
	b.ReportMetric(lat.quantile(1), "max-ms")
}

func allReleased(ctx context.Context, h *commands.Handler, jobs []string) bool {
	for _, id := range jobs {
		o, err := h.PaymentState(ctx, id)
		if err != nil || !o.Released {
			return false
		}
	}
	return true
}

// recordedAt is when the first event of type name was recorded in stream.
func recordedAt(tb testing.TB, a *App, stream, name string) time.Time {
	tb.Helper()
	recs, err := a.store.ReadStream(context.Background(), stream, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range recs {
		if r.Type == name {
			return r.Recorded
		}
	}
	tb.Fatalf("%s has no %s", stream, name)
	return time.Time{}
}

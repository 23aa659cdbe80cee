package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cyxwiz/central-server/adapters/config"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

// BenchmarkEdgeLimits: the cost of [limits] on the hot path, SubmitJob
// and Heartbeat, with the limits off (the test harness) and on (rates and
// quotas checked on every call, set too high to refuse any: the cost of
// checking, not of refusing). benchClients users (or nodes) call at once.
//
//	go test ./cmd/cyxwiz-central -run '^$' -bench EdgeLimits -benchtime 3000x -count 3
func BenchmarkEdgeLimits(b *testing.B) {
	on := func(c *config.Config) {
		c.Limits = config.Default().Limits
		c.Limits.UserRequestsPerSecond, c.Limits.UserBurst = 1e9, 1e9
		c.Limits.NodeRequestsPerSecond, c.Limits.NodeBurst = 1e9, 1e9
		c.Limits.QueuedJobsPerUser = 1 << 30
	}
	for _, mode := range []struct {
		name  string
		tweak func(*config.Config)
	}{{"limits=off", func(*config.Config) {}}, {"limits=on", on}} {
		b.Run("SubmitJob/"+mode.name, func(b *testing.B) {
			a := startBenchApp(b, mode.tweak)
			tokens := make([]string, benchClients)
			for i := range tokens {
				tokens[i] = a.token(fmt.Sprintf("bench-user-%d", i))
			}
			runParallel(b, func(g int) error {
				_, err := a.jobs(g).SubmitJob(as(tokens[g]), &pb.SubmitJobRequest{Config: benchJob("")})
				return err
			})
		})
		b.Run("Heartbeat/"+mode.name, func(b *testing.B) {
			a := startBenchApp(b, mode.tweak)
			owner := a.token("bench-owner")
			ids, sessions := make([]string, benchClients), make([]string, benchClients)
			for i := range ids {
				r, err := pb.NewNodeServiceClient(a.conns[i%len(a.conns)]).RegisterNode(as(owner),
					&pb.RegisterNodeRequest{Info: nodeInfo(fmt.Sprint("bench-", i), 40000, pb.DeviceType_DEVICE_CUDA, 24<<30)})
				if err != nil {
					b.Fatal(err)
				}
				ids[i], sessions[i] = r.GetNodeId(), r.GetSessionToken()
			}
			runParallel(b, func(g int) error {
				_, err := pb.NewNodeServiceClient(a.conns[g%len(a.conns)]).Heartbeat(as(sessions[g]), &pb.HeartbeatRequest{
					NodeId: ids[g], CurrentStatus: &pb.NodeInfo{RamTotal: 32 << 30, RamAvailable: 16 << 30, CpuCores: 8}})
				return err
			})
		})
	}
}

// runParallel makes b.N calls of call from benchClients goroutines (g is
// the goroutine's index) and reports calls/s.
func runParallel(b *testing.B, call func(g int) error) {
	var next, failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range benchClients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := call(g); err != nil && failed.Add(1) == 1 {
					b.Errorf("call: %v", err)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

package cluster_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/cluster"
	"github.com/cyxwiz/central-server/adapters/cluster/redistest"
	"github.com/cyxwiz/central-server/commands"
)

// BenchmarkHeartbeatLease is what a heartbeat costs the lease store: a
// renewal and a sample check, for 10,000 nodes heartbeating from 32
// concurrent callers, with memory leases and with Redis leases (one round trip each
// to the local Redis).
func BenchmarkHeartbeatLease(b *testing.B) {
	const nodes, ttl = 10000, 30 * time.Second
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = fmt.Sprint("node-", i)
	}
	run := func(b *testing.B, leases commands.Leases) {
		gate, _ := leases.(commands.SampleGate)
		var next atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(16) // heartbeats arrive concurrently, one gRPC handler each
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := ids[next.Add(1)%nodes]
				now := time.Now()
				leases.Renew(id, now, ttl)
				if gate != nil {
					gate.SampleDue(id, now, time.Minute)
				}
			}
		})
	}
	b.Run("memory", func(b *testing.B) { run(b, commands.NewMemoryLeases()) })
	b.Run("redis", func(b *testing.B) {
		url := redistest.URL(b)
		opts := cluster.Options{URL: url, Prefix: redistest.Prefix(b, url)}
		rdb, err := cluster.Dial(b.Context(), opts)
		if err != nil {
			b.Fatal(err)
		}
		defer rdb.Close()
		run(b, cluster.NewLeases(rdb, opts, ttl, nil))
	})
}

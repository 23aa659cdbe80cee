package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/adapters/cluster"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/commands"
)

// joinCluster picks the node leases: in memory for one server, or shared
// in Redis (redis.url) with the leader election and the replica registry.
func (a *App) joinCluster(ctx context.Context) error {
	rc := a.cfg.Redis
	if rc.InMemory() {
		a.leases = commands.NewMemoryLeases()
		return nil
	}
	opts := cluster.Options{URL: rc.URL, Prefix: rc.KeyPrefix}
	rdb, err := cluster.Dial(ctx, opts)
	if err != nil {
		return fmt.Errorf("redis.url: %w", err)
	}
	a.rdb = rdb
	id := rc.ReplicaID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	log := a.log.With("component", "cluster", "replica", id)
	a.shared = cluster.NewLeases(rdb, opts, a.set.HeartbeatTimeout, log)
	a.leases = a.shared
	if rc.Leader == config.LeaderElect {
		a.leader = cluster.NewLeader(rdb, opts, id, rc.LeaderTTL(), log)
	} else {
		log.Warn("redis.leader = \"always\": this replica runs the leader's work regardless of the lease (fault injection)")
	}
	a.registry = cluster.NewRegistry(rdb, opts, rc.LeaderTTL())
	a.replicaID = id
	log.Info("joined the cluster in Redis", "prefix", rc.KeyPrefix, "leader_ttl", rc.LeaderTTL(), "leader", rc.Leader)
	return nil
}

// lead runs what must run once in the cluster — the schedulers (which
// dispatch) and the timeouts — until ctx ends; the settlement saga follows
// the log everywhere and drives payouts only while leading.
func (a *App) lead(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range a.scheds {
		wg.Go(func() { a.logStopped(s.Run(ctx)) })
	}
	wg.Go(func() { a.logStopped(a.timeouts.Run(ctx)) })
	a.kick()
	if a.settlement != nil {
		a.settlement.Kick()
	}
	wg.Wait()
}

// leading reports whether this replica does the leader's work now.
func (a *App) leading() bool { return a.leader == nil || a.leader.IsLeader() }

// runRegistry keeps this replica registered while it serves.
func (a *App) runRegistry(ctx context.Context) {
	if a.registry == nil {
		return
	}
	started := a.set.Now()
	a.registry.Run(ctx, func() cluster.Replica {
		return cluster.Replica{ID: a.replicaID, GRPC: a.GRPCAddr(), REST: a.RESTAddr(), Started: started, Leader: a.leading()}
	})
}

// redisHealth is "memory" with in-memory leases, "down" while Redis does
// not answer, else "ok" with the cluster in the detail: replicas, leader
// and its lease.
func (a *App) redisHealth(ctx context.Context) rest.Component {
	if a.rdb == nil {
		return rest.Component{Status: rest.ComponentMemory}
	}
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		return rest.Component{Status: rest.ComponentDown, Detail: "Redis: " + err.Error()}
	}
	return rest.Component{Status: rest.ComponentOK, Detail: a.clusterDetail(ctx)}
}

// clusterDetail says who serves and who leads, e.g. "3 replicas (a, b, c);
// leader b (token 7, lease 4.2s left, leading 1m3s)".
func (a *App) clusterDetail(ctx context.Context) string {
	var b strings.Builder
	if reps, err := a.registry.List(ctx); err == nil {
		ids := make([]string, len(reps))
		for i, r := range reps {
			ids[i] = r.ID
		}
		fmt.Fprintf(&b, "%d replicas (%s); this is %s", len(reps), strings.Join(ids, ", "), a.replicaID)
	}
	if a.leader == nil {
		b.WriteString("; leads regardless of the lease (redis.leader = \"always\")")
		return b.String()
	}
	st, err := a.leader.State(ctx)
	switch {
	case err != nil:
	case st.Leader == "":
		b.WriteString("; no leader (election in progress)")
	default:
		fmt.Fprintf(&b, "; leader %s (token %d, lease %s left", st.Leader, st.Token, st.Expires.Round(time.Millisecond))
		if st.Self {
			fmt.Fprintf(&b, ", leading %s", a.set.Now().Sub(st.Since).Round(time.Second))
		}
		b.WriteString(")")
	}
	return b.String()
}

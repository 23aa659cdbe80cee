package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/cluster"
	"github.com/cyxwiz/central-server/adapters/cluster/redistest"
	"github.com/redis/go-redis/v9"
)

// replicas returns n Leases of one cluster (one key prefix), each with its
// own connection, as n servers would hold.
func replicas(t *testing.T, url string, n int, ttl time.Duration) []*cluster.Leases {
	t.Helper()
	opts := cluster.Options{URL: url, Prefix: redistest.Prefix(t, url), Timeout: 2 * time.Second}
	out := make([]*cluster.Leases, n)
	for i := range out {
		rdb, err := cluster.Dial(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		out[i] = cluster.NewLeases(rdb, opts, ttl, nil)
	}
	// The first sweep of a cluster re-arms (Redis had nothing): do it.
	out[0].Expire(time.Unix(1000, 0))
	out[0].Resumed()
	return out
}

// TestLeasesOnlineOnceOfflineOnce: 3 replicas hear the same nodes at once
// and sweep at once: each node's lease starts for exactly one of them and
// each lapsed lease goes to exactly one sweeper.
func TestLeasesOnlineOnceOfflineOnce(t *testing.T) {
	const nodes, ttl = 50, 10 * time.Second
	rs := replicas(t, redistest.URL(t), 3, ttl)
	t0 := time.Unix(1000, 0)
	started := make([]int, nodes)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range rs {
		for n := range nodes {
			wg.Go(func() {
				if r.Renew(fmt.Sprint("node-", n), t0, ttl) {
					mu.Lock()
					started[n]++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for n, c := range started {
		if c != 1 {
			t.Errorf("node-%d: lease started %d times, want 1", n, c)
		}
	}
	// Half the nodes keep heartbeating; the sweeps run at t0+ttl/4 steps,
	// as the monitor does, so no gap is seen.
	for step := 1; step <= 5; step++ {
		now := t0.Add(time.Duration(step) * ttl / 4)
		for n := 0; n < nodes; n += 2 {
			rs[n%3].Renew(fmt.Sprint("node-", n), now, ttl)
		}
		got := map[string]int{}
		for _, r := range rs {
			wg.Go(func() {
				ids := r.Expire(now)
				mu.Lock()
				for _, id := range ids {
					got[id]++
				}
				mu.Unlock()
				for _, id := range ids {
					r.Settled(id)
				}
			})
		}
		wg.Wait()
		if step < 5 {
			if len(got) != 0 {
				t.Fatalf("step %d: expired %v before the timeout", step, got)
			}
			continue
		}
		for n := range nodes {
			id := fmt.Sprint("node-", n)
			want := n % 2
			if got[id] != want {
				t.Errorf("%s expired %d times, want %d", id, got[id], want)
			}
			if _, ok := rs[2].LastSeen(id); ok != (want == 0) {
				t.Errorf("%s: LastSeen ok = %v, want %v", id, ok, want == 0)
			}
		}
	}
}

// TestLeasesClaimOfAVanishedSweeper: a lapsed lease claimed by a sweeper
// that never settles it (it died) goes to another sweeper one timeout
// later; a settled one never comes back; a heartbeat after the claim
// starts a new lease.
func TestLeasesClaimOfAVanishedSweeper(t *testing.T) {
	const ttl = 4 * time.Second
	rs := replicas(t, redistest.URL(t), 2, ttl)
	t0 := time.Unix(1000, 0)
	for _, id := range []string{"dies", "settled", "returns"} {
		rs[0].Renew(id, t0, ttl)
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	sweep := func(r *cluster.Leases, now time.Time) []string {
		ids := r.Expire(now)
		slices.Sort(ids)
		return ids
	}
	for d := time.Second; d <= ttl; d += time.Second {
		if got := sweep(rs[1], at(d)); len(got) != 0 {
			t.Fatalf("at %s: expired %v", d, got)
		}
	}
	if got := sweep(rs[0], at(ttl+time.Second)); !slices.Equal(got, []string{"dies", "returns", "settled"}) {
		t.Fatalf("expired %v", got)
	}
	rs[0].Settled("settled")
	if !rs[1].Renew("returns", at(ttl+2*time.Second), ttl) {
		t.Error("a heartbeat after the claim did not start a new lease")
	}
	var later []string
	for d := ttl + 2*time.Second; d <= 2*ttl+2*time.Second; d += time.Second {
		later = append(later, sweep(rs[1], at(d))...)
	}
	if !slices.Equal(later, []string{"dies"}) {
		t.Errorf("after the claims lapsed, sweeps returned %v, want [dies] only", later)
	}
}

// TestLeasesSampleOncePerInterval: three replicas asked for every
// heartbeat book one sample per interval between them.
func TestLeasesSampleOncePerInterval(t *testing.T) {
	rs := replicas(t, redistest.URL(t), 3, 10*time.Second)
	const interval = 300 * time.Millisecond
	booked := 0
	start := time.Now()
	for time.Since(start) < 3*interval+interval/2 {
		for _, r := range rs {
			if r.SampleDue("n1", time.Now(), interval) {
				booked++
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if booked < 2 || booked > 4 {
		t.Errorf("%d samples booked in %.1f intervals by 3 replicas, want one per interval", booked, 3.5)
	}
}

// TestLeasesGapRearms: a sweep after a gap of more than half a timeout
// (no replica swept: Redis was unreachable) gives every lease a full
// timeout instead of expiring it, and reports it once.
func TestLeasesGapRearms(t *testing.T) {
	const ttl = 10 * time.Second
	rs := replicas(t, redistest.URL(t), 2, ttl)
	t0 := time.Unix(1000, 0)
	rs[0].Renew("n1", t0, ttl)
	rs[1].Expire(t0.Add(ttl / 4))
	after := t0.Add(ttl + 20*time.Second) // 20s without a sweep
	if got := rs[1].Expire(after); len(got) != 0 {
		t.Fatalf("after the gap, expired %v", got)
	}
	if !rs[1].Resumed() || rs[1].Resumed() {
		t.Error("Resumed did not report the re-arm exactly once")
	}
	for d := ttl / 4; d <= ttl; d += ttl / 4 {
		if got := rs[0].Expire(after.Add(d)); len(got) != 0 {
			t.Fatalf("%s after the re-arm, expired %v", d, got)
		}
	}
	if got := rs[0].Expire(after.Add(ttl + ttl/8)); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("a timeout after the re-arm, expired %v, want [n1]", got)
	}
}

// TestLeasesRedisOutage: with its Redis stopped, Renew reports no new
// lease, Expire none and Down is true; once Redis is back (empty, as a
// restarted cache), the first sweep reports the resumption and leases
// start again.
func TestLeasesRedisOutage(t *testing.T) {
	srv := redistest.NewServer(t)
	const ttl = 10 * time.Second
	opts := cluster.Options{URL: srv.URL, Prefix: "outage:", Timeout: 300 * time.Millisecond}
	rdb, err := cluster.Dial(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	l := cluster.NewLeases(rdb, opts, ttl, nil)
	t0 := time.Unix(1000, 0)
	l.Expire(t0)
	l.Resumed()
	if !l.Renew("n1", t0, ttl) {
		t.Fatal("first heartbeat did not start a lease")
	}
	srv.Stop(t)
	if l.Renew("n1", t0.Add(time.Second), ttl) {
		t.Error("Renew reported a new lease with Redis down")
	}
	if got := l.Expire(t0.Add(time.Hour)); got != nil {
		t.Errorf("Expire with Redis down = %v", got)
	}
	if down, err := l.Down(); !down || err == nil {
		t.Errorf("Down() = %v, %v with Redis stopped", down, err)
	}
	srv.Start(t)
	now := t0.Add(time.Hour)
	if got := l.Expire(now); len(got) != 0 || !l.Resumed() {
		t.Errorf("first sweep after the restart: expired %v, resumed reported: false", got)
	}
	if down, _ := l.Down(); down {
		t.Error("still down after Redis answered")
	}
	if !l.Renew("n1", now, ttl) {
		t.Error("a heartbeat after Redis lost its data did not start a lease")
	}
}

// TestLeaderOneAtATime: three electors; one leads at a time; when it
// stops, another takes over within the TTL plus one poll; a lease stolen
// from the leader makes it step down at its next renewal.
func TestLeaderOneAtATime(t *testing.T) {
	url := redistest.URL(t)
	const ttl = 600 * time.Millisecond
	opts := cluster.Options{URL: url, Prefix: redistest.Prefix(t, url), Timeout: time.Second}
	var mu sync.Mutex
	leading := map[string]bool{}
	overlap := false
	type elector struct {
		l    *cluster.Leader
		stop context.CancelFunc
		done chan struct{}
	}
	es := map[string]*elector{}
	for _, id := range []string{"a", "b", "c"} {
		rdb, err := cluster.Dial(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		ctx, cancel := context.WithCancel(t.Context())
		e := &elector{l: cluster.NewLeader(rdb, opts, id, ttl, nil), stop: cancel, done: make(chan struct{})}
		es[id] = e
		go func() {
			defer close(e.done)
			e.l.Run(ctx, func(ctx context.Context) {
				mu.Lock()
				for other, on := range leading {
					if on && other != id {
						overlap = true
					}
				}
				leading[id] = true
				mu.Unlock()
				<-ctx.Done()
				mu.Lock()
				leading[id] = false
				mu.Unlock()
			})
		}()
	}
	t.Cleanup(func() {
		for _, e := range es {
			e.stop()
			<-e.done
		}
	})
	leader := func(timeout time.Duration) (string, time.Duration) {
		start := time.Now()
		for time.Since(start) < timeout {
			mu.Lock()
			for id, on := range leading {
				if on {
					mu.Unlock()
					return id, time.Since(start)
				}
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no leader within %s", timeout)
		return "", 0
	}
	first, _ := leader(10 * time.Second)
	// Graceful stop releases the lease: the next takes over within a poll.
	es[first].stop()
	<-es[first].done
	second, took := leader(10 * time.Second)
	if second == first || took > ttl+ttl/3+time.Second {
		t.Errorf("after %s stopped, %s led after %s", first, second, took)
	}
	// Steal the lease: the holder steps down at its next renewal.
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(o)
	defer rdb.Close()
	if err := rdb.Set(t.Context(), opts.Prefix+"leader", "thief#999", ttl).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		on := leading[second]
		mu.Unlock()
		if !on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still leads 10s after its lease was stolen", second)
		}
		time.Sleep(5 * time.Millisecond)
	}
	third, _ := leader(10 * time.Second)
	st, err := es[third].l.State(t.Context())
	if err != nil || st.Leader != third || !st.Self || st.Token < 3 {
		t.Errorf("state of the leader after the theft expired: %+v, %v", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("two electors led at once")
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/cluster/redistest"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/grpcclient"
	"github.com/cyxwiz/central-server/adapters/nodesim"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	pglog "github.com/cyxwiz/central-server/eventstore/postgres"
	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	solanago "github.com/gagliardetto/solana-go"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
)

// Cluster test timings: a short leader lease and heartbeat timeout, so a
// failover takes seconds.
const (
	clusterLeaderTTL = 2 * time.Second
	clusterCapacity  = 2 // jobs per node
)

// testCluster is three server processes on one PostgreSQL log (a schema
// of the test's) and one Redis (a key prefix of the test's), each on fixed
// loopback ports so that a restarted replica is found where it was.
type testCluster struct {
	t        testing.TB
	pgURL    string
	schema   string
	redisURL string
	prefix   string
	extra    [][]string // per replica: extra environment
	grpc     []string
	rest     []string
	procs    []*serverProcess
	rdb      *redis.Client
	iss      *auth.Issuer
	pool     *pgxpool.Pool // the log's database, for the checks
}

// pg is a pool on the log's database.
func (c *testCluster) pg() *pgxpool.Pool {
	if c.pool == nil {
		pool, err := pgxpool.New(context.Background(), c.pgURL)
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(pool.Close)
		c.pool = pool
	}
	return c.pool
}

// newCluster starts n replicas; redisURL "" is the shared test Redis.
func newCluster(t testing.TB, n int, redisURL string, extra ...[]string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, pgURL: pgtest.URL(t), iss: auth.NewIssuer([]byte(testSecret), nil)}
	c.schema = pgtest.Schema(t, c.pgURL)
	if redisURL == "" {
		redisURL = redistest.URL(t)
		c.prefix = redistest.Prefix(t, redisURL)
	} else {
		c.prefix = "cluster-test:"
	}
	c.redisURL = redisURL
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c.rdb = redis.NewClient(o)
	t.Cleanup(func() { c.rdb.Close() })
	c.extra = extra
	c.procs = make([]*serverProcess, n)
	for range n {
		c.grpc = append(c.grpc, freeAddr(t))
		c.rest = append(c.rest, freeAddr(t))
	}
	for i := range n {
		c.start(i) // in turn: start fails the test, from the test's goroutine only
	}
	return c
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serverProcess is `cyxwiz-central serve` running as a separate OS
// process.
type serverProcess struct {
	cmd  *exec.Cmd
	grpc string        // gRPC address it serves
	logs func() string // its output so far
}

// runServerProcess starts a server process (serveProcess), killed with
// SIGKILL when the test ends.
func runServerProcess(t testing.TB, env []string) *serverProcess {
	t.Helper()
	cmd, addr, logs := serveProcess(t, env, 60*time.Second)
	p := &serverProcess{cmd: cmd, grpc: addr, logs: logs}
	t.Cleanup(p.kill)
	return p
}

// kill ends the process with SIGKILL and waits for it.
func (p *serverProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// replicaID names replica i.
func replicaID(i int) string { return fmt.Sprintf("r%d", i) }

func (c *testCluster) env(i int) []string {
	env := []string{
		"CYXWIZ_EVENTSTORE_BACKEND=postgres", "CYXWIZ_EVENTSTORE_POSTGRES_URL=" + c.pgURL,
		"CYXWIZ_EVENTSTORE_POSTGRES_SCHEMA=" + c.schema, "CYXWIZ_EVENTSTORE_DATA_DIR=" + c.t.TempDir(),
		"CYXWIZ_JWT_SECRET=" + testSecret, "CYXWIZ_DATABASE_URL=",
		"CYXWIZ_REDIS_URL=" + c.redisURL, "CYXWIZ_REDIS_KEY_PREFIX=" + c.prefix,
		fmt.Sprintf("CYXWIZ_REDIS_LEADER_TTL_MS=%d", clusterLeaderTTL.Milliseconds()),
		"CYXWIZ_REDIS_REPLICA_ID=" + replicaID(i),
		"CYXWIZ_SERVER_GRPC_ADDRESS=" + c.grpc[i], "CYXWIZ_SERVER_REST_ADDRESS=" + c.rest[i],
		"CYXWIZ_SERVER_SHUTDOWN_GRACE_SECONDS=2",
		"CYXWIZ_SCHEDULER_POLLING_INTERVAL_MS=100", fmt.Sprintf("CYXWIZ_SCHEDULER_MAX_JOBS_PER_NODE=%d", clusterCapacity),
		"CYXWIZ_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS=3", "CYXWIZ_SCHEDULER_ACCEPT_TIMEOUT_SECONDS=3",
		"CYXWIZ_SCHEDULER_DISPATCH_ATTEMPTS=2", "CYXWIZ_SCHEDULER_DISPATCH_BACKOFF_MS=50",
		"CYXWIZ_SCHEDULER_MAX_RETRIES=100", "CYXWIZ_LOG=info",
	}
	if i < len(c.extra) {
		env = append(env, c.extra[i]...)
	}
	return env
}

// start (re)starts replica i and waits until it serves.
func (c *testCluster) start(i int) { c.procs[i] = runServerProcess(c.t, c.env(i)) }

// kill ends replica i with SIGKILL.
func (c *testCluster) kill(i int) { c.procs[i].kill() }

// addrs is every replica's gRPC address, as clients are given them.
func (c *testCluster) addrs() string { return strings.Join(c.grpc, ",") }

// leader is the replica holding the leader lease (-1: none).
func (c *testCluster) leader() int {
	v, err := c.rdb.Get(context.Background(), c.prefix+"leader").Result()
	if err != nil {
		return -1
	}
	holder, _, _ := strings.Cut(v, "#")
	for i := range c.procs {
		if replicaID(i) == holder {
			return i
		}
	}
	return -1
}

// waitLeader waits until a replica other than not leads, and says how long
// that took.
func (c *testCluster) waitLeader(not int, timeout time.Duration) (int, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for {
		if l := c.leader(); l >= 0 && l != not {
			return l, time.Since(start)
		}
		if time.Since(start) > timeout {
			c.t.Fatalf("no new leader (other than r%d) within %s", not, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// health reads replica i's /api/health (zero when it does not answer).
func (c *testCluster) health(i int) rest.HealthJSON {
	var h rest.HealthJSON
	resp, err := http.Get("http://" + c.rest[i] + "/api/health")
	if err != nil {
		return h
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&h)
	return h
}

// clients returns a connection spread over every replica, as a client or
// node is given one address for the cluster.
func (c *testCluster) conn() *grpc.ClientConn {
	c.t.Helper()
	cc, err := grpcclient.Dial(c.addrs())
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cc.Close() })
	return cc
}

func (c *testCluster) token(sub string) string { return c.walletToken(sub, "") }

// walletToken is a user token whose wallet_address claim is wallet (a
// paid job's payer must hold one).
func (c *testCluster) walletToken(sub, wallet string) string {
	tok, _, err := c.iss.MintUser(sub, wallet, "", time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// fleet starts n simulated nodes heartbeating through one connection
// spread over every replica; tune (optional) adjusts the fleet.
func (c *testCluster) fleet(n int, tune ...func(*nodesim.FleetConfig)) *nodesim.Fleet {
	c.t.Helper()
	cfg := nodesim.FleetConfig{
		Count: n, Seed: 7, NamePrefix: "ha",
		Template: nodesim.Config{Conn: c.conn(), OwnerToken: c.token("fleet-owner"), MaxConcurrentJobs: clusterCapacity,
			TrainDuration: 150 * time.Millisecond, ProgressReports: 1, HeartbeatInterval: 300 * time.Millisecond,
			ReportAttempts: 20, CallTimeout: 10 * time.Second},
	}
	for _, fn := range tune {
		fn(&cfg)
	}
	f, err := nodesim.StartFleet(context.Background(), cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { f.Close() })
	return f
}

// load submits jobs from several clients, each with its own connection
// spread over every replica, at about rate jobs/s until stop; every job
// has a client-chosen id, so a retried submission is the same job.
type load struct {
	mu     sync.Mutex
	acked  []string
	failed []error
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (c *testCluster) load(clients int, rate float64) *load {
	l := &load{stop: make(chan struct{})}
	every := time.Duration(float64(clients) / rate * float64(time.Second))
	for g := range clients {
		jobs := pb.NewJobServiceClient(c.conn())
		tok := c.token(fmt.Sprintf("client-%d", g))
		l.wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-t.C:
				}
				id := uuid.NewString()
				ctx, cancel := context.WithTimeout(as(tok), 20*time.Second)
				_, err := jobs.SubmitJob(ctx, &pb.SubmitJobRequest{Config: benchJob(id)})
				cancel()
				l.mu.Lock()
				if err == nil {
					l.acked = append(l.acked, id)
				} else {
					l.failed = append(l.failed, fmt.Errorf("SubmitJob %s: %w", id, err))
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// end stops submitting; it returns the acknowledged jobs and the calls
// that failed after their retries.
func (l *load) end() ([]string, []error) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked), slices.Clone(l.failed)
}

// logReport is what checkClusterLog found.
type logReport struct {
	events, jobs, assignments, requeues int
	ended                               map[string]int    // job → terminal events
	completedOn                         map[string]string // job → the node that completed it
}

// readClusterLog checks the cluster's log (foldLog).
func (c *testCluster) readClusterLog() logReport {
	c.t.Helper()
	return foldLog(c.t, c.pgURL, c.schema, clusterCapacity)
}

// foldLog folds the whole PostgreSQL log in position order and fails at the
// first job assigned while not pending (held by two nodes), job requeued
// while not on a node (a double requeue), node over capacity — by its own
// stream's slots or by the jobs' streams —, or node going online (offline)
// while it already is.
func foldLog(t testing.TB, url, schema string, capacity int) logReport {
	t.Helper()
	st, err := pglog.Open(t.Context(), url, pglog.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.ReadAll(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	codec := commands.NewCodec()
	jobs := map[string]*domain.Job{}
	nodes := map[string]*domain.Node{}
	held := map[string]int{} // node → jobs assigned or running on it, by the jobs' streams
	holds := func(j *domain.Job) string {
		if s := j.Status(); s == domain.JobStatusAssigned || s == domain.JobStatusRunning {
			return j.Node()
		}
		return ""
	}
	rep := logReport{events: len(all), ended: map[string]int{}, completedOn: map[string]string{}}
	for _, rec := range all {
		v, err := codec.DecodeEvent(rec)
		if err != nil {
			t.Fatalf("event %d (%s): %v", rec.Position, rec.Type, err)
		}
		e := v.(domain.Event)
		switch {
		case strings.HasPrefix(rec.Stream, "job-"):
			j := jobs[rec.Stream]
			if j == nil {
				j = &domain.Job{}
				jobs[rec.Stream] = j
				rep.jobs++
			}
			switch ev := e.(type) {
			case domain.JobAssigned:
				// A job is on one node at a time: it is assigned only
				// from the queue.
				if j.Status() != domain.JobStatusPending {
					t.Fatalf("position %d: %s assigned to %s while %s on %q", rec.Position, rec.Stream, ev.NodeID, j.Status(), j.Node())
				}
				rep.assignments++
			case domain.JobRequeued:
				if s := j.Status(); s != domain.JobStatusAssigned && s != domain.JobStatusRunning {
					t.Fatalf("position %d: %s requeued while %s (a double requeue)", rec.Position, rec.Stream, s)
				}
				rep.requeues++
			case domain.JobCompleted:
				rep.ended[ev.JobID]++
				rep.completedOn[ev.JobID] = ev.NodeID
			case domain.JobFailed:
				rep.ended[ev.JobID]++
			case domain.JobCancelled:
				rep.ended[ev.JobID]++
			}
			if n := holds(j); n != "" {
				held[n]--
			}
			j.Apply(e)
			if n := holds(j); n != "" {
				if held[n]++; held[n] > capacity {
					t.Fatalf("position %d: %d jobs on node %s by their streams, capacity %d", rec.Position, held[n], n, capacity)
				}
			}
		case strings.HasPrefix(rec.Stream, "node-"):
			n := nodes[rec.Stream]
			if n == nil {
				n = &domain.Node{}
				nodes[rec.Stream] = n
			}
			switch e.(type) {
			case domain.NodeWentOnline:
				if n.Online() {
					t.Fatalf("position %d: %s went online while online", rec.Position, rec.Stream)
				}
			case domain.NodeWentOffline:
				if !n.Online() {
					t.Fatalf("position %d: %s went offline while offline", rec.Position, rec.Stream)
				}
			}
			n.Apply(e)
			if active := n.ActiveJobs(); len(active) > capacity {
				t.Fatalf("position %d: %s holds %d slots %v, capacity %d", rec.Position, rec.Stream, len(active), active, capacity)
			}
		}
	}
	return rep
}

// checkEveryJobEndedOnce waits until every acknowledged job has ended,
// then checks each ended exactly once and the log's invariants held.
func (c *testCluster) checkEveryJobEndedOnce(acked []string, timeout time.Duration) logReport {
	c.t.Helper()
	var rep logReport
	deadline := time.Now().Add(timeout)
	for {
		rep = c.readClusterLog()
		missing := 0
		for _, id := range acked {
			if rep.ended[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d of %d acknowledged jobs not ended within %s", missing, len(acked), timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for id, n := range rep.ended {
		if n != 1 {
			c.t.Errorf("job %s ended %d times", id, n)
		}
	}
	return rep
}

// TestClusterLeaderKilled: three replicas under a steady load from
// clients and 20 nodes spread over all three; the leader is killed with
// SIGKILL five times (and restarted): each time another replica leads
// within the lease TTL plus 2s; afterwards every acknowledged job exists
// and ended once, and the log shows no job held by two nodes, no node
// over capacity and no double requeue.
func TestClusterLeaderKilled(t *testing.T) {
	const kills = 5
	c := newCluster(t, 3, "")
	first, _ := c.waitLeader(-1, 30*time.Second)
	t.Logf("first leader r%d", first)
	eventually(t, 10*time.Second, "health to show the cluster", func() bool {
		h := c.health((first + 1) % 3)
		d := h.Details["redis"]
		return h.Components["redis"] == rest.ComponentOK && strings.Contains(d, "3 replicas (r0, r1, r2)") &&
			strings.Contains(d, fmt.Sprintf("leader r%d (token", first))
	})
	c.fleet(20)
	l := c.load(3, 15)
	var failovers []time.Duration
	for k := range kills {
		time.Sleep(time.Second) // steady load
		old := c.leader()
		if old < 0 {
			old, _ = c.waitLeader(-1, 30*time.Second)
		}
		c.kill(old)
		next, took := c.waitLeader(old, 30*time.Second)
		failovers = append(failovers, took)
		t.Logf("kill %d: r%d killed, r%d leads after %s", k+1, old, next, took.Round(time.Millisecond))
		if took > clusterLeaderTTL+2*time.Second {
			t.Errorf("kill %d: new leader after %s, want within TTL %s + 2s", k+1, took, clusterLeaderTTL)
		}
		c.start(old)
	}
	time.Sleep(time.Second)
	acked, failed := l.end()
	if len(acked) == 0 {
		t.Fatal("no job was acknowledged")
	}
	rep := c.checkEveryJobEndedOnce(acked, 120*time.Second)
	slices.Sort(failovers)
	t.Logf("failover times over %d kills: p50 %s, max %s; %d jobs acknowledged, %d submissions failed after retries; log: %d events, %d assignments, %d requeues",
		kills, failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond),
		len(acked), len(failed), rep.events, rep.assignments, rep.requeues)
	for _, err := range failed {
		// A kill may fail a call whose retries all met the dying
		// replica; nothing acknowledged is lost (checked above).
		t.Logf("failed after retries: %v", err)
	}
}

// TestClusterTwoLeaders: one replica runs the leader's work regardless of
// the lease (redis.leader = "always") while another holds it — two
// schedulers, two timeouts, two dispatchers at once on one log: every job
// still ends once, none is held by two nodes, no node goes over capacity.
func TestClusterTwoLeaders(t *testing.T) {
	c := newCluster(t, 2, "", []string{"CYXWIZ_LOG=debug"}, []string{"CYXWIZ_LOG=debug", "CYXWIZ_REDIS_LEADER=always"})
	if l, _ := c.waitLeader(-1, 30*time.Second); l != 0 {
		t.Fatalf("r%d took the lease; only r0 takes part in the election", l)
	}
	c.fleet(10)
	l := c.load(2, 20)
	time.Sleep(6 * time.Second)
	acked, failed := l.end()
	for _, err := range failed {
		t.Errorf("%v", err)
	}
	rep := c.checkEveryJobEndedOnce(acked, 120*time.Second)
	both := 0
	for i := range c.procs {
		if n := strings.Count(c.procs[i].logs(), `"job assigned"`); n > 0 {
			both++
		}
	}
	if both < 2 {
		t.Errorf("only %d of 2 replicas assigned jobs: the two leaders did not both run", both)
	}
	t.Logf("two leaders: %d jobs, %d assignments, %d requeues, all ended once", len(acked), rep.assignments, rep.requeues)
}

// TestClusterRedisOutage: Redis (a throwaway server of the test's) is
// stopped for 20s under load and started again, empty: no node goes
// offline because of it, nothing acknowledged is lost, and node leases
// work again afterwards.
func TestClusterRedisOutage(t *testing.T) {
	srv := redistest.NewServer(t)
	c := newCluster(t, 3, srv.URL)
	c.waitLeader(-1, 30*time.Second)
	fleet := c.fleet(10)
	l := c.load(3, 10)
	time.Sleep(2 * time.Second)
	srv.Stop(t)
	t.Log("Redis stopped")
	outage := time.Now()
	if h := c.health(1); h.Components["redis"] != rest.ComponentDown || h.Status != rest.StatusDegraded {
		t.Errorf("health during the outage: %+v, want redis down, degraded", h)
	}
	time.Sleep(20*time.Second - time.Since(outage))
	srv.Start(t)
	t.Log("Redis started again (empty)")
	c.waitLeader(-1, 30*time.Second)
	time.Sleep(5 * time.Second) // more than a heartbeat timeout
	acked, failed := l.end()
	for _, err := range failed {
		t.Errorf("%v", err)
	}
	c.checkEveryJobEndedOnce(acked, 120*time.Second)
	offline := 0
	for i := range c.procs {
		offline += strings.Count(c.procs[i].logs(), `"node went offline"`)
	}
	if offline > 0 {
		t.Errorf("%d nodes went offline during or after the Redis outage", offline)
	}
	for _, n := range fleet.Nodes() {
		if n.Stats().Heartbeats == 0 {
			t.Errorf("node %s: no heartbeat acknowledged", n.ID())
		}
	}
	// Liveness works again: a node that stops is taken offline.
	victim := fleet.Nodes()[0]
	id := victim.ID()
	victim.Close()
	eventually(t, 30*time.Second, "the stopped node to go offline", func() bool {
		for i := range c.procs {
			for line := range strings.Lines(c.procs[i].logs()) {
				if strings.Contains(line, `"msg":"node went offline"`) && strings.Contains(line, id) {
					return true
				}
			}
		}
		return false
	})
}

// TestRedisURLRefusedWithTheEmbeddedLog: redis.url with the embedded log
// is refused at start, saying why.
func TestRedisURLRefusedWithTheEmbeddedLog(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Redis.URL = "redis://127.0.0.1:6379/0"
	_, err := NewApp(cfg, Settings{}, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "embedded log is a file one process holds") ||
		!strings.Contains(err.Error(), `eventstore.backend = "postgres"`) {
		t.Fatalf("NewApp = %v, want a refusal naming the embedded log and the way out", err)
	}
	cfg.EventStore.Backend, cfg.EventStore.PostgresURL = config.BackendPostgres, "postgres://127.0.0.1:5432/test"
	if _, err := NewApp(cfg, Settings{}, testLogger(t)); err != nil {
		t.Fatalf("redis.url with the PostgreSQL log: %v", err)
	}
}

// TestClusterRollingRestart: three replicas with their read models in one
// PostgreSQL schema, under load, are restarted one after the other
// (SIGTERM, then start): no client call fails after its retries, every
// job ends once, and afterwards `replay --verify` finds the read models
// equal to the log.
func TestClusterRollingRestart(t *testing.T) {
	url := pgtest.URL(t)
	rm := pgtest.Schema(t, url)
	shared := []string{"CYXWIZ_DATABASE_URL=" + url, "CYXWIZ_DATABASE_SCHEMA=" + rm}
	c := newCluster(t, 3, "", shared, shared, shared)
	c.waitLeader(-1, 30*time.Second)
	c.fleet(20)
	l := c.load(3, 15)
	for i := range c.procs {
		time.Sleep(time.Second)
		p := c.procs[i]
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("r%d did not stop cleanly: %v\n%s", i, err, tail(p.logs(), 20))
		}
		c.start(i)
		t.Logf("r%d restarted", i)
	}
	time.Sleep(time.Second)
	acked, failed := l.end()
	for _, err := range failed {
		t.Errorf("%v", err)
	}
	rep := c.checkEveryJobEndedOnce(acked, 120*time.Second)
	t.Logf("rolling restart: %d jobs, %d assignments, %d requeues, all ended once", len(acked), rep.assignments, rep.requeues)
	// Stop every replica cleanly: the read models catch up with the log.
	for i := range c.procs {
		_ = c.procs[i].cmd.Process.Signal(syscall.SIGTERM)
		_ = c.procs[i].cmd.Wait()
	}
	env := append(c.env(0), shared...)
	cmd := command(t, env, "replay", "--verify", "--config", "../../config.toml")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("replay --verify on the shared read models: %v\n%s", err, tail(string(out), 30))
	}
	t.Logf("replay --verify: %s", tail(string(out), 3))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestClusterSettlementLeaderKilled: 100 paid jobs on the LiteSVM test
// chain, some failing (refunds), through three replicas; the leader, which
// drives the settlement saga, is killed with SIGKILL mid-payout: every
// completed job's node is paid exactly once and every failed job refunded
// once, on the chain's balances and in the log.
func TestClusterSettlementLeaderKilled(t *testing.T) {
	const jobs, nodes, payers = 100, 10, 4
	pc := newPaidChain(t)
	chain := []string{"CYXWIZ_BLOCKCHAIN_NETWORK=localnet", "CYXWIZ_BLOCKCHAIN_SOLANA_RPC_URL=" + pc.tc.URL(),
		"CYXWIZ_BLOCKCHAIN_PAYER_KEYPAIR_PATH=" + pc.escrowPath, "CYXWIZ_BLOCKCHAIN_TREASURY_ADDRESS=" + pc.treasury,
		fmt.Sprintf("CYXWIZ_BLOCKCHAIN_PLATFORM_FEE_PERCENT=%d", feePercent), "CYXWIZ_BLOCKCHAIN_POLL_INTERVAL_MS=50"}
	c := newCluster(t, 3, "", chain, chain, chain)
	c.waitLeader(-1, 30*time.Second)

	wallets := make([]string, nodes)
	for i := range wallets {
		key, err := solanago.NewRandomPrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		wallets[i] = key.PublicKey().String()
	}
	// Deposits first: one per job, from a few payers.
	ps := make([]payer, payers)
	sigs := make([]string, jobs)
	var wg sync.WaitGroup
	for i := range ps {
		key, _ := pc.tc.NewFundedKeypair(uint64(jobs/payers+2) * jobLamports)
		ps[i] = payer{key: key, address: key.PublicKey().String()}
		wg.Go(func() {
			for j := i; j < jobs; j += payers {
				sigs[j] = pc.deposit(ps[i], jobLamports)
			}
		})
	}
	wg.Wait()
	payerBefore := make([]uint64, payers)
	for i, p := range ps {
		payerBefore[i] = pc.tc.Balance(p.address)
	}
	treasuryBefore := pc.tc.Balance(pc.treasury)

	fleet := c.fleet(nodes, func(f *nodesim.FleetConfig) {
		f.Wallets = wallets
		f.Template.FailureProbability = 0.25
		f.Template.TrainDuration = 800 * time.Millisecond // payouts trickle over seconds
	})
	walletOf := map[string]string{}
	for i, n := range fleet.Nodes() {
		walletOf[n.ID()] = wallets[i]
	}
	jobsAPI := pb.NewJobServiceClient(c.conn())
	ids := make([]string, jobs)
	payerOf := map[string]int{}
	for j := range jobs {
		ids[j] = uuid.NewString()
		payerOf[ids[j]] = j % payers
		tok := c.walletToken(fmt.Sprintf("payer-%d", j%payers), ps[j%payers].address)
		cfg := paidJob(ps[j%payers], sigs[j])
		cfg.JobId = ids[j]
		if _, err := jobsAPI.SubmitJob(as(tok), &pb.SubmitJobRequest{Config: cfg}); err != nil {
			t.Fatalf("SubmitJob %d: %v", j, err)
		}
	}
	// Mid-payout: some payouts are out, most are not.
	eventually(t, 60*time.Second, "the first payouts", func() bool {
		return c.countEvents("PaymentReleaseSubmitted") >= 5
	})
	leader := c.leader()
	c.kill(leader)
	next, took := c.waitLeader(leader, 30*time.Second)
	t.Logf("leader r%d killed with %d payouts submitted; r%d leads after %s", leader,
		c.countEvents("PaymentReleaseSubmitted"), next, took.Round(time.Millisecond))
	c.start(leader)

	// Every payment settles once.
	var settled map[string][]string
	eventually(t, 120*time.Second, "every payment settled", func() bool {
		settled = c.paymentOutcomes()
		n := 0
		for _, id := range ids {
			if len(settled[id]) > 0 {
				n++
			}
		}
		return n == jobs
	})
	rep := c.readClusterLog()
	paid := map[string]uint64{} // wallet → lamports expected
	refunds := make([]uint64, payers)
	completed := 0
	fee := jobLamports * feePercent / 100
	for _, id := range ids {
		out := settled[id]
		if len(out) != 1 {
			t.Errorf("job %s settled %d times: %v", id, len(out), out)
			continue
		}
		switch out[0] {
		case "PaymentReleased":
			completed++
			paid[walletOf[rep.completedOn[id]]] += jobLamports - fee
		case "PaymentRefunded":
			refunds[payerOf[id]] += jobLamports
		default:
			t.Errorf("job %s: payment ended %s", id, out[0])
		}
	}
	for w, want := range paid {
		if got := pc.tc.Balance(w); got != want {
			t.Errorf("node wallet %s holds %d lamports, want %d (each of its jobs paid once)", w, got, want)
		}
	}
	if got := pc.tc.Balance(pc.treasury) - treasuryBefore; got != uint64(completed)*fee {
		t.Errorf("treasury got %d, want %d (%d fees)", got, uint64(completed)*fee, completed)
	}
	for i, p := range ps {
		if got := pc.tc.Balance(p.address) - payerBefore[i]; got != refunds[i] {
			t.Errorf("payer %d got back %d, want %d (each failed job refunded once)", i, got, refunds[i])
		}
	}
	t.Logf("%d jobs paid out, %d refunded, across the leader's death", completed, jobs-completed)
}

// countEvents counts the log's events of type name.
func (c *testCluster) countEvents(name string) int {
	var n int
	err := c.pg().QueryRow(context.Background(),
		"SELECT count(*) FROM "+pgx.Identifier{c.schema, "events"}.Sanitize()+" WHERE type = $1", name).Scan(&n)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// paymentOutcomes maps each job to its payment's terminal events
// (PaymentReleased, PaymentRefunded, PaymentFailed), from the log.
func (c *testCluster) paymentOutcomes() map[string][]string {
	rows, err := c.pg().Query(context.Background(), "SELECT stream, type FROM "+pgx.Identifier{c.schema, "events"}.Sanitize()+
		" WHERE type IN ('PaymentReleased', 'PaymentRefunded', 'PaymentFailed') ORDER BY position")
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string][]string{}
	for rows.Next() {
		var stream, typ string
		if err := rows.Scan(&stream, &typ); err != nil {
			c.t.Fatal(err)
		}
		id, _ := strings.CutPrefix(stream, "payment-")
		out[id] = append(out[id], typ)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// BenchmarkClusterHeartbeats: 10,000 nodes heartbeating every 10s
// (1,000 heartbeats/s) spread over three replicas with Redis leases, for
// two rounds after all registered: it reports heartbeat latency, how late
// the heartbeats were sent against their schedule (the load generator
// falling behind) and fails if any node went offline or any heartbeat
// failed. One iteration whatever b.N (-benchtime 1x).
func BenchmarkClusterHeartbeats(b *testing.B) {
	const nodes, every, rounds, workers = 10_000, 10 * time.Second, 2, 256
	c := newCluster(b, 3, "", []string{"CYXWIZ_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS=30"},
		[]string{"CYXWIZ_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS=30"},
		[]string{"CYXWIZ_SCHEDULER_HEARTBEAT_TIMEOUT_SECONDS=30"})
	c.waitLeader(-1, 30*time.Second)
	conns := make([]pb.NodeServiceClient, 8)
	for i := range conns {
		conns[i] = pb.NewNodeServiceClient(c.conn())
	}
	owner := c.token("hb-owner")
	ids, sessions := make([]string, nodes), make([]string, nodes)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < nodes; i += workers {
				info := nodeInfo(fmt.Sprintf("hb-%05d", i), int32(20000+i%40000), pb.DeviceType_DEVICE_CUDA, 24<<30)
				resp, err := conns[i%len(conns)].RegisterNode(as(owner), &pb.RegisterNodeRequest{Info: info})
				if err != nil {
					b.Errorf("register %d: %v", i, err)
					return
				}
				ids[i], sessions[i] = resp.GetNodeId(), resp.GetSessionToken()
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.Fatalf("replica r0's log:\n%s", tail(c.procs[0].logs(), 15))
	}
	b.Logf("%d nodes registered in %s", nodes, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	type beat struct{ late, took time.Duration }
	beats := make(chan beat, 1024)
	var lat, late latencies
	var failed atomic.Int64
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for bt := range beats {
			lat.add(bt.took)
			late.add(bt.late)
		}
	}()
	t0 := time.Now().Add(100 * time.Millisecond)
	for w := range workers {
		wg.Go(func() {
			for k := w; k < nodes*rounds; k += workers {
				i := k % nodes
				due := t0.Add(time.Duration(k/nodes)*every + every*time.Duration(i)/nodes)
				time.Sleep(time.Until(due))
				sent := time.Now()
				_, err := conns[i%len(conns)].Heartbeat(as(sessions[i]), &pb.HeartbeatRequest{NodeId: ids[i]})
				if err != nil {
					failed.Add(1)
				}
				beats <- beat{late: sent.Sub(due), took: time.Since(sent)}
			}
		})
	}
	wg.Wait()
	close(beats)
	<-collected
	b.StopTimer()
	offline := 0
	for i := range c.procs {
		offline += strings.Count(c.procs[i].logs(), `"msg":"node went offline"`)
	}
	if failed.Load() > 0 || offline > 0 {
		b.Errorf("%d heartbeats failed, %d nodes went offline", failed.Load(), offline)
	}
	b.ReportMetric(float64(nodes)/every.Seconds(), "heartbeats/s")
	b.ReportMetric(lat.quantile(0.5), "p50-ms")
	b.ReportMetric(lat.quantile(0.99), "p99-ms")
	b.ReportMetric(late.quantile(0.99), "late-p99-ms")
	b.ReportMetric(late.quantile(1), "late-max-ms")
}

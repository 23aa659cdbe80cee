package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	grpcadapter "github.com/cyxwiz/central-server/adapters/grpc"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The hostile-client suite: each case is one attack of a user with valid
// tokens against a real server over loopback gRPC and HTTP. Every attack
// must be refused with its documented code (or, where want is OK,
// accepted and contained), the server must stay up with its RSS under
// hostileRSSBound, and an honest user's job lifecycle, run at the same
// time, must complete with its p99 call latency within 2× of an idle run
// measured in the same test (or of hostileLatencyFloor, whichever is
// larger, doubled under -race: on a busy 2-core CI machine a single call
// takes 50 to 150 ms whenever any goroutine of the test process is busy —
// and the attackers run in that process, on the server's cores — so a
// ratio of two tiny numbers would fail at random. The floor still catches
// what the limits are for: a flood making others wait seconds.)
//
// Cases of other files follow the same shape: append to a []edgeAttack
// and call runEdgeAttacks (part B's cases, hostile_nodes_test.go, use their own lighter runner).

// edgeAttack is one attack.
type edgeAttack struct {
	name string
	// attack runs the attack and returns the code the attacker was
	// finally answered (codes.OK when everything was accepted).
	attack func(t *testing.T, h *hostile) codes.Code
	want   codes.Code
	// contain, when set, checks after the attack that its effect is
	// bounded (lists still answer, memory per stream, …).
	contain func(t *testing.T, h *hostile)
}

const (
	hostileRSSBound       = 768 << 20 // the whole test process under -race (~300 MiB seen): server, attackers, honest user
	hostileLatencyFloor   = 150 * time.Millisecond
	hostileLifecycles     = 25 // honest lifecycles per case, at least: 100 calls, so p99 is not the maximum
	idleLifecycles        = 30
	idleLifecyclesPerCase = 5
	honestPace            = 50 * time.Millisecond
)

// hostile is the server under attack and its honest user.
type hostile struct {
	srv      *testServer
	rest     string // http://host:port
	honest   string // the honest user's token
	node     *testNode
	operator string // an operator's token, for REST
}

// hostileLimits are the defaults of [limits] (the honest user makes
// under 50 calls a second), with quotas small enough to reach in a test;
// node calls (the honest node's heartbeats and reports) are not the
// subject of these attacks.
func hostileLimits(c *config.Config) {
	c.Limits = config.Default().Limits
	c.Limits.NodeRequestsPerSecond, c.Limits.NodeBurst = 200, 400
	c.Limits.QueuedJobsPerUser = 20
	c.Limits.NodesPerOwner = 80
	c.Limits.StreamsPerPrincipal = 2
	c.Limits.MaxReplyBytes = 1 << 20
}

func runEdgeAttacks(t *testing.T, cases []edgeAttack) {
	if testing.Short() {
		t.Skip("the hostile-client suite runs real servers under load")
	}
	srv := startServer(t, t.TempDir(), Settings{}, hostileLimits)
	h := &hostile{srv: srv, rest: "http://" + srv.app.RESTAddr(), honest: srv.userToken("honest")}
	h.operator = h.mint("ops-admin", "operator", time.Hour)
	h.node = startNode(t, srv, "honest-ops", "honest-gpu", pb.DeviceType_DEVICE_CUDA, 24<<30)
	h.node.heartbeat()
	h.node.keepAlive(500 * time.Millisecond)

	// The idle baseline pools a run before the first case and a short run
	// before each one, so that it sees the machine as the cases do.
	idle := h.runHonest(t, idleLifecycles, nil)
	floor := hostileLatencyFloor
	if raceDetector {
		floor *= 2
	}
	var peakRSS int64
	for _, c := range cases {
		idle = append(idle, h.runHonest(t, idleLifecyclesPerCase, nil)...)
		idleP99 := p99(idle)
		bound := 2 * max(idleP99, floor)
		t.Run(c.name, func(t *testing.T) {
			attacked := make(chan struct{})
			defer func() { <-attacked }() // even when the honest user fails
			var got codes.Code
			go func() {
				defer close(attacked)
				got = c.attack(t, h)
			}()
			lat := h.runHonest(t, hostileLifecycles, attacked)
			<-attacked
			if got != c.want {
				t.Errorf("attack answered %s, want %s", got, c.want)
			}
			if c.contain != nil {
				c.contain(t, h)
			}
			h.checkUp(t)
			if q := p99(lat); q > bound {
				t.Errorf("honest p99 under attack %s over %d calls, over %s (2× the idle p99 %s over %d calls, or the floor %s)",
					q, len(lat), bound, idleP99, len(idle), floor)
			}
			rss := vmRSS(t)
			peakRSS = max(peakRSS, rss)
			if rss > hostileRSSBound {
				t.Errorf("RSS %d MiB, over the bound %d MiB", rss>>20, hostileRSSBound>>20)
			}
		})
	}
	t.Logf("peak RSS %d MiB (bound %d MiB); idle honest p99 %s over %d calls", peakRSS>>20, hostileRSSBound>>20, p99(idle), len(idle))
}

// runHonest runs the honest user's job lifecycles — submit, the node is
// pushed the job, accepts, completes, the user reads the result — at
// least n of them and until done is closed, and returns the latency of
// every call. A lifecycle that does not complete fails the test.
func (h *hostile) runHonest(t *testing.T, n int, done <-chan struct{}) []time.Duration {
	t.Helper()
	var lat []time.Duration
	timed := func(f func() error) error {
		start := time.Now()
		err := f()
		lat = append(lat, time.Since(start))
		return err
	}
	// One lifecycle each honestPace at most: an honest user, well within
	// its rate.
	pace := time.NewTicker(honestPace)
	defer pace.Stop()
	for i := 0; ; i++ {
		if i > 0 {
			<-pace.C
		}
		finished := done == nil
		if !finished {
			select {
			case <-done:
				finished = true
			default:
			}
		}
		if i >= n && finished {
			return lat
		}
		var jobID string
		if err := timed(func() error {
			resp, err := h.srv.jobs().SubmitJob(as(h.honest), &pb.SubmitJobRequest{Config: trainingJob()})
			jobID = resp.GetJobId()
			return err
		}); err != nil {
			t.Fatalf("honest SubmitJob: %v", err)
		}
		var assigned *pb.AssignJobRequest
		for assigned == nil || assigned.GetJob().GetJobId() != jobID {
			assigned = h.node.waitAssignment(20 * time.Second)
		}
		node := h.node
		if err := timed(func() error {
			_, err := h.srv.nodes().NotifyJobAccepted(as(node.session), &pb.JobAcceptedRequest{NodeId: node.id, JobId: jobID})
			return err
		}); err != nil {
			t.Fatalf("honest NotifyJobAccepted: %v", err)
		}
		if err := timed(func() error {
			_, err := h.srv.nodes().ReportCompletion(as(node.session), &pb.ReportCompletionRequest{NodeId: node.id, JobId: jobID,
				Result: &pb.JobResult{JobId: jobID, Status: pb.StatusCode_STATUS_SUCCESS}})
			return err
		}); err != nil {
			t.Fatalf("honest ReportCompletion: %v", err)
		}
		if err := timed(func() error {
			st, err := h.srv.jobs().GetJobStatus(as(h.honest), &pb.GetJobStatusRequest{JobId: jobID})
			if err == nil && st.GetStatus().GetStatus() != pb.StatusCode_STATUS_COMPLETED {
				err = fmt.Errorf("job %s is %s after its completion", jobID, st.GetStatus().GetStatus())
			}
			return err
		}); err != nil {
			t.Fatalf("honest GetJobStatus: %v", err)
		}
	}
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(0.99*float64(len(s))))-1)]
}

// vmRSS is this process's resident set (server and clients alike).
func vmRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// checkUp: both listeners still answer.
func (h *hostile) checkUp(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := healthpb.NewHealthClient(h.srv.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health after the attack: %v, %v", r, err)
	}
	if code, _, _ := h.get(t, "/api/health", ""); code != http.StatusOK {
		t.Errorf("REST health after the attack: %d", code)
	}
}

func (h *hostile) mint(sub, role string, ttl time.Duration) string {
	tok, _, err := h.srv.iss.MintUser(sub, "", role, ttl)
	if err != nil {
		panic(err)
	}
	return tok
}

// get calls the REST API and returns the status, the body's length and
// the response (body read and closed).
func (h *hostile) get(t *testing.T, path, token string) (int, int, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.rest+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return 0, 0, nil
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, int(n), resp
}

// httpCode is the gRPC code of an HTTP status, to compare both with want.
func httpCode(s int) codes.Code {
	switch s {
	case http.StatusOK:
		return codes.OK
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusTooManyRequests, http.StatusRequestHeaderFieldsTooLarge:
		return codes.ResourceExhausted
	}
	return codes.Unknown
}

// attackerNode is a small node registration of an attacker (a device no
// honest job asks for, so the scheduler never picks it).
func attackerNode(name string) *pb.NodeInfo {
	return &pb.NodeInfo{Name: name, IpAddress: "127.0.0.1", Port: 1, CpuCores: 1,
		Devices: []*pb.DeviceCaps{{DeviceType: pb.DeviceType_DEVICE_METAL, DeviceName: "m"}}}
}

// unplaceableJob asks for a device no node has: it stays pending.
func unplaceableJob() *pb.JobConfig {
	c := trainingJob()
	c.RequiredDevice = pb.DeviceType_DEVICE_VULKAN
	return c
}

// registerMany registers n nodes for user, stopping at the first refusal,
// whose code it returns.
func (h *hostile) registerMany(user string, n int, info func(name string) *pb.NodeInfo) codes.Code {
	tok := h.srv.userToken(user)
	for i := range n {
		if _, err := h.srv.nodes().RegisterNode(as(tok), &pb.RegisterNodeRequest{Info: info(fmt.Sprint(user, "-", i))}); err != nil {
			return status.Code(err)
		}
	}
	return codes.OK
}

// fatNode fills every bounded field of a registration to its limit.
func fatNode(name string) *pb.NodeInfo {
	n := attackerNode(name)
	n.Devices = nil
	for range 64 {
		n.Devices = append(n.Devices, &pb.DeviceCaps{DeviceType: pb.DeviceType_DEVICE_METAL, DeviceName: strings.Repeat("d", 256),
			GpuModel: strings.Repeat("g", 256), DriverVersion: strings.Repeat("v", 256), CudaVersion: strings.Repeat("c", 256)})
	}
	for range 64 {
		n.SupportedFormats = append(n.SupportedFormats, strings.Repeat("f", 128))
		n.AvailableRuntimes = append(n.AvailableRuntimes, strings.Repeat("r", 128))
	}
	return n
}

// floodRate is the calls a second of a flood: twice the 300 SubmitJob a
// second one user must not sustain. The attacker runs in the test's own
// process, on the server's cores, so it is paced rather than spun: an
// unpaced client would measure the test machine, not the server.
const floodRate = 600

// flood calls f at up to floodRate from 8 goroutines until a call is
// refused by a rate limit (RESOURCE_EXHAUSTED, "rate limit") or limit has
// passed, and returns that refusal, else the last error (nil when nothing
// was refused). Stopping on the condition, not a clock, keeps a slow
// machine from ending the flood before it outruns the rate.
func flood(limit time.Duration, f func() error) error {
	var mu sync.Mutex
	var last error
	limited := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	end := time.Now().Add(limit)
	for range 8 {
		wg.Go(func() {
			tick := time.NewTicker(8 * time.Second / floodRate)
			defer tick.Stop()
			for time.Now().Before(end) {
				select {
				case <-limited:
					return
				case <-tick.C:
				}
				err := f()
				if err == nil {
					continue
				}
				mu.Lock()
				if !rateLimited(last) {
					last = err
				}
				mu.Unlock()
				if rateLimited(err) {
					once.Do(func() { close(limited) })
				}
			}
		})
	}
	wg.Wait()
	return last
}

func rateLimited(err error) bool {
	return status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "rate limit")
}

// restErr is an HTTP answer as a gRPC status, for flood.
func restErr(code int) error {
	if code == http.StatusOK {
		return nil
	}
	if code == http.StatusTooManyRequests {
		return status.Error(codes.ResourceExhausted, "rate limit: HTTP 429")
	}
	return status.Error(httpCode(code), http.StatusText(code))
}

// rawCodec sends bytes as they are, to send what is not a valid message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(mem.BufferSlice, any) error { return nil }
func (rawCodec) Name() string                         { return "proto" }

var partAAttacks = []edgeAttack{
	{
		name: "register a node with megabytes of device names",
		attack: func(t *testing.T, h *hostile) codes.Code {
			n := attackerNode("fat")
			n.Devices[0].DeviceName = strings.Repeat("x", 3<<20)
			_, err := h.srv.nodes().RegisterNode(as(h.srv.userToken("mallory-fat")), &pb.RegisterNodeRequest{Info: n})
			return status.Code(err)
		},
		want: codes.InvalidArgument,
	},
	{
		name: "register many nodes at every field's limit to break discovery",
		attack: func(t *testing.T, h *hostile) codes.Code {
			return h.registerMany("mallory-lists", 60, fatNode)
		},
		want: codes.OK,
		contain: func(t *testing.T, h *hostile) {
			anon := context.Background()
			seen, pages := 0, 0
			req := &pb.ListNodesRequest{PageSize: 1000}
			for {
				resp, err := h.srv.discovery().ListNodes(anon, req)
				if err != nil {
					t.Fatalf("anonymous ListNodes page %d: %v", pages, err)
				}
				seen, pages = seen+len(resp.GetNodes()), pages+1
				if resp.GetNextPageToken() == "" {
					break
				}
				req.PageToken = resp.GetNextPageToken()
			}
			if seen < 61 || pages < 2 {
				t.Errorf("ListNodes paged %d nodes in %d pages; want every node, over more than one page", seen, pages)
			}
			if _, err := h.srv.discovery().FindNodes(anon, &pb.FindNodesRequest{RequiredDevice: pb.DeviceType_DEVICE_METAL, MaxResults: 100}); err != nil {
				t.Errorf("anonymous FindNodes: %v", err)
			}
			code, n, _ := h.get(t, "/api/nodes?limit=1000", h.operator)
			if code != http.StatusOK || n > (1<<20)+(256<<10) {
				t.Errorf("/api/nodes?limit=1000: %d with %d bytes; want 200 within limits.max_reply_bytes", code, n)
			}
		},
	},
	{
		name: "one user floods SubmitJob",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.srv.userToken("mallory-flood")
			cfg := unplaceableJob() // the queue quota also bites
			var mu sync.Mutex
			var trailer metadata.MD
			err := flood(15*time.Second, func() error {
				var tr metadata.MD
				_, err := h.srv.jobs().SubmitJob(as(tok), &pb.SubmitJobRequest{Config: cfg}, grpc.Trailer(&tr))
				if status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "rate limit") {
					mu.Lock()
					trailer = tr
					mu.Unlock()
				}
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if trailer == nil {
				t.Errorf("the flood was never rate limited (last refusal %v)", err)
			} else if ra := trailer.Get(grpcadapter.RetryAfterKey); len(ra) != 1 || ra[0] == "" {
				t.Errorf("no %s trailer on a rate-limit refusal: %v", grpcadapter.RetryAfterKey, trailer)
			}
			if st, _ := status.FromError(err); st != nil {
				found := false
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
						found = true
					}
				}
				if !found {
					t.Errorf("the refusal carries no RetryInfo: %v", st.Details())
				}
			}
			return status.Code(err)
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "queue more pending jobs than the quota",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.srv.userToken("mallory-queue")
			cfg := unplaceableJob()
			for range 25 {
				if _, err := h.srv.jobs().SubmitJob(as(tok), &pb.SubmitJobRequest{Config: cfg}); err != nil {
					return status.Code(err)
				}
			}
			list, err := h.srv.jobs().ListJobs(as(tok), &pb.ListJobsRequest{FilterStatus: pb.StatusCode_STATUS_PENDING})
			t.Logf("25 jobs accepted; %d pending (%v)", list.GetTotalCount(), err)
			return codes.OK
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "register more nodes than the quota",
		attack: func(t *testing.T, h *hostile) codes.Code {
			return h.registerMany("mallory-nodes", 81, attackerNode)
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "submit a job spec over the byte limit",
		attack: func(t *testing.T, h *hostile) codes.Code {
			cfg := trainingJob()
			cfg.Hyperparameters = map[string]string{}
			for i := range 40 {
				cfg.Hyperparameters[fmt.Sprint("h", i)] = strings.Repeat("v", 60<<10)
			}
			_, err := h.srv.jobs().SubmitJob(as(h.srv.userToken("mallory-spec")), &pb.SubmitJobRequest{Config: cfg, InitialData: make([]byte, 900<<10)})
			return status.Code(err)
		},
		want: codes.InvalidArgument,
	},
	{
		name: "heartbeat with NaN and negative status",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.srv.userToken("mallory-hb")
			r, err := h.srv.nodes().RegisterNode(as(tok), &pb.RegisterNodeRequest{Info: attackerNode("hb")})
			if err != nil {
				return status.Code(err)
			}
			worst := codes.OK
			for _, cs := range []*pb.NodeInfo{{RamAvailable: -1}, {ComputeScore: math.NaN()}, {StakedAmount: math.Inf(1)},
				{Devices: []*pb.DeviceCaps{{DeviceType: pb.DeviceType_DEVICE_METAL, VramAvailable: -5}}}} {
				_, err := h.srv.nodes().Heartbeat(as(r.GetSessionToken()), &pb.HeartbeatRequest{NodeId: r.GetNodeId(), CurrentStatus: cs})
				if status.Code(err) != codes.InvalidArgument {
					return status.Code(err)
				}
				worst = codes.InvalidArgument
			}
			return worst
		},
		want: codes.InvalidArgument,
	},
	{
		name: "report progress with thousands of metrics",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.srv.userToken("mallory-metrics")
			r, err := h.srv.nodes().RegisterNode(as(tok), &pb.RegisterNodeRequest{Info: attackerNode("metrics")})
			if err != nil {
				return status.Code(err)
			}
			m := map[string]float64{}
			for i := range 5000 {
				m[fmt.Sprint("metric-", i)] = 1
			}
			_, err = h.srv.nodes().ReportProgress(as(r.GetSessionToken()), &pb.ReportProgressRequest{NodeId: r.GetNodeId(), JobId: uuid.NewString(),
				Status: &pb.JobStatus{Status: pb.StatusCode_STATUS_IN_PROGRESS, Progress: 0.5, Metrics: m}})
			return status.Code(err)
		},
		want: codes.InvalidArgument,
	},
	{
		name: "anonymous discovery flood from one IP",
		attack: func(t *testing.T, h *hostile) codes.Code {
			return status.Code(flood(15*time.Second, func() error {
				_, err := h.srv.discovery().FindNodes(context.Background(), &pb.FindNodesRequest{MaxResults: 1})
				return err
			}))
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "operator floods the REST API",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.mint("ops-flood", "operator", time.Hour)
			var mu sync.Mutex
			retry := ""
			err := flood(15*time.Second, func() error {
				code, _, resp := h.get(t, "/api/stats", tok)
				if resp != nil && code == http.StatusTooManyRequests {
					mu.Lock()
					retry = resp.Header.Get("Retry-After")
					mu.Unlock()
				}
				return restErr(code)
			})
			if status.Code(err) == codes.ResourceExhausted && retry == "" {
				t.Error("a 429 without Retry-After")
			}
			return status.Code(err)
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "megabyte bearer token over gRPC",
		attack: func(t *testing.T, h *hostile) codes.Code {
			// Past grpcadapter.MaxHeaderListBytes; 15 MB would cost the
			// in-process client more than the server.
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.Repeat("a", 1<<20))
			_, err := h.srv.jobs().ListJobs(ctx, &pb.ListJobsRequest{})
			if err == nil {
				return codes.OK
			}
			return codes.ResourceExhausted // any refusal before the token is read
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "15 MB bearer token over HTTP",
		attack: func(t *testing.T, h *hostile) codes.Code {
			code, _, _ := h.get(t, "/api/stats", strings.Repeat("a", 15<<20))
			return httpCode(code)
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "job ids differing only in case",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.srv.userToken("mallory-case")
			id := uuid.NewString()
			cfg := unplaceableJob()
			worst := codes.OK
			for _, v := range []string{strings.ToUpper(id), id} {
				cfg.JobId = v
				if _, err := h.srv.jobs().SubmitJob(as(tok), &pb.SubmitJobRequest{Config: cfg}); err != nil {
					worst = status.Code(err)
				}
			}
			list, err := h.srv.jobs().ListJobs(as(tok), &pb.ListJobsRequest{})
			if err != nil || list.GetTotalCount() != 1 || list.GetJobs()[0].GetJobId() != id {
				t.Errorf("case variants of one id made %d jobs (%v); want one, in lower case", list.GetTotalCount(), err)
			}
			return worst
		},
		want: codes.OK,
	},
	{
		name: "malformed protobuf",
		attack: func(t *testing.T, h *hostile) codes.Code {
			var out []byte
			err := h.srv.conn.Invoke(as(h.srv.userToken("mallory-bytes")), "/cyxwiz.protocol.JobService/SubmitJob",
				[]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}, &out, grpc.ForceCodecV2(rawCodec{}))
			return status.Code(err)
		},
		want: codes.InvalidArgument,
	},
	{
		name: "keep a job stream open past the token's expiry",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.mint("mallory-stream", "", 2*time.Second)
			cfg := unplaceableJob()
			r, err := h.srv.jobs().SubmitJob(as(tok), &pb.SubmitJobRequest{Config: cfg})
			if err != nil {
				return status.Code(err)
			}
			ctx, cancel := context.WithTimeout(as(tok), 30*time.Second)
			defer cancel()
			st, err := h.srv.jobs().StreamJobUpdates(ctx, &pb.GetJobStatusRequest{JobId: r.GetJobId()})
			if err != nil {
				return status.Code(err)
			}
			for {
				if _, err := st.Recv(); err != nil {
					if status.Code(err) == codes.DeadlineExceeded {
						t.Error("the stream outlived its token by 28 s")
					}
					return status.Code(err)
				}
			}
		},
		want: codes.Unauthenticated,
	},
	{
		name: "open more job streams than one user may",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.srv.userToken("mallory-streams")
			cfg := unplaceableJob()
			r, err := h.srv.jobs().SubmitJob(as(tok), &pb.SubmitJobRequest{Config: cfg})
			if err != nil {
				return status.Code(err)
			}
			ctx, cancel := context.WithCancel(as(tok))
			defer cancel()
			for range 3 {
				st, err := h.srv.jobs().StreamJobUpdates(ctx, &pb.GetJobStatusRequest{JobId: r.GetJobId()})
				if err != nil {
					return status.Code(err)
				}
				if _, err := st.Recv(); err != nil { // the first update, or the refusal
					return status.Code(err)
				}
			}
			return codes.OK
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "keep an event stream open past the token's expiry",
		attack: func(t *testing.T, h *hostile) codes.Code {
			return sseUntilEnd(t, h, h.mint("ops-expiring", "operator", 2*time.Second), "")
		},
		want: codes.Unauthenticated,
	},
	{
		name: "open more event streams than one operator may",
		attack: func(t *testing.T, h *hostile) codes.Code {
			tok := h.mint("ops-streams", "operator", time.Hour)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for range 2 {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.rest+"/api/events/stream", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return codes.Unknown
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return httpCode(resp.StatusCode)
				}
			}
			code, _, _ := h.get(t, "/api/events/stream", tok)
			return httpCode(code)
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "replay the whole log over an event stream",
		attack: func(t *testing.T, h *hostile) codes.Code {
			return sseUntilEnd(t, h, h.mint("ops-replay", "operator", 3*time.Second), "?after=0")
		},
		want: codes.Unauthenticated, // read to the end: the token expires after the replay
	},
	{
		name: "flood gRPC with forged tokens",
		attack: func(t *testing.T, h *hostile) codes.Code {
			forged := as(h.srv.userToken("mallory-forger") + "x")
			return status.Code(flood(15*time.Second, func() error {
				_, err := h.srv.jobs().ListJobs(forged, &pb.ListJobsRequest{})
				return err
			}))
		},
		want: codes.ResourceExhausted,
	},
	{
		name: "flood REST with forged tokens",
		attack: func(t *testing.T, h *hostile) codes.Code {
			forged := h.mint("ops-forger", "operator", time.Hour) + "x"
			return status.Code(flood(15*time.Second, func() error {
				code, _, _ := h.get(t, "/api/stats", forged)
				return restErr(code)
			}))
		},
		want: codes.ResourceExhausted,
	},
}

// sseUntilEnd reads an event stream until the server ends it, and
// returns the code of its `error` event (OK when it ended without one).
func sseUntilEnd(t *testing.T, h *hostile, tok, query string) codes.Code {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.rest+"/api/events/stream"+query, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return codes.Unknown
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpCode(resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	errEvent := false
	for sc.Scan() {
		switch line := sc.Text(); {
		case line == "event: error":
			errEvent = true
		case errEvent && strings.HasPrefix(line, "data: ") && strings.Contains(line, `"unauthenticated"`):
			return codes.Unauthenticated
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("the event stream outlived its token by a minute")
	}
	return codes.OK
}

func TestHostileClients(t *testing.T) { runEdgeAttacks(t, partAAttacks) }

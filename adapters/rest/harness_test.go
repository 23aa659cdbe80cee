package rest_test

// The fixture of the REST tests: the real write side (commands.Handler
// over the in-memory event store), the real in-memory read model fed by a
// projections.Runner, the REST server on a loopback listener, and helpers
// to build histories through commands and to call the API.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/metrics"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	memstore "github.com/cyxwiz/central-server/eventstore/memory"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/labstack/echo/v4"
)

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var secret = []byte("rest-test-secret-0123456789abcdef0123")

// env is one server under test and everything behind it.
type env struct {
	t       *testing.T
	ctx     context.Context
	clock   *clock
	store   eventstore.Store // the raw store (reads)
	model   *memory.Model
	runner  *projections.Runner
	h       *commands.Handler
	issuer  *auth.Issuer
	metrics *metrics.Metrics
	srv     *rest.Server
	url     string
	client  *http.Client
	token   string // an operator token
	logs    *logbuf.Buffer
	cfg     config.Config // served at /api/config; its secrets are testCfgSecrets
}

// The secrets of env.cfg, which /api/config must never show.
var testCfgSecrets = []string{"jwt-secret-never-shown-0123456789", "pg-password-never-shown", "rpc-key-never-shown", "esdb-password-never-shown"}

func testCfg() config.Config {
	cfg := config.Default()
	cfg.Server.GRPCAddress = "127.0.0.1:50099"
	cfg.JWT.Secret = testCfgSecrets[0]
	cfg.Database.URL = "postgresql://cyxwiz:" + testCfgSecrets[1] + "@db:5432/cyxwiz?sslmode=disable"
	cfg.Blockchain.SolanaRPCURL = "https://rpc.example.com/?api-key=" + testCfgSecrets[2]
	cfg.EventStore.ESDBURL = "esdb://admin:" + testCfgSecrets[3] + "@es:2113?tls=false"
	return cfg
}

type envOption func(*rest.Deps, *rest.Options)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvModel(t, memory.Config{}, opts...)
}

// newEnvModel is newEnv with a read model configured by mc; one that lets
// go of finished jobs reads them from the env's log.
func newEnvModel(t *testing.T, mc memory.Config, opts ...envOption) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	x := &env{t: t, ctx: ctx, clock: clk}
	x.store = memstore.New(memstore.WithClock(clk.Now))
	t.Cleanup(func() { _ = x.store.Close() })

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	codec := commands.NewCodec()
	if mc.KeepFinished > 0 {
		mc.Archive = projections.LogArchive{Store: x.store, Codec: codec}
	}
	x.model = memory.New(mc)
	x.metrics = metrics.New(metrics.Options{Since: clk.Now().Add(-time.Hour), NoRuntime: true,
		ProjectionLag: func() time.Duration { return x.runner.Stats().LastLag }, ProjectionPosition: func() uint64 { return x.runner.Position() }})
	x.h = commands.NewHandler(x.metrics.Store(x.store), codec, clk.Now, commands.DefaultPolicy(), log)
	x.runner = projections.NewRunner(x.store, codec, x.metrics.Model(x.model), log)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = x.runner.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-x.runner.CaughtUp():
	case <-ctx.Done():
		t.Fatal("runner never caught up")
	}

	x.issuer = auth.NewIssuer(secret, clk.Now)
	x.logs, x.cfg = logbuf.New(100), testCfg()
	deps := rest.Deps{
		Jobs: x.model, Nodes: x.model, Store: x.store, Codec: codec, Auth: x.issuer,
		Head: x.runner.Position, Now: clk.Now, Logs: x.logs, Config: &x.cfg,
	}
	if s, ok := any(x.model).(projections.StatsQueries); ok {
		deps.Stats = s
	}
	if a, ok := any(x.model).(projections.ActivityQueries); ok {
		deps.Activity = a
	}
	if p, ok := any(x.model).(projections.PaymentQueries); ok {
		deps.Payments = p
	}
	o := rest.Options{Middleware: []echo.MiddlewareFunc{x.metrics.Echo()}, Metrics: x.metrics.Handler(), Version: "test"}
	for _, opt := range opts {
		opt(&deps, &o)
	}
	x.srv = rest.New(deps, o, log)
	ts := httptest.NewServer(x.srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = x.srv.Shutdown(sctx)
	})
	x.url = ts.URL
	x.client = ts.Client()
	x.token = x.mint("olivia", rest.RoleOperator)
	return x
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (x *env) mint(sub, role string) string {
	x.t.Helper()
	tok, _, err := x.issuer.MintUser(sub, "", role, time.Hour)
	if err != nil {
		x.t.Fatal(err)
	}
	return tok
}

// awaitReadModel waits until the read model has applied everything in the log.
func (x *env) awaitReadModel() {
	x.t.Helper()
	all, err := x.store.ReadAll(x.ctx, 0, 0)
	if err != nil {
		x.t.Fatal(err)
	}
	if len(all) == 0 {
		return
	}
	if err := x.runner.WaitFor(x.ctx, all[len(all)-1].Position); err != nil {
		x.t.Fatal(err)
	}
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// apiError is the error body.
type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Param     string `json:"param"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func (a answer) err(t *testing.T) apiError {
	t.Helper()
	var e apiError
	a.decode(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error answer without code or message: %s", a.body)
	}
	return e
}

// do sends a request with the given token ("" for none) and headers.
func (x *env) do(method, path, token string, header map[string]string) answer {
	x.t.Helper()
	req, err := http.NewRequestWithContext(x.ctx, method, x.url+path, nil)
	if err != nil {
		x.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		x.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		x.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

// get is an operator's GET that must answer want.
func (x *env) get(path string, want int, v any) answer {
	x.t.Helper()
	a := x.do(http.MethodGet, path, x.token, nil)
	if a.status != want {
		x.t.Fatalf("GET %s = %d %s; want %d", path, a.status, a.body, want)
	}
	if v != nil {
		a.decode(x.t, v)
	}
	return a
}

// badRequest checks that GET path answers 400 naming param.
func (x *env) badRequest(path, param string) apiError {
	x.t.Helper()
	a := x.do(http.MethodGet, path, x.token, nil)
	if a.status != http.StatusBadRequest {
		x.t.Fatalf("GET %s = %d %s; want 400", path, a.status, a.body)
	}
	e := a.err(x.t)
	if e.Error.Code != rest.CodeInvalidArgument || e.Error.Param != param || !strings.Contains(e.Error.Message, fmt.Sprintf("%q", param)) {
		x.t.Fatalf("GET %s: error %+v; want invalid_argument naming %q", path, e.Error, param)
	}
	return e
}

// ---- building histories through commands ----

func nodeSpec(name, region string, price float64, dev domain.DeviceType) domain.NodeSpec {
	s := domain.NodeSpec{
		Name: name, Version: "1.2.3", IPAddress: "127.0.0.1", Port: 4001, Region: region, CPUCores: 8,
		RAMTotal: 32 << 30, RAMAvailable: 24 << 30, ComputeScore: price * 10, WalletAddress: "wallet-" + name,
		SupportedFormats: []string{"onnx"}, AvailableRuntimes: []string{"python"},
		Pricing: domain.Pricing{PricePerHour: price, USDEquivalent: price, AcceptsSOL: true},
	}
	if dev != domain.DeviceAny && dev != domain.DeviceCPU {
		s.Devices = []domain.Device{{Type: dev, Name: "gpu0", GPUModel: "RTX 4090", VRAMTotal: 24 << 30, VRAMAvailable: 20 << 30,
			MemoryTotal: 24 << 30, ComputeUnits: 128, SupportsFP16: true, ComputeCapability: 8.9}}
	}
	return s
}

func (x *env) registerNode(spec domain.NodeSpec, online bool) string {
	x.t.Helper()
	n, _, _, err := x.h.RegisterNode(x.ctx, commands.RegisterNode{Owner: "op-" + spec.Name, Spec: spec})
	if err != nil {
		x.t.Fatalf("register %s: %v", spec.Name, err)
	}
	if online {
		if _, _, err := x.h.MarkNodeOnline(x.ctx, n.ID()); err != nil {
			x.t.Fatal(err)
		}
	}
	return n.ID()
}

func jobSpec(t domain.JobType) domain.JobSpec {
	return domain.JobSpec{Type: t, Priority: domain.PriorityNormal, ModelDefinition: "resnet18",
		Hyperparameters: map[string]string{"lr": "0.001"}, DatasetURI: "s3://bucket/data", BatchSize: 32, Epochs: 3,
		RequiredDevice: domain.DeviceAny, EstimatedMemory: 1 << 30, EstimatedDuration: 600, PaymentAmount: 1.5}
}

func (x *env) submit(owner string, t domain.JobType) string {
	x.t.Helper()
	x.clock.Advance(time.Millisecond)
	j, _, _, err := x.h.SubmitJob(x.ctx, commands.SubmitJob{Owner: owner, Spec: jobSpec(t)})
	if err != nil {
		x.t.Fatalf("submit: %v", err)
	}
	return j.ID()
}

func (x *env) must(_ any, _ uint64, err error) {
	x.t.Helper()
	if err != nil {
		x.t.Fatal(err)
	}
}

// run takes a pending job through assignment, acceptance and start on node.
func (x *env) run(jobID, nodeID string) {
	x.t.Helper()
	x.must(x.h.AssignJob(x.ctx, jobID, nodeID, 150))
	x.must(x.h.AcceptJob(x.ctx, jobID, nodeID))
	x.clock.Advance(time.Second)
	x.must(x.h.StartJob(x.ctx, jobID, nodeID))
}

func (x *env) complete(jobID, nodeID string) {
	x.t.Helper()
	x.run(jobID, nodeID)
	x.clock.Advance(90 * time.Second)
	x.must(x.h.ReportProgress(x.ctx, jobID, nodeID, domain.Progress{Fraction: 0.5, Epoch: 1, Log: "epoch 1", Metrics: map[string]float64{"loss": 0.3}}))
	x.must(x.h.CompleteJob(x.ctx, jobID, nodeID, domain.JobResult{ModelWeightsURI: "s3://w", ComputeTimeMs: 90_000,
		FinalMetrics: map[string]float64{"accuracy": 0.91}}))
}

// ---- Server-Sent Events ----

// sse is an open event stream.
type sse struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	frames chan frame
}

// frame is one message or comment of the stream.
type frame struct {
	id, event, data, comment string
}

func (x *env) openStream(query string, header map[string]string) *sse {
	x.t.Helper()
	ctx, cancel := context.WithCancel(x.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, x.url+"/api/events/stream"+query, nil)
	if err != nil {
		x.t.Fatal(err)
	}
	if !strings.Contains(query, "access_token=") {
		req.Header.Set("Authorization", "Bearer "+x.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		cancel()
		x.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		x.t.Fatalf("stream%s = %d %s", query, resp.StatusCode, body)
	}
	s := &sse{t: x.t, resp: resp, cancel: cancel, frames: make(chan frame, 1024)}
	go s.read()
	x.t.Cleanup(s.close)
	return s
}

func (s *sse) read() {
	defer close(s.frames)
	r := bufio.NewReader(s.resp.Body)
	var f frame
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if f != (frame{}) {
				s.frames <- f
			}
			f = frame{}
		case strings.HasPrefix(line, ":"):
			f.comment = strings.TrimSpace(line[1:])
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "id":
				f.id = v
			case "event":
				f.event = v
			case "data":
				f.data = v
			}
		}
	}
}

func (s *sse) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event message, skipping comments.
func (s *sse) next() frame {
	s.t.Helper()
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				s.t.Fatal("stream ended")
			}
			if f.id != "" {
				return f
			}
		case <-time.After(10 * time.Second):
			s.t.Fatal("no event within 10s")
		}
	}
}

// waitComment waits for a comment line containing text.
func (s *sse) waitComment(text string) {
	s.t.Helper()
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				s.t.Fatalf("stream ended before comment %q", text)
			}
			if f.id != "" {
				s.t.Fatalf("event %+v before comment %q", f, text)
			}
			if strings.Contains(f.comment, text) {
				return
			}
		case <-time.After(10 * time.Second):
			s.t.Fatalf("no comment %q within 10s", text)
		}
	}
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

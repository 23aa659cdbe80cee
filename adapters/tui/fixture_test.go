package tui_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/tui"
	"github.com/cyxwiz/central-server/adapters/tui/inproc"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore/memory"
	"github.com/cyxwiz/central-server/projections"
	projmem "github.com/cyxwiz/central-server/projections/memory"
	"github.com/gdamore/tcell/v2"
)

// fixture is the real write side (commands over an in-memory event
// store), the real read side (the projection runner into the in-memory
// read model) and a console on a simulation screen over the in-process
// source.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	h      *commands.Handler
	store  *memory.Store
	runner *projections.Runner
	src    *inproc.Source
	logs   *logbuf.Buffer
	screen tcell.SimulationScreen
	con    *tui.Console
	done   chan error

	// The known history (history()).
	alpha, beta, gamma              string
	done1, failed, pending, running string
	inference                       string
}

// observed tells the source about every batch once it is applied, as the
// server's observedModel does.
type observed struct {
	*projmem.Model
	observe func([]projections.Envelope)
}

func (m observed) Apply(ctx context.Context, batch []projections.Envelope, cp uint64) error {
	if err := m.Model.Apply(ctx, batch, cp); err != nil {
		return err
	}
	m.observe(batch)
	return nil
}

func newFixture(t *testing.T, opts tui.Options) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store := memory.New()
	codec := commands.NewCodec()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fixture{t: t, ctx: ctx, store: store, logs: logbuf.New(100), done: make(chan error, 1)}
	f.h = commands.NewHandler(store, codec, time.Now, commands.DefaultPolicy(), log)
	model := projmem.New(projmem.Config{})
	cfg := config.Default()
	cfg.JWT.Secret = "super-secret-signing-key"
	cfg.Database.URL = "postgres://cyxwiz:hunter2@db:5432/cyxwiz"
	f.src = inproc.New(inproc.Deps{
		Jobs: model, Nodes: model, Stats: model, Activity: model, Payments: model, Store: store, Codec: codec,
		Config: cfg, Logs: f.logs, Version: "test",
		Health: func(context.Context) []tui.Component {
			return []tui.Component{{Name: "eventstore", Status: "ok"}, {Name: "database", Status: "memory"},
				{Name: "redis", Status: "memory"}, {Name: "solana", Status: "disabled"}}
		},
	})
	f.runner = projections.NewRunner(store, codec, observed{model, f.src.Observe}, log)
	runDone := make(chan struct{})
	go func() { defer close(runDone); f.runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-runDone
		store.Close()
	})
	if opts.Interval == 0 {
		opts.Interval = 50 * time.Millisecond
	}
	if opts.Periodic == 0 {
		opts.Periodic = -1
	}
	opts.Screen = tcell.NewSimulationScreen("UTF-8")
	opts.Version = "test"
	f.screen = opts.Screen.(tcell.SimulationScreen)
	f.con = tui.New(f.src, opts)
	f.screen.SetSize(100, 30)
	return f
}

// start runs the console until the test ends.
func (f *fixture) start() {
	go func() { f.done <- f.con.Run() }()
	f.t.Cleanup(func() {
		f.con.Stop()
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			f.t.Error("the console did not stop")
		}
	})
}

// history records a known history through the commands:
// nodes alpha (cuda, online), beta (cuda, online), gamma (cpu, offline);
// jobs: done1 completed on alpha, failed failed on beta, running running
// on alpha, pending and inference pending.
func (f *fixture) history() {
	t, ctx, h := f.t, f.ctx, f.h
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	node := func(name string, dev domain.DeviceType, model string) string {
		var vram int64
		if dev != domain.DeviceCPU {
			vram = 24 << 30
		}
		n, _, _, err := h.RegisterNode(ctx, commands.RegisterNode{Owner: "ops", Spec: domain.NodeSpec{
			Name: name, IPAddress: "10.0.0.1", Port: 4000, Region: "eu-west", CPUCores: 16, RAMTotal: 64 << 30,
			Devices: []domain.Device{{Type: dev, GPUModel: model, VRAMTotal: vram, MemoryTotal: 64 << 30}},
			Pricing: domain.Pricing{PricePerHour: 1.5},
		}})
		must(err)
		return n.ID()
	}
	f.alpha = node("alpha", domain.DeviceCUDA, "RTX 4090")
	f.beta = node("beta", domain.DeviceCUDA, "A100")
	f.gamma = node("gamma", domain.DeviceCPU, "")
	for _, id := range []string{f.alpha, f.beta} {
		_, _, err := h.MarkNodeOnline(ctx, id)
		must(err)
	}
	submit := func(owner string, typ domain.JobType) string {
		j, _, _, err := h.SubmitJob(ctx, commands.SubmitJob{Owner: owner, Spec: domain.JobSpec{
			Type: typ, Priority: domain.PriorityNormal, RequiredDevice: domain.DeviceCUDA, ModelDefinition: "resnet18",
			DatasetURI: "s3://data/cifar10", Epochs: 3, PaymentAmount: 0.5,
		}})
		must(err)
		return j.ID()
	}
	f.done1 = submit("alice", domain.JobTypeTraining)
	f.failed = submit("bob", domain.JobTypeTraining)
	f.running = submit("alice", domain.JobTypeTraining)
	f.pending = submit("carol", domain.JobTypeTraining)
	f.inference = submit("alice", domain.JobTypeInference)
	run := func(job, node string) {
		_, _, err := h.AssignJob(ctx, job, node, 100)
		must(err)
		_, _, err = h.AcceptJob(ctx, job, node)
		must(err)
		_, _, err = h.StartJob(ctx, job, node)
		must(err)
	}
	run(f.done1, f.alpha)
	_, _, err := h.CompleteJob(ctx, f.done1, f.alpha, domain.JobResult{ComputeTimeMs: 1500, FinalMetrics: map[string]float64{"accuracy": 0.91}})
	must(err)
	run(f.failed, f.beta)
	_, _, err = h.FailJob(ctx, f.failed, f.beta, "CUDA out of memory")
	must(err)
	run(f.running, f.alpha)
	for _, s := range []domain.MetricSample{{CPUUsage: 0.2, GPUUsage: 0.5, MemoryUsage: 0.3}, {CPUUsage: 0.6, GPUUsage: 0.9, MemoryUsage: 0.4}} {
		must(h.SampleNodeMetrics(ctx, f.alpha, s))
	}
	f.logs.Add(time.Now(), slog.LevelInfo, "gRPC serving address=127.0.0.1:50051")
	f.logs.Add(time.Now(), slog.LevelWarn, "dispatch failed node=beta err=\"connection refused\"")
	f.sync()
}

// sync waits until the read model has every event appended so far.
func (f *fixture) sync() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, waitTimeout)
	defer cancel()
	// The store's head: append nothing, read the newest position.
	if err := f.runner.WaitFor(ctx, f.head()); err != nil {
		f.t.Fatal(err)
	}
}

// head is the position of the newest event in the store.
func (f *fixture) head() uint64 {
	recs, err := f.store.ReadAll(f.ctx, 0, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].Position
}

// text is the screen's content, read between draws.
func (f *fixture) text() string { return f.con.Text(f.screen) }

// waitText waits until the screen shows every one of want.
func (f *fixture) waitText(want ...string) string {
	f.t.Helper()
	return f.waitFor(f.t, want...)
}

// waitFor is waitText failing t (a subtest).
func (f *fixture) waitFor(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := f.text()
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q; it shows:\n%s", missing, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLines waits until the screen shows lines in this order, top to
// bottom: each on one line of its own, holding every one of its strings.
func (f *fixture) waitLines(t *testing.T, lines ...[]string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := f.text()
		rows, i := strings.Split(got, "\n"), 0
		for _, row := range rows {
			if i < len(lines) && containsAll(row, lines[i]) {
				i++
			}
		}
		if i == len(lines) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed a line with %q (below the lines before it); it shows:\n%s", lines[i], got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// resize makes the screen w×h.
func (f *fixture) resize(w, h int) {
	f.screen.SetSize(w, h)
	f.con.QueueEvent(tcell.NewEventResize(w, h))
}

// key presses a key; r is the rune of tcell.KeyRune.
func (f *fixture) key(k tcell.Key, r rune) {
	f.screen.InjectKey(k, r, tcell.ModNone)
}

func (f *fixture) typeText(s string) {
	for _, r := range s {
		f.key(tcell.KeyRune, r)
	}
}

// waitGone waits until the screen no longer shows s.
func (f *fixture) waitGone(s string) {
	f.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for strings.Contains(f.text(), s) {
		if time.Now().After(deadline) {
			f.t.Fatalf("the screen still shows %q:\n%s", s, f.text())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitTimeout bounds every wait for the screen or the read model: a wait
// returns as soon as its condition holds, so only a failing test waits it
// out, and a CI machine busy with -race builds gets time to draw.
const waitTimeout = 15 * time.Second

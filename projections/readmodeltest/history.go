package readmodeltest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
)

// T0 is the suite's epoch. Every time in the suite is a whole millisecond
// in UTC, so a store with microsecond timestamps (PostgreSQL) keeps them.
var T0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// At returns T0 + d.
func At(d time.Duration) time.Time { return T0.Add(d) }

// History builds envelopes as a store would record them: global positions
// from 1, revisions per stream, recorded times one millisecond apart.
type History struct {
	pos  uint64
	revs map[string]uint64
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{revs: make(map[string]uint64)} }

// Position returns the position of the last envelope built.
func (h *History) Position() uint64 { return h.pos }

// StreamOf returns the stream an event is appended to.
func StreamOf(e domain.Event) string {
	if id, ok := projections.JobIDOf(e); ok {
		return domain.JobStream(id)
	}
	if id, ok := projections.NodeIDOf(e); ok {
		return domain.NodeStream(id)
	}
	if id, ok := projections.PaymentJobOf(e); ok {
		return domain.PaymentStream(id)
	}
	if d, ok := e.(domain.DepositClaimed); ok {
		return domain.DepositStream(d.Signature)
	}
	return "other"
}

// Skip advances the position by n, as events the runner skipped would.
func (h *History) Skip(n uint64) { h.pos += n }

// Envelope records one event.
func (h *History) Envelope(e domain.Event) projections.Envelope {
	h.pos++
	s := StreamOf(e)
	rev := h.revs[s]
	h.revs[s] = rev + 1
	return projections.Envelope{
		Event: e, Stream: s, Revision: rev, Position: h.pos,
		Recorded: T0.Add(time.Duration(h.pos) * time.Millisecond),
		Metadata: eventstore.Metadata{CorrelationID: fmt.Sprintf("corr-%d", h.pos), Actor: "readmodeltest"},
	}
}

// EnvelopeAt records one event as Envelope does, at the recorded time
// given (a whole millisecond in UTC) instead of the position's.
func (h *History) EnvelopeAt(recorded time.Time, e domain.Event) projections.Envelope {
	env := h.Envelope(e)
	env.Recorded = recorded
	return env
}

// Envelopes records events in order.
func (h *History) Envelopes(events ...domain.Event) []projections.Envelope {
	out := make([]projections.Envelope, len(events))
	for i, e := range events {
		out[i] = h.Envelope(e)
	}
	return out
}

// GPU returns a CUDA device with vram bytes of VRAM.
func GPU(vram int64) domain.Device {
	return domain.Device{Type: domain.DeviceCUDA, Name: "gpu", GPUModel: "RTX", VRAMTotal: vram, VRAMAvailable: vram,
		MemoryTotal: vram, MemoryAvailable: vram, ComputeUnits: 80, SupportsFP16: true, ComputeCapability: 8.6}
}

// GiB is 2^30 bytes.
const GiB = int64(1) << 30

// NodeSpec returns a valid node spec named name in region, priced per hour.
func NodeSpec(name, region string, price float64, devices ...domain.Device) domain.NodeSpec {
	return domain.NodeSpec{
		Name: name, Version: "1.0.0", Devices: devices, CPUCores: 8, RAMTotal: 32 * GiB, RAMAvailable: 24 * GiB,
		IPAddress: "10.0.0.1", Port: 4001, Region: region, ComputeScore: 10, WalletAddress: "wallet-" + name,
		SupportedFormats: []string{"onnx"}, AvailableRuntimes: []string{"python"},
		Pricing: domain.Pricing{PricePerHour: price, USDEquivalent: price, AcceptsSOL: true},
	}
}

// JobSpec returns a valid job spec.
func JobSpec(t domain.JobType, p domain.Priority, dev domain.DeviceType, mem int64) domain.JobSpec {
	return domain.JobSpec{Type: t, Priority: p, ModelDefinition: "resnet18", Hyperparameters: map[string]string{"lr": "0.001"},
		DatasetURI: "s3://bucket/data", BatchSize: 32, Epochs: 10, RequiredDevice: dev, EstimatedMemory: mem,
		EstimatedDuration: 600, PaymentAmount: 1.5, PaymentAddress: "payer", EscrowTxHash: "sig"}
}

// Realistic returns a replayable history of about n events shaped like a
// busy network: nodes registering, going on and off line and sampling
// metrics; jobs submitted, reserved, assigned, accepted, started,
// reporting progress several times, and mostly completing (some
// requeued, failed, cancelled or deleted); reputation moving.
func Realistic(n, nodes int, seed uint64) []projections.Envelope {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := NewHistory()
	out := make([]projections.Envelope, 0, n+64)
	now := T0
	tick := func() time.Time { now = now.Add(10 * time.Millisecond); return now }
	add := func(e domain.Event) { out = append(out, h.Envelope(e)) }
	ids := make([]string, nodes)
	rep := make([]float64, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("node-%05d", i)
		rep[i] = domain.InitialReputation
		add(domain.NodeRegistered{NodeID: ids[i], Owner: fmt.Sprintf("op-%d", i%50),
			Spec:       NodeSpec(ids[i], []string{"eu-west", "us-east", "ap-south"}[i%3], 0.5+float64(i%7)/2, GPU(int64(8+i%4*8)*GiB)),
			Reputation: domain.InitialReputation, At: tick()})
		add(domain.NodeWentOnline{NodeID: ids[i], At: tick()})
	}
	for job := 0; len(out) < n; job++ {
		id := fmt.Sprintf("job-%08d", job)
		ni := rng.IntN(nodes)
		node := ids[ni]
		add(domain.JobSubmitted{JobID: id, Owner: fmt.Sprintf("user-%d", rng.IntN(500)),
			Spec: JobSpec(domain.JobType(1+rng.IntN(4)), domain.Priority(rng.IntN(4)), domain.DeviceCUDA, 4*GiB), At: tick()})
		if rng.IntN(20) == 0 {
			add(domain.JobCancelled{JobID: id, By: "user", Reason: "changed my mind", At: tick()})
			continue
		}
		add(domain.NodeJobReserved{NodeID: node, JobID: id, At: tick()})
		add(domain.JobAssigned{JobID: id, NodeID: node, Attempt: 1, Score: 150, At: tick()})
		if rng.IntN(10) == 0 { // rejected, requeued, then left pending for a while
			add(domain.JobRejected{JobID: id, NodeID: node, Reason: "busy", At: tick()})
			add(domain.JobRequeued{JobID: id, PreviousNode: node, Reason: "rejected", Requeues: 1, At: tick()})
			add(domain.NodeJobReleased{NodeID: node, JobID: id, Reason: "rejected", At: tick()})
			rep[ni] = max(0, rep[ni]-0.02)
			add(domain.ReputationAdjusted{NodeID: node, Delta: -0.02, Score: rep[ni], Reason: "rejected", JobID: id, At: tick()})
			continue
		}
		add(domain.JobAccepted{JobID: id, NodeID: node, At: tick()})
		add(domain.JobStarted{JobID: id, NodeID: node, At: tick()})
		for p := range 3 + rng.IntN(6) {
			add(domain.JobProgressed{JobID: id, NodeID: node, Progress: float64(p+1) / 10, Epoch: int32(p + 1),
				Metrics: map[string]float64{"loss": 1 / float64(p+1), "accuracy": float64(p) / 10}, Log: "epoch done", At: tick()})
		}
		switch rng.IntN(10) {
		case 0:
			add(domain.JobFailed{JobID: id, NodeID: node, Reason: "out of memory", At: tick()})
		default:
			add(domain.JobCompleted{JobID: id, NodeID: node, Result: domain.JobResult{ModelWeightsURI: "s3://w/" + id,
				ModelSize: 1 << 20, FinalMetrics: map[string]float64{"loss": 0.1}, ComputeTimeMs: 60_000}, At: tick()})
			rep[ni] = min(1, rep[ni]+0.01)
			add(domain.ReputationAdjusted{NodeID: node, Delta: 0.01, Score: rep[ni], Reason: "completed", JobID: id, At: tick()})
		}
		add(domain.NodeJobReleased{NodeID: node, JobID: id, Reason: "done", At: tick()})
		if rng.IntN(4) == 0 {
			add(domain.NodeMetricsSampled{NodeID: node, Sample: domain.MetricSample{CPUUsage: rng.Float64(), GPUUsage: rng.Float64(),
				MemoryUsage: rng.Float64(), ActiveJobs: 1}, At: tick()})
		}
		if rng.IntN(50) == 0 {
			add(domain.JobDeleted{JobID: id, By: "user", At: tick()})
		}
		if rng.IntN(200) == 0 {
			add(domain.NodeWentOffline{NodeID: node, Reason: "lease expired", At: tick()})
			add(domain.NodeWentOnline{NodeID: node, At: tick()})
		}
	}
	return out
}

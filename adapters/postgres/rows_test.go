package postgres

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// knownHistory: a node, a job that runs to completion, a job cancelled
// then deleted, metrics and reputation.
func knownHistory() []projections.Envelope {
	h := readmodeltest.NewHistory()
	at := readmodeltest.At
	return h.Envelopes(
		domain.NodeRegistered{NodeID: "n1", Owner: "op", Spec: readmodeltest.NodeSpec("n1", "eu-west", 1.25, readmodeltest.GPU(24*readmodeltest.GiB)),
			Reputation: 0.5, At: at(0)},
		domain.NodeWentOnline{NodeID: "n1", At: at(time.Second)},
		domain.NodeMetricsSampled{NodeID: "n1", Sample: domain.MetricSample{CPUUsage: 0.25, GPUUsage: 0.75, ActiveJobs: 1}, At: at(2 * time.Second)},
		domain.JobSubmitted{JobID: "j1", Owner: "alice", Spec: readmodeltest.JobSpec(domain.JobTypeTraining, domain.PriorityHigh, domain.DeviceCUDA, readmodeltest.GiB), At: at(3 * time.Second)},
		domain.NodeJobReserved{NodeID: "n1", JobID: "j1", At: at(4 * time.Second)},
		domain.JobAssigned{JobID: "j1", NodeID: "n1", Attempt: 1, Score: 180, At: at(4 * time.Second)},
		domain.JobStarted{JobID: "j1", NodeID: "n1", At: at(5 * time.Second)},
		domain.JobProgressed{JobID: "j1", NodeID: "n1", Progress: 0.5, Epoch: 5, Metrics: map[string]float64{"loss": 0.25}, Log: "epoch 5", At: at(6 * time.Second)},
		domain.JobCompleted{JobID: "j1", NodeID: "n1", Result: domain.JobResult{ModelWeightsURI: "s3://w", ComputeTimeMs: 1500}, At: at(65 * time.Second)},
		domain.ReputationAdjusted{NodeID: "n1", Delta: 0.01, Score: 0.51, Reason: "completed", JobID: "j1", At: at(66 * time.Second)},
		domain.NodeJobReleased{NodeID: "n1", JobID: "j1", Reason: "completed", At: at(66 * time.Second)},
		domain.JobSubmitted{JobID: "j2", Owner: "bob", Spec: readmodeltest.JobSpec(domain.JobTypeInference, domain.PriorityLow, domain.DeviceAny, 0), At: at(70 * time.Second)},
		domain.JobCancelled{JobID: "j2", By: "bob", Reason: "typo", At: at(71 * time.Second)},
		domain.JobDeleted{JobID: "j2", By: "bob", At: at(72 * time.Second)},
		domain.JobSubmitted{JobID: "j3", Owner: "alice", Spec: readmodeltest.JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceCUDA, readmodeltest.GiB), At: at(80 * time.Second)},
		domain.NodeJobReserved{NodeID: "n1", JobID: "j3", At: at(81 * time.Second)},
		domain.JobAssigned{JobID: "j3", NodeID: "n1", Attempt: 1, At: at(81 * time.Second)},
	)
}

// TestKnownHistoryRows checks the rows a known history leaves in every
// table, then that the memory model answers alike.
func TestKnownHistoryRows(t *testing.T) {
	ctx := context.Background()
	envs := knownHistory()
	m := newTestModel(t)
	applyBatches(t, m, envs, 4)
	q := func(sql string, args ...any) string {
		t.Helper()
		var s string
		if err := m.Pool().QueryRow(ctx, sql, args...).Scan(&s); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return s
	}
	checks := []struct{ sql, want string }{
		{`SELECT position::text FROM checkpoints`, "17"},
		{`SELECT string_agg(id || ':' || status || ':' || deleted || ':' || node_id, ' ' ORDER BY id) FROM jobs`,
			"j1:3:false:n1 j2:5:true: j3:1:false:n1"},
		{`SELECT progress || ' ' || epoch || ' ' || (metrics->>'loss') || ' ' || (result->>'compute_time_ms') || ' ' ||
			last_log || ' ' || submitted_position || ' ' || revision || ' ' || position FROM jobs WHERE id = 'j1'`,
			"1 5 0.25 1500 epoch 5 4 4 9"},
		{`SELECT to_char(started_at, 'HH24:MI:SS') || ' ' || to_char(ended_at, 'HH24:MI:SS') || ' ' || (accepted_at IS NOT NULL)
			FROM jobs WHERE id = 'j1'`, "15:09:31 15:10:31 true"},
		{`SELECT spec->>'model_definition' || ' ' || job_type || ' ' || priority || ' ' || required_device FROM jobs WHERE id = 'j1'`,
			"resnet18 1 2 2"},
		// j2 is deleted: not counted. Every state a job passed through has
		// its row, 0 or not, whatever the batches were.
		{`SELECT string_agg(owner || '/' || job_type || '/' || status || '=' || n, ' ' ORDER BY owner, status) FROM job_counts WHERE n > 0`,
			"alice/1/1=1 alice/1/3=1"},
		{`SELECT string_agg(owner || '/' || job_type || '/' || status || '=' || n, ' ' ORDER BY owner, status) FROM job_counts`,
			"alice/1/0=0 alice/1/1=1 alice/1/2=0 alice/1/3=1 bob/2/0=0 bob/2/5=0"},
		{`SELECT online || ' ' || jobs_completed || ' ' || compute_ms || ' ' || reputation || ' ' || region || ' ' ||
			price_per_hour || ' ' || (last_metrics->>'gpu_usage') || ' ' || revision || ' ' || position FROM nodes`,
			"true 1 1500 0.51 eu-west 1.25 0.75 6 16"},
		{`SELECT string_agg(node_id || ':' || job_id || ':' || slot, ' ') FROM node_reservations`, "n1:j3:0"},
		{`SELECT count(*) || ' ' || min(position) || ' ' || min(cpu_usage) FROM metric_samples`, "1 3 0.25"},
		// Recorded times are T0 + position ms: all in T0's hour. j1 ran 60 s.
		{`SELECT to_char(hour, 'HH24:MI') || ' ' || submitted || ' ' || completed || ' ' || failed || ' ' || cancelled ||
			' ' || timed || ' ' || duration_ms FROM hourly_stats`, "15:00 3 1 0 1 1 60000"},
		// 17 events less a metric sample and a progress report.
		{`SELECT count(*)::text FROM activity`, "15"},
		{`SELECT event || ' ' || job_id || ' ' || node_id || ' ' || actor || ' ' || summary FROM activity WHERE position = 10`,
			"ReputationAdjusted j1 n1 readmodeltest reputation 0.51 (+0.01): completed"},
		{`SELECT count(*)::text FROM payments`, "0"},
	}
	for _, c := range checks {
		if got := q(c.sql); got != c.want {
			t.Errorf("%s\n got %q\nwant %q", strings.Join(strings.Fields(c.sql), " "), got, c.want)
		}
	}

	mem := memory.New(memory.Config{})
	applyBatches(t, mem, envs, 3)
	compareModels(t, envs, mem, m)
}

// TestFidelity: floats and maps survive the tables bit for bit; times are
// cut to microseconds, the same whatever the batch boundaries.
func TestFidelity(t *testing.T) {
	ctx := context.Background()
	h := readmodeltest.NewHistory()
	odd := []float64{0.1 + 0.2, 1.0 / 3, math.SmallestNonzeroFloat64, math.MaxFloat64, -1e-300, 123456789.123456789}
	metrics := map[string]float64{}
	for i, f := range odd {
		metrics[string(rune('a'+i))] = f
	}
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600)) // sub-µs, not UTC
	spec := readmodeltest.JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceCUDA, 1<<40)
	spec.Hyperparameters = map[string]string{"quote'": `"; DROP TABLE jobs; --`, "unicode": "é✓\u0000x"}
	spec.PaymentAmount = odd[0]
	nodeSpec := readmodeltest.NodeSpec("n", "eu-west", odd[1], readmodeltest.GPU(8*readmodeltest.GiB))
	nodeSpec.PublicKey = []byte{0, 1, 2, 255}
	nodeSpec.ComputeScore = odd[5]
	envs := h.Envelopes(
		domain.NodeRegistered{NodeID: "n", Owner: "o", Spec: nodeSpec, Reputation: odd[0], At: t0},
		domain.NodeWentOnline{NodeID: "n", At: t0.Add(333)},
		domain.NodeWentOffline{NodeID: "n", At: t0.Add(time.Second + 777)},
		domain.JobSubmitted{JobID: "j", Owner: "o", Spec: spec, At: t0},
		domain.JobAssigned{JobID: "j", NodeID: "n", Attempt: 1, At: t0.Add(1)},
		domain.JobStarted{JobID: "j", NodeID: "n", At: t0.Add(999)},
		domain.JobProgressed{JobID: "j", NodeID: "n", Progress: odd[1], Epoch: 3, Metrics: metrics, At: t0.Add(2000)},
		domain.JobCompleted{JobID: "j", NodeID: "n", Result: domain.JobResult{FinalMetrics: metrics, EnergyConsumed: odd[0]}, At: t0.Add(time.Minute)},
	)
	for i := range envs {
		envs[i].Recorded = t0.Add(time.Duration(i) * 1001)
	}
	for _, size := range []int{1, 3, len(envs)} {
		m := newTestModel(t)
		applyBatches(t, m, envs, size)
		var want projections.JobView
		var wantNode projections.NodeView
		for _, e := range envs {
			projections.ApplyJob(&want, e)
			normJob(&want)
			projections.ApplyNode(&wantNode, e)
			normNode(&wantNode)
		}
		got, found, err := m.GetJob(ctx, "j")
		if err != nil || !found {
			t.Fatalf("GetJob: %v %v", found, err)
		}
		// PostgreSQL cannot store U+0000: it becomes U+FFFD (see text).
		if h := got.Spec.Hyperparameters["unicode"]; h != "é✓\uFFFDx" {
			t.Fatalf("a NUL in a hyperparameter reads back as %q", h)
		}
		want.Spec.Hyperparameters = map[string]string{"quote'": spec.Hyperparameters["quote'"], "unicode": "é✓\uFFFDx"}
		if !reflect.DeepEqual(readmodeltest.NormJob(got), readmodeltest.NormJob(want)) {
			t.Fatalf("batches of %d: job\n got %+v\nwant %+v", size, got, want)
		}
		for k, f := range metrics {
			if math.Float64bits(got.Metrics[k]) != math.Float64bits(f) || math.Float64bits(got.Result.FinalMetrics[k]) != math.Float64bits(f) {
				t.Fatalf("metric %s: %v / %v, want %v", k, got.Metrics[k], got.Result.FinalMetrics[k], f)
			}
		}
		if got.StartedAt.Nanosecond()%1000 != 0 || got.StartedAt.Location() != time.UTC {
			t.Fatalf("started at %s: not whole microseconds in UTC", got.StartedAt)
		}
		// Reopen: what the mirror holds after a commit is what it loads.
		again := openModel(t, m.Schema(), Options{})
		gotNode, _, _ := again.GetNode(ctx, "n")
		if !reflect.DeepEqual(readmodeltest.NormNode(gotNode), readmodeltest.NormNode(wantNode)) {
			t.Fatalf("batches of %d: node\n got %+v\nwant %+v", size, gotNode, wantNode)
		}
		live, _, _ := m.GetNode(ctx, "n")
		if !reflect.DeepEqual(readmodeltest.NormNode(live), readmodeltest.NormNode(gotNode)) {
			t.Fatalf("batches of %d: the live mirror\n %+v\ndiffers from the loaded one\n %+v", size, live, gotNode)
		}
	}
}

// TestWatchedViewsAreWhole: the view a watcher gets for an event of a job
// read back from the table is the whole view, spec included.
func TestWatchedViewsAreWhole(t *testing.T) {
	ctx := context.Background()
	envs := knownHistory()
	m := newTestModel(t)
	applyBatches(t, m, envs[:len(envs)-1], 100) // j3 submitted and reserved
	updates, cancel := m.WatchJob("j3")
	defer cancel()
	first := <-updates
	applyBatches(t, m, envs[len(envs)-1:], 1) // j3 assigned, folded from its row
	u := <-updates
	got, _, err := m.GetJob(ctx, "j3")
	if err != nil {
		t.Fatal(err)
	}
	if first.Job.Status != domain.JobStatusPending || u.Event != "JobAssigned" ||
		!reflect.DeepEqual(readmodeltest.NormJob(u.Job), readmodeltest.NormJob(got)) {
		t.Fatalf("watched:\n %s %+v\nGetJob:\n %+v", u.Event, u.Job, got)
	}
	if u.Job.Spec.ModelDefinition != "resnet18" || u.Job.Spec.Hyperparameters["lr"] != "0.001" {
		t.Fatalf("the watched view lacks its spec: %+v", u.Job.Spec)
	}
}

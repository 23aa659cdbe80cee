package projections_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func env(e domain.Event, rev, pos uint64) projections.Envelope {
	return projections.Envelope{Event: e, Revision: rev, Position: pos, Recorded: t0}
}

func TestApplyJobDoesNotAliasEvents(t *testing.T) {
	hp := map[string]string{"lr": "0.1"}
	metrics := map[string]float64{"loss": 1}
	final := map[string]float64{"loss": 0.1}
	var v projections.JobView
	projections.ApplyJob(&v, env(domain.JobSubmitted{JobID: "j", Owner: "o", At: t0,
		Spec: domain.JobSpec{Hyperparameters: hp, InitialData: []byte("big")}}, 0, 1))
	projections.ApplyJob(&v, env(domain.JobProgressed{JobID: "j", Progress: 0.5, Metrics: metrics}, 1, 2))
	before := v.Clone()
	projections.ApplyJob(&v, env(domain.JobCompleted{JobID: "j", Result: domain.JobResult{FinalMetrics: final}}, 2, 3))
	hp["lr"], metrics["loss"], final["loss"] = "changed", 9, 9
	if v.Spec.Hyperparameters["lr"] != "0.1" || v.Metrics["loss"] != 1 || v.Result.FinalMetrics["loss"] != 0.1 {
		t.Fatalf("the view shares maps with its events: %+v", v)
	}
	if v.Spec.InitialData != nil {
		t.Fatalf("InitialData kept in the view")
	}
	if before.Status != domain.JobStatusPending || before.Result != nil {
		t.Fatalf("a copy taken before changed: %+v", before)
	}
}

func TestApplyJobIgnoresOtherEvents(t *testing.T) {
	var v projections.JobView
	projections.ApplyJob(&v, env(domain.JobSubmitted{JobID: "j", Owner: "o", At: t0}, 0, 1))
	want := v
	for _, e := range []domain.Event{
		domain.NodeRegistered{NodeID: "n"}, domain.NodeJobReserved{NodeID: "n", JobID: "j"},
		domain.ReputationAdjusted{NodeID: "n", JobID: "j"},
	} {
		projections.ApplyJob(&v, env(e, 5, 9))
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("%s changed the job view: %+v", e.EventName(), v)
		}
	}
}

func TestApplyNode(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name   string
		events []domain.Event
		check  func(t *testing.T, v *projections.NodeView)
	}{
		{"online periods add up", []domain.Event{
			domain.NodeWentOnline{NodeID: "n", At: at(10)}, domain.NodeWentOffline{NodeID: "n", At: at(30)},
			domain.NodeWentOffline{NodeID: "n", At: at(35)}, // already offline
			domain.NodeWentOnline{NodeID: "n", At: at(50)}, domain.NodeWentOnline{NodeID: "n", At: at(55)},
		}, func(t *testing.T, v *projections.NodeView) {
			if v.OnlineDuration != 20*time.Minute || !v.WentOnlineAt.Equal(at(50)) || !v.Online {
				t.Fatalf("duration %v, online since %v, online %v", v.OnlineDuration, v.WentOnlineAt, v.Online)
			}
			if d := v.OnlineFor(at(100)); d != 70*time.Minute {
				t.Fatalf("OnlineFor = %v, want 70m", d)
			}
			if u := v.Uptime(at(100)); u != 70 {
				t.Fatalf("Uptime = %v, want 70", u)
			}
			if u := v.Uptime(at(0)); u != 100 {
				t.Fatalf("Uptime at registration = %v, want 100 (online)", u)
			}
		}},
		{"reservations", []domain.Event{
			domain.NodeJobReserved{NodeID: "n", JobID: "a", At: at(1)}, domain.NodeJobReserved{NodeID: "n", JobID: "b", At: at(2)},
			domain.NodeJobReserved{NodeID: "n", JobID: "a", At: at(3)}, domain.NodeJobReleased{NodeID: "n", JobID: "a"},
			domain.NodeJobReleased{NodeID: "n", JobID: "zz"}, domain.NodeJobReserved{NodeID: "n", JobID: "c", At: at(4)},
		}, func(t *testing.T, v *projections.NodeView) {
			want := []domain.Reservation{{NodeID: "n", JobID: "b", At: at(2)}, {NodeID: "n", JobID: "c", At: at(4)}}
			if !reflect.DeepEqual(v.Reservations, want) || v.ActiveJobs() != 2 || v.FreeSlots(5) != 0 {
				t.Fatalf("reservations %+v, free slots %d (offline)", v.Reservations, v.FreeSlots(5))
			}
		}},
		{"jobs completed and compute", []domain.Event{
			domain.JobCompleted{JobID: "a", NodeID: "n", Result: domain.JobResult{ComputeTimeMs: 3_600_000}},
			domain.JobCompleted{JobID: "b", NodeID: "n", Result: domain.JobResult{ComputeTimeMs: 1_800_000}},
		}, func(t *testing.T, v *projections.NodeView) {
			if v.JobsCompleted != 2 || v.ComputeMs != 5_400_000 || v.ComputeHours() != 1.5 || v.Revision != 0 {
				t.Fatalf("jobs %d, ms %d, hours %v, revision %d", v.JobsCompleted, v.ComputeMs, v.ComputeHours(), v.Revision)
			}
		}},
		{"ban, reputation, metrics", []domain.Event{
			domain.NodeWentOnline{NodeID: "n", At: at(1)},
			domain.NodeBanned{NodeID: "n"}, domain.ReputationAdjusted{NodeID: "n", Score: 0.25},
			domain.NodeMetricsSampled{NodeID: "n", Sample: domain.MetricSample{CPUUsage: 0.5}, At: at(7)},
		}, func(t *testing.T, v *projections.NodeView) {
			if !v.Banned || v.Reputation != 0.25 || v.LastMetrics.CPUUsage != 0.5 || !v.LastSeen.Equal(at(7)) || v.FreeSlots(5) != 0 {
				t.Fatalf("%+v", v)
			}
			c := v.Candidate()
			if !c.Banned || !c.Online || c.Reputation != 0.25 || c.RAMAvailable != 3 {
				t.Fatalf("candidate %+v", c)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v projections.NodeView
			projections.ApplyNode(&v, env(domain.NodeRegistered{NodeID: "n", Owner: "o", Reputation: 0.5, At: t0,
				Spec: domain.NodeSpec{RAMTotal: 4, RAMAvailable: 3}}, 0, 1))
			for i, e := range tc.events {
				projections.ApplyNode(&v, env(e, uint64(i+1), uint64(i+2)))
			}
			tc.check(t, &v)
		})
	}
}

func TestDescribe(t *testing.T) {
	for _, e := range domain.AllEvents() {
		if _, ok := e.(domain.JobProgressed); !ok && projections.Describe(e) == "" {
			t.Errorf("%s has no description", e.EventName())
		}
		_, isJob := projections.JobIDOf(e)
		_, isNode := projections.NodeIDOf(e)
		if !isJob && !isNode {
			t.Errorf("%s is routed to no view", e.EventName())
		}
	}
}

func TestDeviceMemory(t *testing.T) {
	spec := domain.NodeSpec{CPUCores: 4, RAMTotal: 64, Devices: []domain.Device{
		{Type: domain.DeviceCUDA, VRAMTotal: 24, MemoryTotal: 99},
		{Type: domain.DeviceCUDA, VRAMTotal: 48},
		{Type: domain.DeviceMetal, MemoryTotal: 16},
	}}
	tests := []struct {
		dev  domain.DeviceType
		want int64
		ok   bool
	}{
		{domain.DeviceCUDA, 48, true},
		{domain.DeviceMetal, 16, true},
		{domain.DeviceCPU, 64, true},
		{domain.DeviceAny, 64, true},
		{domain.DeviceVulkan, 0, false},
	}
	for _, tc := range tests {
		if got, ok := projections.DeviceMemory(&spec, tc.dev); got != tc.want || ok != tc.ok {
			t.Errorf("DeviceMemory(%s) = %d, %v; want %d, %v", tc.dev, got, ok, tc.want, tc.ok)
		}
	}
	if v := projections.MaxVRAM(&spec, domain.DeviceAny); v != 48 {
		t.Errorf("MaxVRAM = %d", v)
	}
}

package domain_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

// sampleEvents has one fully populated value of every event type.
func sampleEvents() []domain.Event {
	spec := validSpec()
	node := validNodeSpec()
	node.SupportsTerminalAccess = true
	node.Devices[0].SupportsFP64, node.Devices[0].SupportsFP16 = true, true
	node.Devices[0].DriverVersion, node.Devices[0].CUDAVersion = "550.1", "12.4"
	node.Devices[0].PCIeGeneration, node.Devices[0].PCIeLanes = 4, 16
	node.Pricing = domain.Pricing{
		BillingModel: 2, PricePerHour: 0.25, PricePerEpoch: 0.01, PricePerJobBase: 0.5, PricePerInference: 0.0001,
		MinimumCharge: 0.02, MinimumDurationMinutes: 5, Discount1hPlus: 0.05, Discount24hPlus: 0.1, DiscountBulk: 0.15,
		USDEquivalent: 1.75, PriceUpdatedAt: 1700000000, AcceptsCyxwizToken: true, AcceptsSOL: true, AcceptsUSDC: true,
		FreeTierAvailable: true, FreeTierMinutes: 10,
	}
	sample := domain.MetricSample{CPUUsage: 0.5, GPUUsage: 0.75, MemoryUsage: 0.25, NetworkThroughput: 1.5e6,
		PowerConsumption: 350.5, ActiveJobs: 2, RAMAvailable: 8 << 30}
	return []domain.Event{
		domain.JobSubmitted{JobID: jobID, Owner: owner, Spec: spec, At: t0},
		domain.JobAssigned{JobID: jobID, NodeID: nodeA, Attempt: 2, Score: 152.5, At: t1},
		domain.JobAccepted{JobID: jobID, NodeID: nodeA, At: t1},
		domain.JobRejected{JobID: jobID, NodeID: nodeA, Reason: "busy", At: t1},
		domain.JobStarted{JobID: jobID, NodeID: nodeA, At: t2},
		domain.JobProgressed{JobID: jobID, NodeID: nodeA, Progress: 0.1 + 0.2, Epoch: 3,
			Metrics: map[string]float64{"loss": 0.123456789012345, "acc": 1e-300}, Log: "epoch 3 ✓", At: t2},
		domain.JobCompleted{JobID: jobID, NodeID: nodeA, Result: testResult, At: t3},
		domain.JobFailed{JobID: jobID, NodeID: nodeA, Reason: "oom", At: t3},
		domain.JobCancelled{JobID: jobID, By: owner, NodeID: nodeA, Reason: "stop", At: t3},
		domain.JobTimedOut{JobID: jobID, NodeID: nodeA, Phase: domain.PhaseRun, At: t3},
		domain.JobRequeued{JobID: jobID, PreviousNode: nodeA, Reason: "node offline", Requeues: 1, Owner: "ops", Uncounted: true, At: t3},
		domain.JobDeleted{JobID: jobID, By: owner, At: t3},
		domain.NodeRegistered{NodeID: nodeA, Owner: nodeOwn, Spec: node, Reputation: 0.5, At: t0},
		domain.NodeUpdated{NodeID: nodeA, Spec: node, At: t1},
		domain.NodeWentOnline{NodeID: nodeA, At: t1},
		domain.NodeWentOffline{NodeID: nodeA, Reason: "lease expired", At: t2},
		domain.NodeMetricsSampled{NodeID: nodeA, Sample: sample, At: t2},
		domain.ReputationAdjusted{NodeID: nodeA, Delta: -0.05, Score: 0.45, Reason: "timeout", JobID: jobID, At: t2},
		domain.NodeJobReserved{NodeID: nodeA, JobID: jobID, At: t1},
		domain.NodeJobReleased{NodeID: nodeA, JobID: jobID, Reason: "completed", At: t3},
		domain.NodeBanned{NodeID: nodeA, Reason: "fraud", By: "op", At: t3},
		domain.NodeUnbanned{NodeID: nodeA, By: "op", At: t3},
		domain.NodeDeleted{NodeID: nodeA, Reason: "abuse", By: "op", At: t3},
	}
}

// zeroFields lists the zero-valued fields of v, recursively, by path.
func zeroFields(path string, v reflect.Value) []string {
	if v.IsZero() {
		return []string{path}
	}
	var out []string
	switch v.Kind() {
	case reflect.Struct:
		if v.Type().PkgPath() != "" && v.Type().PkgPath() != reflect.TypeFor[domain.JobSpec]().PkgPath() {
			return nil // e.g. time.Time: opaque
		}
		for i := range v.NumField() {
			out = append(out, zeroFields(path+"."+v.Type().Field(i).Name, v.Field(i))...)
		}
	case reflect.Slice:
		for i := range v.Len() {
			if v.Index(i).Kind() == reflect.Struct {
				out = append(out, zeroFields(path+"[]", v.Index(i))...)
			}
		}
	}
	return out
}

func TestAllEvents(t *testing.T) {
	all := domain.AllEvents()
	samples := map[reflect.Type]domain.Event{}
	for _, e := range sampleEvents() {
		samples[reflect.TypeOf(e)] = e
	}
	if len(all) != len(samples) {
		t.Fatalf("AllEvents has %d types, the samples %d", len(all), len(samples))
	}

	seenName := map[string]bool{}
	seenType := map[reflect.Type]bool{}
	for _, e := range all {
		typ := reflect.TypeOf(e)
		name := e.EventName()
		t.Run(name, func(t *testing.T) {
			if typ.Kind() != reflect.Struct {
				t.Fatalf("%v is not a struct value type", typ)
			}
			if name == "" || seenName[name] {
				t.Fatalf("event name %q is empty or used twice", name)
			}
			seenName[name] = true
			if seenType[typ] {
				t.Fatalf("type %v listed twice", typ)
			}
			seenType[typ] = true
			if name != typ.Name() {
				t.Errorf("EventName %q differs from its type %s", name, typ.Name())
			}
			if !reflect.ValueOf(e).IsZero() {
				t.Errorf("AllEvents should hold zero values")
			}

			sample, ok := samples[typ]
			if !ok {
				t.Fatalf("no sample for %v", typ)
			}
			if z := zeroFields(name, reflect.ValueOf(sample)); len(z) > 0 {
				t.Fatalf("sample has zero fields: %s", strings.Join(z, ", "))
			}
			if sample.EventName() != name {
				t.Fatalf("sample name %q", sample.EventName())
			}

			data, err := json.Marshal(sample)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			ptr := reflect.New(typ)
			if err := json.Unmarshal(data, ptr.Interface()); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			back := ptr.Elem().Interface().(domain.Event)
			if !reflect.DeepEqual(back, sample) {
				t.Fatalf("round trip changed the event:\n got %#v\nwant %#v\njson %s", back, sample, data)
			}
			// the zero value round-trips too (omitempty must not lose anything)
			data, err = json.Marshal(e)
			if err != nil {
				t.Fatalf("marshal zero: %v", err)
			}
			zero := reflect.New(typ)
			if err := json.Unmarshal(data, zero.Interface()); err != nil {
				t.Fatalf("unmarshal zero: %v", err)
			}
			if !reflect.DeepEqual(zero.Elem().Interface(), e) {
				t.Fatalf("zero round trip: got %#v", zero.Elem().Interface())
			}
		})
	}
}

// The JSON names are the stored schema: pin the ones readers rely on.
func TestEventJSONFieldNames(t *testing.T) {
	data, err := json.Marshal(domain.JobAssigned{JobID: "j", NodeID: "n", Attempt: 1, Score: 2, At: t0})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"job_id", "node_id", "attempt", "score", "at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JobAssigned JSON lacks %q: %s", k, data)
		}
	}
}

// Folding every event type into the other aggregate is harmless: each
// Apply ignores foreign events apart from counting them.
func TestApplyIgnoresForeignEvents(t *testing.T) {
	j := foldJob(submitted())
	n := foldNode(registered())
	jBefore, nBefore := j.Status(), n.Reputation()
	for _, e := range sampleEvents() {
		if strings.HasPrefix(e.EventName(), "Node") || e.EventName() == "ReputationAdjusted" {
			j.Apply(e)
		} else {
			n.Apply(e)
		}
	}
	if j.Status() != jBefore || j.ID() != jobID || n.Reputation() != nBefore || n.ID() != nodeA {
		t.Fatalf("foreign events changed an aggregate")
	}
}

package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// Shared fixtures for the domain tests. Times are UTC so they survive a
// JSON round trip unchanged under reflect.DeepEqual.
var (
	t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	t1 = t0.Add(1 * time.Second)
	t2 = t0.Add(2 * time.Second)
	t3 = t0.Add(3 * time.Second)
)

const (
	jobID    = "job-1"
	owner    = "alice"
	stranger = "mallory"
	nodeA    = "node-a"
	nodeB    = "node-b"
	nodeOwn  = "operator-1"
)

// foldJob rebuilds a job from its events.
func foldJob(events ...domain.Event) *domain.Job {
	j := &domain.Job{}
	for _, e := range events {
		j.Apply(e)
	}
	return j
}

// foldNode rebuilds a node from its events.
func foldNode(events ...domain.Event) *domain.Node {
	n := &domain.Node{}
	for _, e := range events {
		n.Apply(e)
	}
	return n
}

// validSpec is a job spec that passes DefaultLimits.
func validSpec() domain.JobSpec {
	return domain.JobSpec{
		Type:               domain.JobTypeTraining,
		Priority:           domain.PriorityNormal,
		ModelDefinition:    "resnet18",
		Hyperparameters:    map[string]string{"lr": "0.001"},
		DatasetURI:         "s3://bucket/cifar10",
		BatchSize:          64,
		Epochs:             10,
		RequiredDevice:     domain.DeviceCUDA,
		EstimatedMemory:    4 << 30,
		EstimatedDuration:  3600,
		PaymentAmount:      1.5,
		PaymentAddress:     "PayerWa11et",
		EscrowTxHash:       "5sig",
		ReservationMinutes: 30,
		InitialData:        []byte{1, 2, 3},
	}
}

// validNodeSpec is a node spec that passes Validate.
func validNodeSpec() domain.NodeSpec {
	return domain.NodeSpec{
		Name:    "rig-1",
		Version: "1.2.3",
		Devices: []domain.Device{{
			Type: domain.DeviceCUDA, Name: "gpu0", MemoryTotal: 8 << 30, MemoryAvailable: 4 << 30,
			ComputeUnits: 82, GPUModel: "RTX 3090", VRAMTotal: 24 << 30, VRAMAvailable: 20 << 30,
			ComputeCapability: 8.6,
		}},
		CPUCores:          16,
		RAMTotal:          64 << 30,
		RAMAvailable:      32 << 30,
		IPAddress:         "10.0.0.7",
		Port:              50052,
		Region:            "eu-west",
		ComputeScore:      12.5,
		StakedAmount:      100,
		WalletAddress:     "NodeWa11et",
		SupportedFormats:  []string{"onnx"},
		MaxModelSize:      1 << 30,
		AvailableRuntimes: []string{"pytorch"},
		Pricing:           domain.Pricing{BillingModel: 0, PricePerHour: 0.25, MinimumCharge: 0.01},
		PublicKey:         []byte{0xde, 0xad},
	}
}

// Event builders with the fixture ids.
func submitted() domain.JobSubmitted {
	return domain.JobSubmitted{JobID: jobID, Owner: owner, Spec: validSpec(), At: t0}
}

func assigned(node string, attempt int) domain.JobAssigned {
	return domain.JobAssigned{JobID: jobID, NodeID: node, Attempt: attempt, Score: 145, At: t1}
}

func registered() domain.NodeRegistered {
	return domain.NodeRegistered{NodeID: nodeA, Owner: nodeOwn, Spec: validNodeSpec(), Reputation: domain.InitialReputation, At: t0}
}

// errKinds are the error kinds a decision may wrap.
var errKinds = []error{
	domain.ErrInvalidArgument, domain.ErrNotFound, domain.ErrPermissionDenied,
	domain.ErrFailedPrecondition, domain.ErrAlreadyExists, domain.ErrResourceExhausted,
}

// checkErr asserts that err wraps want (or is nil when want is nil), and
// that it wraps exactly one error kind.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("error = nil, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want it to wrap %v", err, want)
	}
	n := 0
	for _, k := range errKinds {
		if errors.Is(err, k) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v wraps %d error kinds, want exactly 1", err, n)
	}
}

// names lists the event names of events.
func names(events []domain.Event) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, e.EventName())
	}
	return out
}

func checkNames(t *testing.T, events []domain.Event, want ...string) {
	t.Helper()
	got := names(events)
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

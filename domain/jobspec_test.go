package domain_test

import (
	"math"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

func TestJobSpecValidate(t *testing.T) {
	small := domain.Limits{MaxInitialDataBytes: 8, MaxHyperparameters: 2, MaxStringBytes: 16}
	mod := func(f func(s *domain.JobSpec)) domain.JobSpec {
		s := domain.JobSpec{Hyperparameters: map[string]string{"lr": "0.1"}}
		f(&s)
		return s
	}
	str := func(n int) string { return strings.Repeat("x", n) }

	tests := []struct {
		name string
		spec domain.JobSpec
		err  error
	}{
		{"zero spec", domain.JobSpec{}, nil},
		{"base", mod(func(s *domain.JobSpec) {}), nil},

		{"job type -1", mod(func(s *domain.JobSpec) { s.Type = -1 }), domain.ErrInvalidArgument},
		{"job type unknown (0)", mod(func(s *domain.JobSpec) { s.Type = domain.JobTypeUnknown }), nil},
		{"job type preprocessing", mod(func(s *domain.JobSpec) { s.Type = domain.JobTypePreprocessing }), nil},
		{"job type 5", mod(func(s *domain.JobSpec) { s.Type = domain.JobTypePreprocessing + 1 }), domain.ErrInvalidArgument},

		{"priority -1", mod(func(s *domain.JobSpec) { s.Priority = -1 }), domain.ErrInvalidArgument},
		{"priority critical", mod(func(s *domain.JobSpec) { s.Priority = domain.PriorityCritical }), nil},
		{"priority 4", mod(func(s *domain.JobSpec) { s.Priority = domain.PriorityCritical + 1 }), domain.ErrInvalidArgument},

		{"device -1", mod(func(s *domain.JobSpec) { s.RequiredDevice = -1 }), domain.ErrInvalidArgument},
		{"device vulkan", mod(func(s *domain.JobSpec) { s.RequiredDevice = domain.DeviceVulkan }), nil},
		{"device 6", mod(func(s *domain.JobSpec) { s.RequiredDevice = domain.DeviceVulkan + 1 }), domain.ErrInvalidArgument},

		{"batch size -1", mod(func(s *domain.JobSpec) { s.BatchSize = -1 }), domain.ErrInvalidArgument},
		{"batch size max", mod(func(s *domain.JobSpec) { s.BatchSize = math.MaxInt32 }), nil},
		{"epochs -1", mod(func(s *domain.JobSpec) { s.Epochs = -1 }), domain.ErrInvalidArgument},
		{"estimated memory -1", mod(func(s *domain.JobSpec) { s.EstimatedMemory = -1 }), domain.ErrInvalidArgument},
		{"estimated duration -1", mod(func(s *domain.JobSpec) { s.EstimatedDuration = -1 }), domain.ErrInvalidArgument},
		{"reservation minutes -1", mod(func(s *domain.JobSpec) { s.ReservationMinutes = -1 }), domain.ErrInvalidArgument},

		{"payment 0", mod(func(s *domain.JobSpec) { s.PaymentAmount = 0 }), nil},
		{"payment 2.5", mod(func(s *domain.JobSpec) { s.PaymentAmount = 2.5 }), nil},
		{"payment negative", mod(func(s *domain.JobSpec) { s.PaymentAmount = -0.01 }), domain.ErrInvalidArgument},
		{"payment NaN", mod(func(s *domain.JobSpec) { s.PaymentAmount = math.NaN() }), domain.ErrInvalidArgument},
		{"payment +Inf", mod(func(s *domain.JobSpec) { s.PaymentAmount = math.Inf(1) }), domain.ErrInvalidArgument},
		{"payment -Inf", mod(func(s *domain.JobSpec) { s.PaymentAmount = math.Inf(-1) }), domain.ErrInvalidArgument},

		{"initial data at limit", mod(func(s *domain.JobSpec) { s.InitialData = make([]byte, 8) }), nil},
		{"initial data over limit", mod(func(s *domain.JobSpec) { s.InitialData = make([]byte, 9) }), domain.ErrInvalidArgument},

		{"hyperparameters at limit", mod(func(s *domain.JobSpec) { s.Hyperparameters["b"] = "1" }), nil},
		{"too many hyperparameters", mod(func(s *domain.JobSpec) { s.Hyperparameters["b"], s.Hyperparameters["c"] = "1", "2" }), domain.ErrInvalidArgument},
		{"empty hyperparameter name", mod(func(s *domain.JobSpec) { s.Hyperparameters[""] = "1" }), domain.ErrInvalidArgument},
		{"hyperparameter entry at limit", mod(func(s *domain.JobSpec) { s.Hyperparameters = map[string]string{"k": str(15)} }), nil},
		{"hyperparameter entry over limit", mod(func(s *domain.JobSpec) { s.Hyperparameters = map[string]string{"k": str(16)} }), domain.ErrInvalidArgument},
		{"hyperparameter name over limit", mod(func(s *domain.JobSpec) { s.Hyperparameters = map[string]string{str(17): ""} }), domain.ErrInvalidArgument},

		{"model definition at limit", mod(func(s *domain.JobSpec) { s.ModelDefinition = str(16) }), nil},
		{"model definition over limit", mod(func(s *domain.JobSpec) { s.ModelDefinition = str(17) }), domain.ErrInvalidArgument},
		{"dataset uri at limit", mod(func(s *domain.JobSpec) { s.DatasetURI = str(16) }), nil},
		{"dataset uri over limit", mod(func(s *domain.JobSpec) { s.DatasetURI = str(17) }), domain.ErrInvalidArgument},
		{"payment address at limit", mod(func(s *domain.JobSpec) { s.PaymentAddress = str(16) }), nil},
		{"payment address over limit", mod(func(s *domain.JobSpec) { s.PaymentAddress = str(17) }), domain.ErrInvalidArgument},
		{"escrow tx hash at limit", mod(func(s *domain.JobSpec) { s.EscrowTxHash = str(16) }), nil},
		{"escrow tx hash over limit", mod(func(s *domain.JobSpec) { s.EscrowTxHash = str(17) }), domain.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.spec.Validate(small), tt.err)
			_, err := domain.SubmitJob(jobID, owner, tt.spec, small, t0)
			checkErr(t, err, tt.err)
		})
	}
}

func TestJobSpecValidateDefaultLimits(t *testing.T) {
	l := domain.DefaultLimits
	tests := []struct {
		name string
		spec domain.JobSpec
		err  error
	}{
		{"valid fixture", validSpec(), nil},
		{"initial data at default limit", domain.JobSpec{InitialData: make([]byte, l.MaxInitialDataBytes)}, nil},
		{"initial data over default limit", domain.JobSpec{InitialData: make([]byte, l.MaxInitialDataBytes+1)}, domain.ErrInvalidArgument},
		{"model definition over default limit", domain.JobSpec{ModelDefinition: strings.Repeat("m", l.MaxStringBytes+1)}, domain.ErrInvalidArgument},
		{"too many hyperparameters", domain.JobSpec{Hyperparameters: manyParams(l.MaxHyperparameters + 1)}, domain.ErrInvalidArgument},
		{"hyperparameters at default limit", domain.JobSpec{Hyperparameters: manyParams(l.MaxHyperparameters)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.spec.Validate(l), tt.err)
		})
	}
}

func manyParams(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m["p"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26))] = "v"
	}
	if len(m) != n {
		panic("manyParams: collision")
	}
	return m
}

func TestEnumValidAndString(t *testing.T) {
	devices := map[domain.DeviceType]string{
		domain.DeviceAny: "any", domain.DeviceCPU: "cpu", domain.DeviceCUDA: "cuda",
		domain.DeviceOpenCL: "opencl", domain.DeviceMetal: "metal", domain.DeviceVulkan: "vulkan",
	}
	for d, s := range devices {
		if !d.Valid() || d.String() != s {
			t.Errorf("device %d: Valid %v String %q, want true %q", d, d.Valid(), d.String(), s)
		}
	}
	for _, d := range []domain.DeviceType{-1, 6, 100} {
		if d.Valid() {
			t.Errorf("device %d is valid", d)
		}
	}
	types := map[domain.JobType]string{
		domain.JobTypeUnknown: "unknown", domain.JobTypeTraining: "training", domain.JobTypeInference: "inference",
		domain.JobTypeEvaluation: "evaluation", domain.JobTypePreprocessing: "preprocessing",
	}
	for jt, s := range types {
		if !jt.Valid() || jt.String() != s {
			t.Errorf("job type %d: Valid %v String %q, want true %q", jt, jt.Valid(), jt.String(), s)
		}
	}
	for _, jt := range []domain.JobType{-1, 5} {
		if jt.Valid() {
			t.Errorf("job type %d is valid", jt)
		}
	}
	prios := map[domain.Priority]string{
		domain.PriorityLow: "low", domain.PriorityNormal: "normal", domain.PriorityHigh: "high", domain.PriorityCritical: "critical",
	}
	for p, s := range prios {
		if !p.Valid() || p.String() != s {
			t.Errorf("priority %d: Valid %v String %q, want true %q", p, p.Valid(), p.String(), s)
		}
	}
	for _, p := range []domain.Priority{-1, 4} {
		if p.Valid() {
			t.Errorf("priority %d is valid", p)
		}
	}
	// wire values (PROTOCOL.md)
	if domain.DeviceCUDA != 2 || domain.DeviceVulkan != 5 || domain.JobTypePreprocessing != 4 || domain.PriorityCritical != 3 {
		t.Errorf("enum values drifted from the wire contract")
	}
}

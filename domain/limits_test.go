package domain_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

func minimalNode() domain.NodeSpec {
	return domain.NodeSpec{Name: "n", IPAddress: "127.0.0.1", Port: 1}
}

// TestNodeSpecLimits: every bounded field of a registration is refused
// one past its limit and accepted at it.
func TestNodeSpecLimits(t *testing.T) {
	at := func(n int) string { return strings.Repeat("x", n) }
	many := func(n int) []string { return make([]string, n) }
	cases := []struct {
		name  string
		edit  func(s *domain.NodeSpec, over int)
		limit int
	}{
		{"name", func(s *domain.NodeSpec, n int) { s.Name = at(n) }, domain.MaxNodeNameBytes},
		{"version", func(s *domain.NodeSpec, n int) { s.Version = at(n) }, domain.MaxNodeVersionBytes},
		{"region", func(s *domain.NodeSpec, n int) { s.Region = at(n) }, domain.MaxRegionBytes},
		{"wallet", func(s *domain.NodeSpec, n int) { s.WalletAddress = at(n) }, domain.MaxWalletBytes},
		{"public key", func(s *domain.NodeSpec, n int) { s.PublicKey = make([]byte, n) }, domain.MaxPublicKeyBytes},
		{"formats", func(s *domain.NodeSpec, n int) { s.SupportedFormats = many(n) }, domain.MaxListEntries},
		{"format entry", func(s *domain.NodeSpec, n int) { s.SupportedFormats = []string{at(n)} }, domain.MaxListEntryBytes},
		{"runtimes", func(s *domain.NodeSpec, n int) { s.AvailableRuntimes = many(n) }, domain.MaxListEntries},
		{"runtime entry", func(s *domain.NodeSpec, n int) { s.AvailableRuntimes = []string{at(n)} }, domain.MaxListEntryBytes},
		{"devices", func(s *domain.NodeSpec, n int) { s.Devices = make([]domain.Device, n) }, domain.MaxDevices},
		{"device name", func(s *domain.NodeSpec, n int) { s.Devices = []domain.Device{{Name: at(n)}} }, domain.MaxDeviceStringBytes},
		{"gpu model", func(s *domain.NodeSpec, n int) { s.Devices = []domain.Device{{GPUModel: at(n)}} }, domain.MaxDeviceStringBytes},
		{"driver", func(s *domain.NodeSpec, n int) { s.Devices = []domain.Device{{DriverVersion: at(n)}} }, domain.MaxDeviceStringBytes},
		{"cuda", func(s *domain.NodeSpec, n int) { s.Devices = []domain.Device{{CUDAVersion: at(n)}} }, domain.MaxDeviceStringBytes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok := minimalNode()
			c.edit(&ok, c.limit)
			if err := ok.Validate(); err != nil {
				t.Fatalf("at the limit %d: %v", c.limit, err)
			}
			bad := minimalNode()
			c.edit(&bad, c.limit+1)
			if err := bad.Validate(); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Fatalf("one past the limit %d: got %v, want invalid argument", c.limit, err)
			}
			if err := bad.ValidateStatus(); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Fatalf("heartbeat status one past the limit %d: got %v, want invalid argument", c.limit, err)
			}
		})
	}
}

// TestHeartbeatStatusNumbers: a heartbeat's current_status may not carry
// NaN, infinities or negative amounts (they would reach metric samples).
func TestHeartbeatStatusNumbers(t *testing.T) {
	cases := []struct {
		name string
		s    domain.NodeSpec
	}{
		{"negative ram", domain.NodeSpec{RAMAvailable: -1}},
		{"negative ram total", domain.NodeSpec{RAMTotal: -1}},
		{"NaN compute score", domain.NodeSpec{ComputeScore: math.NaN()}},
		{"Inf stake", domain.NodeSpec{StakedAmount: math.Inf(1)}},
		{"negative price", domain.NodeSpec{Pricing: domain.Pricing{PricePerHour: -1}}},
		{"negative vram", domain.NodeSpec{Devices: []domain.Device{{VRAMAvailable: -5}}}},
		{"NaN capability", domain.NodeSpec{Devices: []domain.Device{{ComputeCapability: math.NaN()}}}},
		{"bad port", domain.NodeSpec{Port: 70000}},
	}
	for _, c := range cases {
		if err := c.s.ValidateStatus(); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%s: got %v, want invalid argument", c.name, err)
		}
	}
	if err := (domain.NodeSpec{RAMTotal: 8 << 30, RAMAvailable: 4 << 30}).ValidateStatus(); err != nil {
		t.Errorf("a plain status without name or address: %v", err)
	}
}

func TestJobSpecBytes(t *testing.T) {
	l := domain.Limits{MaxInitialDataBytes: 1 << 20, MaxHyperparameters: 256, MaxStringBytes: 64 << 10, MaxSpecBytes: 100 << 10}
	spec := domain.JobSpec{InitialData: make([]byte, 60<<10), Hyperparameters: map[string]string{"k": strings.Repeat("v", 50<<10)}}
	if err := spec.Validate(l); !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), "job spec is") {
		t.Fatalf("a spec over MaxSpecBytes: got %v", err)
	}
	spec.Hyperparameters = nil
	if err := spec.Validate(l); err != nil {
		t.Fatalf("a spec under MaxSpecBytes: %v", err)
	}
}

func TestProgressBounds(t *testing.T) {
	big := map[string]float64{}
	for i := range domain.MaxMetricEntries + 1 {
		big[strings.Repeat("m", 1+i%200)+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = 1
	}
	for name, p := range map[string]domain.Progress{
		"too many metrics": {Metrics: big},
		"long metric name": {Metrics: map[string]float64{strings.Repeat("m", domain.MaxMetricNameBytes+1): 1}},
		"long log":         {Log: strings.Repeat("l", domain.MaxLogBytes+1)},
		"Inf metric":       {Metrics: map[string]float64{"loss": math.Inf(-1)}},
	} {
		if err := p.Validate(); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%s: got %v, want invalid argument", name, err)
		}
	}
}

// FuzzNodeSpecValidate: the validators never panic, and whatever they
// accept stays within the limits.
func FuzzNodeSpecValidate(f *testing.F) {
	f.Add("n", "127.0.0.1", int32(1), "eu", "cuda", 1.0, int64(1), 0.5)
	f.Add(strings.Repeat("x", 300), "", int32(0), "", "", math.NaN(), int64(-1), math.Inf(1))
	f.Fuzz(func(t *testing.T, name, ip string, port int32, region, format string, score float64, ram int64, capability float64) {
		s := domain.NodeSpec{Name: name, IPAddress: ip, Port: port, Region: region, SupportedFormats: []string{format},
			ComputeScore: score, RAMTotal: ram, Devices: []domain.Device{{Name: format, ComputeCapability: capability}}}
		for _, err := range []error{s.Validate(), s.ValidateStatus()} {
			if err != nil {
				if !errors.Is(err, domain.ErrInvalidArgument) {
					t.Fatalf("not an invalid-argument error: %v", err)
				}
				continue
			}
			if len(s.Name) > domain.MaxNodeNameBytes || len(s.Region) > domain.MaxRegionBytes ||
				len(format) > domain.MaxListEntryBytes || ram < 0 || math.IsNaN(score) || math.IsNaN(capability) {
				t.Fatalf("accepted out of bounds: %+v", s)
			}
		}
	})
}

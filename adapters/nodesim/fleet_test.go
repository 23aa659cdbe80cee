package nodesim

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

func TestParseDevice(t *testing.T) {
	for _, tt := range []struct {
		spec    string
		want    pb.DeviceType
		gib     int64
		wantErr string
	}{
		{spec: "cuda", want: pb.DeviceType_DEVICE_CUDA, gib: 24},
		{spec: "CUDA:80", want: pb.DeviceType_DEVICE_CUDA, gib: 80},
		{spec: " cpu:64 ", want: pb.DeviceType_DEVICE_CPU, gib: 64},
		{spec: "metal:16", want: pb.DeviceType_DEVICE_METAL, gib: 16},
		{spec: "vulkan", want: pb.DeviceType_DEVICE_VULKAN, gib: 24},
		{spec: "opencl:8", want: pb.DeviceType_DEVICE_OPENCL, gib: 8},
		{spec: "tpu", wantErr: "TYPE one of"},
		{spec: "cuda:", wantErr: "GIB"},
		{spec: "cuda:0", wantErr: "GIB"},
		{spec: "cuda:x", wantErr: "GIB"},
		{spec: "", wantErr: "TYPE one of"},
	} {
		d, err := ParseDevice(tt.spec, 24)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDevice(%q) = %v, %v; want an error containing %q", tt.spec, d, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDevice(%q): %v", tt.spec, err)
			continue
		}
		if d.GetDeviceType() != tt.want || d.GetVramTotal() != tt.gib<<30 || d.GetMemoryTotal() != tt.gib<<30 {
			t.Errorf("ParseDevice(%q) = %v, want %v with %d GiB", tt.spec, d, tt.want, tt.gib)
		}
	}
}

// TestFleetCyclesSpecsAcrossNodes: devices, regions and prices are handed
// out round-robin; names and control ports follow the node index.
func TestFleetCyclesSpecsAcrossNodes(t *testing.T) {
	f, addr := startFake(t)
	cuda, _ := ParseDevice("cuda:24", 24)
	cpu, _ := ParseDevice("cpu:64", 24)
	fleet, err := StartFleet(context.Background(), FleetConfig{
		Count:      5,
		Template:   Config{ServerAddr: addr, OwnerToken: ownerToken, AdvertiseHost: "node-sim.internal"},
		NamePrefix: "edge",
		Devices:    []*pb.DeviceCaps{cuda, cpu},
		Regions:    []string{"eu-west", "us-east", "ap-south"},
		Prices:     []float64{1.5, 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	if len(fleet.Nodes()) != 5 {
		t.Fatalf("%d nodes", len(fleet.Nodes()))
	}
	f.mu.Lock()
	regs := f.registered
	f.mu.Unlock()
	if len(regs) != 5 {
		t.Fatalf("%d registrations, want 5", len(regs))
	}
	wantDev := []pb.DeviceType{pb.DeviceType_DEVICE_CUDA, pb.DeviceType_DEVICE_CPU}
	wantRegion := []string{"eu-west", "us-east", "ap-south"}
	wantPrice := []float64{1.5, 3}
	for i, r := range regs {
		info := r.GetInfo()
		if got, want := info.GetName(), "edge-"+string(rune('1'+i)); got != want {
			t.Errorf("node %d name %q, want %q", i, got, want)
		}
		if info.GetDevices()[0].GetDeviceType() != wantDev[i%2] || info.GetRegion() != wantRegion[i%3] ||
			info.GetPricing().GetPricePerHour() != wantPrice[i%2] {
			t.Errorf("node %d advertised %v / %q / %v", i, info.GetDevices()[0].GetDeviceType(), info.GetRegion(), info.GetPricing().GetPricePerHour())
		}
		if info.GetIpAddress() != "node-sim.internal" {
			t.Errorf("node %d advertised ip %q, want the AdvertiseHost", i, info.GetIpAddress())
		}
	}
	if err := fleet.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range fleet.Nodes() {
		if _, err := assigner(t, n).AssignJob(context.Background(), &pb.AssignJobRequest{}); err == nil {
			t.Fatal("a control endpoint still answers after Shutdown")
		}
	}
}

func TestFleetFixedControlPortsAndBadConfig(t *testing.T) {
	_, addr := startFake(t)
	for _, tt := range []struct {
		name string
		cfg  FleetConfig
	}{
		{"no nodes", FleetConfig{Count: 0, Template: Config{ServerAddr: addr, OwnerToken: ownerToken}}},
		{"ports out of range", FleetConfig{Count: 3, BaseControlPort: 65534, Template: Config{ServerAddr: addr, OwnerToken: ownerToken}}},
		{"bad reject probability", FleetConfig{Count: 1, Template: Config{ServerAddr: addr, OwnerToken: ownerToken, RejectProbability: 2}}},
		{"refused registration", FleetConfig{Count: 2, Template: Config{ServerAddr: addr, OwnerToken: "wrong"}}},
	} {
		if f, err := StartFleet(context.Background(), tt.cfg); err == nil {
			f.Close()
			t.Errorf("%s: StartFleet accepted", tt.name)
		}
	}
}

func TestAdvertiseHostDefaults(t *testing.T) {
	for _, tt := range []struct{ host, advertise, want string }{
		{"", "", "127.0.0.1"},
		{"0.0.0.0", "", "127.0.0.1"},
		{"::", "", "127.0.0.1"},
		{"10.0.0.5", "", "10.0.0.5"},
		{"0.0.0.0", "node-sim", "node-sim"},
	} {
		n, err := New(Config{ServerAddr: "x:1", OwnerToken: "t", Host: tt.host, AdvertiseHost: tt.advertise})
		if err != nil {
			t.Fatal(err)
		}
		if got := n.info().GetIpAddress(); got != tt.want {
			t.Errorf("Host %q AdvertiseHost %q: advertised %q, want %q", tt.host, tt.advertise, got, tt.want)
		}
	}
}

// TestRejectProbabilityRefusesAndRemembers: about the asked share of jobs
// is refused, with the simulated reason, and a refused job pushed again is
// refused again, so a requeued job can only run elsewhere.
func TestRejectProbabilityRefusesAndRemembers(t *testing.T) {
	f, addr := startFake(t)
	n := startSim(t, Config{ServerAddr: addr, OwnerToken: ownerToken, MaxConcurrentJobs: 1000,
		RejectProbability: 0.25, Rand: rand.New(rand.NewPCG(3, 5))})
	c := assigner(t, n)
	const jobs = 400
	var refused []string
	for i := range jobs {
		resp := assign(t, c, n.ID(), jobID(i))
		if !resp.GetAccepted() {
			if resp.GetError().GetMessage() != RejectReason {
				t.Fatalf("refusal reason %q", resp.GetError().GetMessage())
			}
			refused = append(refused, jobID(i))
		}
	}
	// Binomial(400, 0.25): mean 100, sd 8.7.
	if len(refused) < 65 || len(refused) > 135 {
		t.Fatalf("%d of %d refused with p=0.25", len(refused), jobs)
	}
	for _, id := range refused[:10] {
		if assign(t, c, n.ID(), id).GetAccepted() {
			t.Fatalf("job %s was refused, then accepted when pushed again", id)
		}
	}
	waitFor(t, 5*time.Second, "results", func() bool { return f.resultCount() == jobs-len(refused) })
	st := n.Stats()
	if int(st.Rejected) != len(refused)+10 || st.Refused != 0 || int(st.Accepted) != jobs-len(refused) {
		t.Fatalf("stats %+v; refused %d (+10 repeats)", st, len(refused))
	}
}

package nodesim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

// FleetConfig describes N simulated nodes that share one template. The
// per-node lists (Devices, Regions, Prices) are cycled across the nodes:
// node i gets Devices[i%len(Devices)], and so on; an empty list keeps the
// template's value (or the node default).
type FleetConfig struct {
	// Count is the number of nodes (≥ 1).
	Count int
	// Template is every node's configuration. Name, ControlPort, Rand and
	// OnJobDone are set per node; Devices, Region and PricePerHour too when
	// the lists below are not empty.
	Template Config
	// NamePrefix names the nodes "<prefix>-1", "<prefix>-2", … (default "sim").
	NamePrefix string
	// Devices, Regions, Prices, Wallets are cycled across the nodes.
	Devices []*pb.DeviceCaps
	Regions []string
	Prices  []float64
	// Wallets are the nodes' payout wallets, cycled likewise.
	Wallets []string
	// BaseControlPort: node i serves AssignJob on BaseControlPort+i; 0
	// picks free ports.
	BaseControlPort int
	// Seed makes the fleet's rejections and failures reproducible: node i
	// draws from PCG(Seed, i), in the order its assignments arrive.
	Seed uint64
	// OnJobDone, when set, is called for each job a node ends, with the
	// node's index.
	OnJobDone func(node int, r Result)
}

// Fleet is a set of running simulated nodes.
type Fleet struct {
	nodes []*Node
}

// StartFleet starts cfg.Count nodes one after the other; ctx bounds each
// registration. On an error it stops the nodes already started.
func StartFleet(ctx context.Context, cfg FleetConfig) (*Fleet, error) {
	if cfg.Count < 1 {
		return nil, fmt.Errorf("nodesim: fleet Count must be at least 1, got %d", cfg.Count)
	}
	if cfg.BaseControlPort < 0 || cfg.BaseControlPort+cfg.Count-1 > 65535 {
		return nil, fmt.Errorf("nodesim: control ports %d..%d are out of range", cfg.BaseControlPort, cfg.BaseControlPort+cfg.Count-1)
	}
	prefix := cfg.NamePrefix
	if prefix == "" {
		prefix = "sim"
	}
	f := &Fleet{}
	for i := range cfg.Count {
		c := cfg.Template
		c.Name = prefix + "-" + strconv.Itoa(i+1)
		if cfg.BaseControlPort > 0 {
			c.ControlPort = cfg.BaseControlPort + i
		}
		if len(cfg.Devices) > 0 {
			c.Devices = []*pb.DeviceCaps{cfg.Devices[i%len(cfg.Devices)]}
		}
		if len(cfg.Regions) > 0 {
			c.Region = cfg.Regions[i%len(cfg.Regions)]
		}
		if len(cfg.Wallets) > 0 {
			c.WalletAddress = cfg.Wallets[i%len(cfg.Wallets)]
		}
		if len(cfg.Prices) > 0 {
			c.PricePerHour = cfg.Prices[i%len(cfg.Prices)]
		}
		c.Rand = rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		if cfg.OnJobDone != nil {
			c.OnJobDone = func(r Result) { cfg.OnJobDone(i, r) }
		}
		if c.Log != nil {
			c.Log = c.Log.With("sim", c.Name)
		}
		n, err := New(c)
		if err == nil {
			err = n.Start(ctx)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("node %s: %w", c.Name, err)
		}
		f.nodes = append(f.nodes, n)
	}
	return f, nil
}

// Nodes returns the fleet's nodes in start order.
func (f *Fleet) Nodes() []*Node { return f.nodes }

// Stats sums the nodes' counters.
func (f *Fleet) Stats() Stats {
	var sum Stats
	for _, n := range f.nodes {
		st := n.Stats()
		sum.Assigned += st.Assigned
		sum.Accepted += st.Accepted
		sum.Refused += st.Refused
		sum.Rejected += st.Rejected
		sum.Completed += st.Completed
		sum.Failed += st.Failed
		sum.Cancelled += st.Cancelled
		sum.ReportErrors += st.ReportErrors
		sum.Heartbeats += st.Heartbeats
		sum.Active += st.Active
	}
	return sum
}

// Shutdown stops every node at once (see Node.Shutdown): they refuse new
// assignments, jobs in flight get until ctx ends to finish, heartbeats
// stop and the control listeners close.
func (f *Fleet) Shutdown(ctx context.Context) error {
	errs := make([]error, len(f.nodes))
	var wg sync.WaitGroup
	for i, n := range f.nodes {
		wg.Go(func() { errs[i] = n.Shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close is Shutdown with each node's DrainTimeout.
func (f *Fleet) Close() error {
	errs := make([]error, len(f.nodes))
	var wg sync.WaitGroup
	for i, n := range f.nodes {
		wg.Go(func() { errs[i] = n.Close() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deviceTypes maps the names ParseDevice accepts.
var deviceTypes = map[string]pb.DeviceType{
	"cpu": pb.DeviceType_DEVICE_CPU, "cuda": pb.DeviceType_DEVICE_CUDA, "opencl": pb.DeviceType_DEVICE_OPENCL,
	"metal": pb.DeviceType_DEVICE_METAL, "vulkan": pb.DeviceType_DEVICE_VULKAN,
}

// ParseDevice parses a device spec "TYPE[:GIB]" — TYPE one of cpu, cuda,
// opencl, metal, vulkan; GIB the device memory in GiB (default
// defaultGiB) — into the capabilities a node advertises.
func ParseDevice(spec string, defaultGiB int64) (*pb.DeviceCaps, error) {
	name, gibStr, hasGiB := strings.Cut(strings.TrimSpace(spec), ":")
	name = strings.ToLower(name)
	dt, ok := deviceTypes[name]
	if !ok {
		return nil, fmt.Errorf("device %q: want TYPE[:GIB] with TYPE one of cpu, cuda, opencl, metal, vulkan", spec)
	}
	gib := defaultGiB
	if hasGiB {
		g, err := strconv.ParseInt(gibStr, 10, 64)
		if err != nil || g < 1 || g > 1<<20 {
			return nil, fmt.Errorf("device %q: GIB must be a whole number of GiB within 1..1048576", spec)
		}
		gib = g
	}
	mem := gib << 30
	return &pb.DeviceCaps{DeviceType: dt, DeviceName: name + "-sim", GpuModel: fmt.Sprintf("Sim%s %dG", strings.ToUpper(name), gib),
		VramTotal: mem, VramAvailable: mem, MemoryTotal: mem, MemoryAvailable: mem, ComputeUnits: 64}, nil
}

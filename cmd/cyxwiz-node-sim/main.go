// Command cyxwiz-node-sim runs simulated CyxWiz compute nodes against a
// central server: each registers, heartbeats, serves AssignJob on its
// control port (advertised port + 3), "trains" with progress reports and
// reports a result. Stop it with Ctrl-C or SIGTERM.
//
//	cyxwiz-node-sim --server 127.0.0.1:50051 --token "$OWNER_TOKEN" [--nodes 3] [--train 20s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cyxwiz/central-server/adapters/nodesim"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "cyxwiz-node-sim: %v\n", err)
		}
		os.Exit(1)
	}
}

var devices = map[string]pb.DeviceType{
	"cpu": pb.DeviceType_DEVICE_CPU, "cuda": pb.DeviceType_DEVICE_CUDA, "opencl": pb.DeviceType_DEVICE_OPENCL,
	"metal": pb.DeviceType_DEVICE_METAL, "vulkan": pb.DeviceType_DEVICE_VULKAN,
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cyxwiz-node-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "127.0.0.1:50051", "central server gRPC address")
	token := fs.String("token", os.Getenv("CYXWIZ_NODE_OWNER_TOKEN"), "the owner's user token (cyxwiz-central token --sub NAME)")
	count := fs.Int("nodes", 1, "number of nodes")
	train := fs.Duration("train", 10*time.Second, "how long each job trains")
	progress := fs.Int("progress", 4, "progress reports per job")
	failure := fs.Float64("failure", 0, "probability (0..1) that a job fails")
	slots := fs.Int("slots", nodesim.DefaultMaxConcurrentJobs, "jobs each node runs at once")
	device := fs.String("device", "cuda", "device type: cpu, cuda, opencl, metal, vulkan")
	vram := fs.Int64("vram-gib", 24, "device memory in GiB")
	region := fs.String("region", "local", "region the nodes advertise")
	price := fs.Float64("price", 1, "price per hour")
	heartbeat := fs.Duration("heartbeat", nodesim.DefaultHeartbeatInterval, "heartbeat interval")
	seed := fs.Uint64("seed", 0, "random seed for failures (0: random)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dt, ok := devices[strings.ToLower(*device)]
	switch {
	case *token == "":
		return errors.New("--token is required: mint one with `cyxwiz-central token --sub OWNER`")
	case !ok:
		return fmt.Errorf("--device %q: want one of cpu, cuda, opencl, metal, vulkan", *device)
	case *count < 1 || *count > 1000:
		return fmt.Errorf("--nodes must be within 1..1000, got %d", *count)
	case *failure < 0 || *failure > 1:
		return fmt.Errorf("--failure must be within 0..1, got %v", *failure)
	}
	if *seed == 0 {
		*seed = rand.Uint64()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var nodes []*nodesim.Node
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	for i := range *count {
		n, err := nodesim.New(nodesim.Config{
			ServerAddr: *server, OwnerToken: *token, Name: fmt.Sprintf("sim-%d", i+1), Region: *region,
			PricePerHour: *price, HeartbeatInterval: *heartbeat, MaxConcurrentJobs: *slots,
			TrainDuration: *train, ProgressReports: *progress, FailureProbability: *failure,
			Rand:    rand.New(rand.NewPCG(*seed, uint64(i))),
			Devices: []*pb.DeviceCaps{{DeviceType: dt, DeviceName: *device + "-sim", VramTotal: *vram << 30, VramAvailable: *vram << 30, MemoryTotal: *vram << 30}},
			OnJobDone: func(r nodesim.Result) {
				fmt.Fprintf(stdout, "node sim-%d: job %s %s after %s\n", i+1, r.JobID, r.Outcome, r.Done.Sub(r.Received).Round(time.Millisecond))
			},
			Log: log.With("sim", i+1),
		})
		if err != nil {
			return err
		}
		if err := n.Start(ctx); err != nil {
			return fmt.Errorf("node %d: %w", i+1, err)
		}
		nodes = append(nodes, n)
		fmt.Fprintf(stdout, "node sim-%d registered as %s, control endpoint %s\n", i+1, n.ID(), n.ControlAddr())
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
}

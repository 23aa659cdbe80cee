// Command cyxwiz-node-sim runs a fleet of simulated CyxWiz compute nodes
// against a central server, and submits demo jobs.
//
//	cyxwiz-node-sim [run] --server HOST:PORT (--token TOKEN | --secret SECRET) [fleet flags]
//	cyxwiz-node-sim submit --server HOST:PORT (--token TOKEN | --secret SECRET) [--jobs 3]
//
// run: each node registers, heartbeats, serves AssignJob on its control
// port (advertised port + 3), refuses a share of assignments (--reject;
// the server requeues those jobs for another node), "trains" for --train
// with --progress reports, and reports success or, with probability
// --failure, a failure (terminal on the server). --device, --region and
// --price take comma-separated lists cycled across the nodes; --seed makes
// the rejections and failures reproducible. SIGINT or SIGTERM stops it
// cleanly: the nodes refuse new work, jobs in flight get --drain to finish
// (the rest are abandoned and the server requeues them), heartbeats stop,
// the control listeners close, and it exits 0. The protocol has no
// deregistration call: the server marks the nodes offline once their
// heartbeats stop (scheduler.heartbeat_timeout_seconds).
//
// submit: see submit.go.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/nodesim"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "cyxwiz-node-sim: %v\n", err)
		}
		os.Exit(1)
	}
}

// dispatch runs the subcommand named by the first argument (default run).
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return run(ctx, args, stdout, stderr)
	case "submit":
		return submit(ctx, args, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: want run or submit", cmd)
}

// credentials are the flags that yield a bearer token: a token, or the
// server's JWT secret to mint one.
type credentials struct {
	token, secret, sub *string
}

func credentialFlags(fs *flag.FlagSet, tokenEnv, defaultSub string) credentials {
	return credentials{
		token:  fs.String("token", os.Getenv(tokenEnv), "user token (cyxwiz-central token --sub NAME); env "+tokenEnv),
		secret: fs.String("secret", os.Getenv("CYXWIZ_JWT_SECRET"), "the server's jwt.secret, to mint a token for --sub instead of --token; env CYXWIZ_JWT_SECRET"),
		sub:    fs.String("sub", defaultSub, "user id of the token minted with --secret"),
	}
}

// bearer returns the token, minting one with the secret when no token is given.
func (c credentials) bearer() (string, error) {
	switch {
	case *c.token != "":
		return *c.token, nil
	case *c.secret != "":
		if *c.sub == "" {
			return "", errors.New("--sub is required with --secret")
		}
		tok, _, err := auth.NewIssuer([]byte(*c.secret), time.Now).MintUser(*c.sub, "", "", 24*time.Hour)
		return tok, err
	}
	return "", errors.New("--token (or --secret) is required: mint a token with `cyxwiz-central token --sub OWNER`")
}

// lockedWriter serialises writes from the nodes' goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fleetFlags are run's flags.
type fleetFlags struct {
	server, devices, regions, prices, listen, advertise string
	creds                                               credentials
	tls                                                 tlsconf.ClientFiles
	nodes, progress, slots, basePort, portOffset        int
	vramGiB                                             int64
	train, heartbeat, drain                             time.Duration
	failure, reject                                     float64
	seed                                                uint64
	notify                                              bool
}

// fleetConfig checks the flags and turns them into a fleet.
func (f *fleetFlags) fleetConfig() (nodesim.FleetConfig, error) {
	token, err := f.creds.bearer()
	if err != nil {
		return nodesim.FleetConfig{}, err
	}
	switch {
	case f.nodes < 1 || f.nodes > 1000:
		return nodesim.FleetConfig{}, fmt.Errorf("--nodes must be within 1..1000, got %d", f.nodes)
	case !(f.failure >= 0 && f.failure <= 1):
		return nodesim.FleetConfig{}, fmt.Errorf("--failure must be within 0..1, got %v", f.failure)
	case !(f.reject >= 0 && f.reject < 1):
		return nodesim.FleetConfig{}, fmt.Errorf("--reject must be within 0..1 (excluding 1), got %v", f.reject)
	case f.train < 0 || f.progress < 0 || f.slots < 1 || f.drain < 0:
		return nodesim.FleetConfig{}, errors.New("--train, --progress and --drain must be ≥ 0, --slots ≥ 1")
	case f.basePort < 0 || f.basePort > 65535:
		return nodesim.FleetConfig{}, fmt.Errorf("--base-port must be within 0..65535, got %d", f.basePort)
	}
	clientTLS, err := f.tls.Config()
	if err != nil {
		return nodesim.FleetConfig{}, err
	}
	var controlTLS *tls.Config
	if f.tls.Cert != "" {
		if controlTLS, err = f.tls.ServerConfig(); err != nil {
			return nodesim.FleetConfig{}, err
		}
	}
	cfg := nodesim.FleetConfig{Count: f.nodes, BaseControlPort: f.basePort, Seed: f.seed, Template: nodesim.Config{
		TLS: clientTLS, ControlTLS: controlTLS,
		ServerAddr: f.server, OwnerToken: token, Host: f.listen, AdvertiseHost: f.advertise, PortOffset: f.portOffset,
		HeartbeatInterval: f.heartbeat, MaxConcurrentJobs: f.slots, TrainDuration: f.train, ProgressReports: f.progress,
		NotifyAccepted: f.notify, FailureProbability: f.failure, RejectProbability: f.reject, DrainTimeout: f.drain,
	}}
	for _, spec := range splitList(f.devices) {
		d, err := nodesim.ParseDevice(spec, f.vramGiB)
		if err != nil {
			return nodesim.FleetConfig{}, fmt.Errorf("--device: %w", err)
		}
		cfg.Devices = append(cfg.Devices, d)
	}
	cfg.Regions = splitList(f.regions)
	for _, p := range splitList(f.prices) {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || !(v > 0 && v < 1e9) {
			return nodesim.FleetConfig{}, fmt.Errorf("--price %q: want positive numbers, comma-separated", p)
		}
		cfg.Prices = append(cfg.Prices, v)
	}
	return cfg, nil
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cyxwiz-node-sim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f fleetFlags
	fs.StringVar(&f.server, "server", "127.0.0.1:50051", "central server gRPC address; several replicas: comma-separated (or a dns:/// name), calls spread round-robin and retried on another when one is unavailable")
	f.creds = credentialFlags(fs, "CYXWIZ_NODE_OWNER_TOKEN", "sim-owner")
	fs.IntVar(&f.nodes, "nodes", 1, "number of nodes")
	fs.StringVar(&f.devices, "device", "cuda", "devices, cycled across nodes: TYPE[:GIB],… with TYPE cpu, cuda, opencl, metal or vulkan")
	fs.Int64Var(&f.vramGiB, "vram-gib", 24, "device memory in GiB for a --device without :GIB")
	fs.StringVar(&f.regions, "region", "local", "regions, cycled across nodes (comma-separated)")
	fs.StringVar(&f.prices, "price", "1", "prices per hour, cycled across nodes (comma-separated)")
	fs.DurationVar(&f.train, "train", 10*time.Second, "how long each job trains")
	fs.IntVar(&f.progress, "progress", 4, "progress reports per job")
	fs.Float64Var(&f.failure, "failure", 0, "probability (0..1) that an accepted job reports failure (terminal)")
	fs.Float64Var(&f.reject, "reject", 0, "probability (0..1) that a node refuses a job (the server requeues it elsewhere)")
	fs.IntVar(&f.slots, "slots", nodesim.DefaultMaxConcurrentJobs, "jobs each node runs at once")
	fs.DurationVar(&f.heartbeat, "heartbeat", nodesim.DefaultHeartbeatInterval, "heartbeat interval")
	fs.Uint64Var(&f.seed, "seed", 0, "random seed for rejections and failures (0: random)")
	fs.StringVar(&f.listen, "listen", nodesim.DefaultHost, "address the control endpoints listen on (0.0.0.0 in a container)")
	fs.StringVar(&f.advertise, "advertise", "", "host the server pushes jobs to (default: --listen, or 127.0.0.1 for a wildcard); in compose, the service name")
	fs.IntVar(&f.basePort, "base-port", 0, "node i serves AssignJob on base-port+i (0: free ports)")
	fs.IntVar(&f.portOffset, "port-offset", nodesim.DefaultPortOffset, "control port minus advertised port (the server's scheduler.node_control_port_offset)")
	fs.DurationVar(&f.drain, "drain", 0, "on SIGINT/SIGTERM, time jobs in flight get to finish before they are abandoned")
	fs.BoolVar(&f.notify, "notify-accepted", false, "call NotifyJobAccepted before training")
	f.tls.Register(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cyxwiz-node-sim run [flags]\n\nWith --cert/--key the nodes present that certificate to the server (mutual TLS: its CN is the owner, --sub)\nand serve AssignJob over TLS with it; with --ca they verify the server with it and require the\nserver's client certificate on AssignJob.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.seed == 0 {
		f.seed = rand.Uint64()
	}
	cfg, err := f.fleetConfig()
	if err != nil {
		return err
	}
	out := &lockedWriter{w: stdout}
	cfg.Template.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	names := make([]string, cfg.Count)
	cfg.OnJobDone = func(i int, r nodesim.Result) {
		fmt.Fprintf(out, "%s: job %s %s after %s\n", names[i], r.JobID, r.Outcome, r.Done.Sub(r.Received).Round(time.Millisecond))
	}
	for i := range names {
		names[i] = "sim-" + strconv.Itoa(i+1)
	}
	fleet, err := nodesim.StartFleet(ctx, cfg)
	if err != nil {
		return err
	}
	for i, n := range fleet.Nodes() {
		fmt.Fprintf(out, "%s registered as %s, control endpoint %s, advertised port %d\n", names[i], n.ID(), n.ControlAddr(), n.AdvertisedPort())
	}
	fmt.Fprintf(out, "%d nodes running (seed %d); Ctrl-C or SIGTERM stops them\n", cfg.Count, f.seed)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	dctx, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	err = fleet.Shutdown(dctx)
	st := fleet.Stats()
	fmt.Fprintf(out, "stopped: %d accepted, %d completed, %d failed, %d rejected, %d abandoned\n",
		st.Accepted, st.Completed, st.Failed, st.Rejected, st.Cancelled)
	return err
}

// devicesByName is the flag spelling of each device type, for submit.
var devicesByName = map[string]pb.DeviceType{
	"cpu": pb.DeviceType_DEVICE_CPU, "cuda": pb.DeviceType_DEVICE_CUDA, "opencl": pb.DeviceType_DEVICE_OPENCL,
	"metal": pb.DeviceType_DEVICE_METAL, "vulkan": pb.DeviceType_DEVICE_VULKAN,
}

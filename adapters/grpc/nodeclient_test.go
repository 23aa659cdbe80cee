package grpc

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/netpolicy"
	"github.com/cyxwiz/central-server/commands"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
)

// acceptingNode is a node control endpoint that accepts every assignment.
type acceptingNode struct {
	pb.UnimplementedNodeServiceServer
	calls atomic.Int64
}

func (n *acceptingNode) AssignJob(_ context.Context, req *pb.AssignJobRequest) (*pb.AssignJobResponse, error) {
	n.calls.Add(1)
	return &pb.AssignJobResponse{Accepted: true, JobId: req.GetJob().GetJobId()}, nil
}

// listenNodes serves one acceptingNode on n loopback listeners and
// returns their addresses.
func listenNodes(t *testing.T, n int) (*acceptingNode, []string) {
	t.Helper()
	node := &acceptingNode{}
	gs := grpc.NewServer()
	pb.RegisterNodeServiceServer(gs, node)
	var addrs []string
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, lis.Addr().String())
		go gs.Serve(lis)
	}
	t.Cleanup(gs.Stop)
	return node, addrs
}

func order() commands.Order {
	return commands.Order{NodeID: "6f1c2a9e-0000-4000-8000-000000000001", JobID: "6f1c2a9e-0000-4000-8000-000000000002"}
}

// waitFor polls cond until it holds or the (generous) deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeClientConnectionsAreBounded: pushing to 300 distinct nodes keeps
// at most MaxConns connections, and once they are idle every connection is
// closed and the goroutines return to what they were before.
func TestNodeClientConnectionsAreBounded(t *testing.T) {
	const nodes, maxConns = 300, 64
	node, addrs := listenNodes(t, nodes)
	waitFor(t, "the listeners to serve", func() bool { return runtime.NumGoroutine() >= nodes })
	baseline := runtime.NumGoroutine()

	c := NewNodeClient(NodeClientConfig{MaxConns: maxConns, IdleTimeout: 300 * time.Millisecond})
	defer c.Close()
	peak, peakG := 0, 0
	for _, a := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ok, _, err := c.AssignJob(ctx, a, order())
		cancel()
		if err != nil || !ok {
			t.Fatalf("AssignJob %s = %v, %v", a, ok, err)
		}
		peak, peakG = max(peak, c.Open()), max(peakG, runtime.NumGoroutine())
	}
	if node.calls.Load() != nodes {
		t.Fatalf("%d pushes arrived, want %d", node.calls.Load(), nodes)
	}
	if peak > maxConns {
		t.Fatalf("%d connections open at once, the bound is %d", peak, maxConns)
	}
	waitFor(t, "idle connections to close", func() bool { return c.Open() == 0 })
	// The client's sweeper is the one goroutine it keeps; allow a little
	// slack for the runtime's own.
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline+3 })
	t.Logf("goroutines: baseline %d (the %d listeners), peak %d, after the idle timeout %d; peak connections %d", baseline, nodes, peakG, runtime.NumGoroutine(), peak)
}

// TestNodeClientAddressPolicy: an address the policy refuses is not
// dialled — refused up front with ErrAddressRefused, and refused again by
// the dialer's Control on the resolved address (what a DNS rebinding
// would reach).
func TestNodeClientAddressPolicy(t *testing.T) {
	node, addrs := listenNodes(t, 1)
	public, err := netpolicy.New(netpolicy.ModePublic, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewNodeClient(NodeClientConfig{Policy: public})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, port, _ := net.SplitHostPort(addrs[0])
	for _, a := range []string{addrs[0], "localhost:" + port, "[::ffff:127.0.0.1]:" + port, "169.254.169.254:80"} {
		if _, _, err := c.AssignJob(ctx, a, order()); !errors.Is(err, commands.ErrAddressRefused) {
			t.Errorf("AssignJob(%s) = %v, want ErrAddressRefused", a, err)
		}
	}
	// Past the up-front check (as a name that resolved elsewhere first
	// would be), the connection itself is refused.
	n, err := c.acquire(addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = pb.NewNodeServiceClient(n.cc).AssignJob(ctx, &pb.AssignJobRequest{}, grpc.WaitForReady(false))
	c.release(n)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("a dial to a refused address = %v", err)
	}
	if node.calls.Load() != 0 {
		t.Fatalf("the node got %d pushes through a refusing policy", node.calls.Load())
	}
	// The default (private) policy pushes to loopback.
	d := NewNodeClient(NodeClientConfig{})
	defer d.Close()
	if ok, _, err := d.AssignJob(ctx, addrs[0], order()); err != nil || !ok {
		t.Fatalf("private policy AssignJob(loopback) = %v, %v", ok, err)
	}
}

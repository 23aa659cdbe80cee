package main

// The cost of TLS (docs/benchmarks.md, "TLS vs plaintext"): a new
// connection's first call (the handshake) and the per-call cost of
// SubmitJob and Heartbeat on a warm connection, for plaintext, TLS and
// mutual TLS, in one run.
//
//	go test ./cmd/cyxwiz-central -run '^$' -bench BenchmarkTLS -count 5

import (
	"context"
	"testing"

	"github.com/cyxwiz/central-server/adapters/certs"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func BenchmarkTLS(b *testing.B) {
	dir := b.TempDir()
	if _, err := certs.Init(dir, certs.InitOptions{Nodes: []string{"bench-owner"}}); err != nil {
		b.Fatal(err)
	}
	p := pki(dir)
	for _, mode := range []struct {
		name   string
		files  tlsconf.ClientFiles
		server func(*config.Config)
	}{
		{"plaintext", tlsconf.ClientFiles{}, func(*config.Config) {}},
		{"tls", p.files(""), func(c *config.Config) {
			c.Server.TLSCertFile, c.Server.TLSKeyFile = p.at(certs.ServerFile), p.at(certs.ServerKey)
		}},
		{"mtls", p.files("bench-owner"), func(c *config.Config) {
			c.Server.TLSCertFile, c.Server.TLSKeyFile = p.at(certs.ServerFile), p.at(certs.ServerKey)
			c.Server.TLSClientCAFile = p.at(certs.CAFile)
		}},
	} {
		b.Run(mode.name, func(b *testing.B) { benchTLSMode(b, mode.files, mode.server) })
	}
}

// benchTLSMode runs the three measures against a server of its own.
func benchTLSMode(b *testing.B, files tlsconf.ClientFiles, server func(*config.Config)) {
	a := startBenchApp(b, server)
	transport, err := files.DialOption()
	if err != nil {
		b.Fatal(err)
	}
	dial := func() *grpc.ClientConn {
		cc, err := grpc.NewClient(a.app.GRPCAddr(), transport)
		if err != nil {
			b.Fatal(err)
		}
		return cc
	}
	b.Run("handshake", func(b *testing.B) {
		for b.Loop() {
			cc := dial()
			if _, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
			cc.Close()
		}
	})
	cc := dial()
	owner := a.token("bench-owner")
	reg, err := pb.NewNodeServiceClient(cc).RegisterNode(as(owner), &pb.RegisterNodeRequest{Info: nodeInfo("bench", 7000, pb.DeviceType_DEVICE_CUDA, 24<<30)})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Heartbeat", func(b *testing.B) {
		nodes, ctx := pb.NewNodeServiceClient(cc), as(reg.GetSessionToken())
		for b.Loop() {
			if _, err := nodes.Heartbeat(ctx, &pb.HeartbeatRequest{NodeId: reg.GetNodeId()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SubmitJob", func(b *testing.B) {
		jobs, ctx := pb.NewJobServiceClient(cc), as(a.token("bench-user"))
		for b.Loop() {
			if _, err := jobs.SubmitJob(ctx, &pb.SubmitJobRequest{Config: benchJob("")}); err != nil {
				b.Fatal(err)
			}
		}
	})
	cc.Close()
}

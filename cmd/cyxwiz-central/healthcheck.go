package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cyxwiz/central-server/adapters/tlsconf"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthcheckCmd probes a running server with the standard gRPC health
// service (grpc.health.v1.Health/Check, the whole server) and succeeds
// only when it answers SERVING. It is the container HEALTHCHECK: the final
// image has no shell or curl, so the binary probes itself.
//
//	cyxwiz-central healthcheck [--addr 127.0.0.1:50051] [--timeout 3s] [--ca F [--cert F --key F]]
func healthcheckCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:50051", "gRPC address of the server to probe")
	service := fs.String("service", "", `health service name ("" = the whole server)`)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	var files tlsconf.ClientFiles
	files.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	transport, err := files.DialOption()
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	cc, err := grpc.NewClient(*addr, transport)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: *service})
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", *addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("healthcheck %s: %s", *addr, resp.GetStatus())
	}
	fmt.Fprintf(stdout, "%s: %s\n", *addr, resp.GetStatus())
	return nil
}

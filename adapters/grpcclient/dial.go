// Package grpcclient dials the central server as its clients should when
// it runs as several replicas: one connection spread round-robin over
// every replica, and a call that meets an unreachable replica (UNAVAILABLE)
// retried on another.
package grpcclient

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// ServiceConfig balances calls round-robin over the resolved addresses
// and retries a call that fails UNAVAILABLE (the replica died or is
// restarting) up to 5 attempts in all, backing off from 100ms to 1s; the
// round-robin picker sends each attempt to the next ready replica.
const ServiceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{}],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// Dial returns a client of target, which is one address ("host:port"),
// several separated by commas ("h1:9090,h2:9090,h3:9090"), or any gRPC
// name such as "dns:///central.example:9090" (every address the name
// resolves to). The connection is plaintext unless opts say otherwise.
func Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return nil, fmt.Errorf("grpcclient: no server address")
	}
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(ServiceConfig),
		// Reconnect to a restarted replica within 2s, not after the
		// default backoff's up to 2 minutes: until then the others
		// carry its share.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second,
		}, MinConnectTimeout: 5 * time.Second}),
	}
	if strings.Contains(target, ",") {
		var addrs []resolver.Address
		for a := range strings.SplitSeq(target, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, resolver.Address{Addr: a})
			}
		}
		r := manual.NewBuilderWithScheme("cyxwiz-replicas")
		r.InitialState(resolver.State{Addresses: addrs})
		base = append(base, grpc.WithResolvers(r))
		target = r.Scheme() + ":///replicas"
	}
	cc, err := grpc.NewClient(target, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("grpcclient: dial %s: %w", target, err)
	}
	return cc, nil
}

// Package grpc serves the cyxwiz.protocol services: one file per service,
// interceptors chained in one place (this file), errors mapped to status
// codes in one place (errors.go).
package grpc

import (
	"context"
	"crypto/tls"
	"github.com/cyxwiz/central-server/adapters/netpolicy"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/ratelimit"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Transport limits of every connection.
const (
	MaxHeaderListBytes      = 64 << 10 // request metadata, tokens included
	MaxStreamsPerConnection = 256      // concurrent calls on one connection
)

// Options configures the server.
type Options struct {
	MaxMessageBytes int
	P2PTokenTTL     time.Duration
	NodeSessionTTL  time.Duration
	PortOffset      int           // node control port = advertised port + offset
	MaxJobsPerNode  int           // scheduler.max_jobs_per_node, for list page tokens
	ReadYourWrites  time.Duration // how long a call waits for the read model to see its own write
	// Limits rates each principal's calls (nil: no limit); QueuedJobsPerUser
	// and NodesPerOwner are quotas (0: none); Streams caps each
	// principal's open StreamJobUpdates (nil: no cap).
	Limits            *ratelimit.Principals
	QueuedJobsPerUser int
	NodesPerOwner     int
	Streams           *ratelimit.Slots
	// NodeAddresses is where nodes may ask to be pushed to, checked at
	// registration (default: netpolicy's private mode).
	NodeAddresses *netpolicy.Policy
	// Unary and Stream interceptors run outermost, before recovery,
	// logging and authentication (metrics: they time everything).
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
	// TLS, when set, serves TLS (tlsconf.Reloader.ServerConfig). With
	// MutualTLS, node calls also need a verified client certificate that
	// names the node's owner (tlsconf.NodeOwner).
	TLS       *tls.Config
	MutualTLS bool
}

// Server holds the services and their dependencies.
type Server struct {
	deps   Deps
	opts   Options
	log    *slog.Logger
	health *health.Server
	grpc   *grpc.Server
}

// New builds the gRPC server with every service registered.
func New(deps Deps, opts Options, log *slog.Logger) *Server {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 4 << 20
	}
	if opts.MaxJobsPerNode <= 0 {
		opts.MaxJobsPerNode = projections.DefaultMaxJobsPerNode
	}
	if opts.NodeAddresses == nil {
		opts.NodeAddresses, _ = netpolicy.New(netpolicy.ModePrivate, nil)
	}
	if opts.ReadYourWrites <= 0 {
		opts.ReadYourWrites = 2 * time.Second
	}
	s := &Server{deps: deps, opts: opts, log: log, health: health.NewServer()}
	serverOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(opts.MaxMessageBytes),
		grpc.MaxSendMsgSize(opts.MaxMessageBytes),
		// Transport limits for a server open to the internet: headers
		// (a bearer token is ~300 bytes), streams per connection, client
		// pings, and connection age (a client reconnects, and is counted
		// again, at least hourly).
		grpc.ForceServerCodecV2(newLenientCodec()),
		grpc.MaxHeaderListSize(MaxHeaderListBytes),
		grpc.MaxConcurrentStreams(MaxStreamsPerConnection),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: time.Hour, MaxConnectionAgeGrace: 5 * time.Minute,
			Time: 2 * time.Hour, Timeout: 20 * time.Second}),
		grpc.ChainUnaryInterceptor(append(opts.Unary, s.malformedUnary, s.recoverUnary, s.logUnary, s.authUnary, s.limitUnary, s.nulUnary)...),
		grpc.ChainStreamInterceptor(append(opts.Stream, s.malformedStreamInterceptor, s.recoverStream, s.authStream, s.limitStream, s.nulStreamInterceptor)...),
	}
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	s.grpc = grpc.NewServer(serverOpts...)
	pb.RegisterJobServiceServer(s.grpc, &jobService{Server: s})
	pb.RegisterNodeServiceServer(s.grpc, &nodeService{Server: s})
	pb.RegisterJobStatusServiceServer(s.grpc, &jobStatusService{Server: s})
	pb.RegisterNodeDiscoveryServiceServer(s.grpc, &discoveryService{Server: s})
	pb.RegisterWalletServiceServer(s.grpc, newWalletService(s))
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	for _, name := range []string{"", "cyxwiz.protocol.JobService", "cyxwiz.protocol.NodeService",
		"cyxwiz.protocol.JobStatusService", "cyxwiz.protocol.NodeDiscoveryService", "cyxwiz.protocol.WalletService"} {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	return s
}

// GRPC returns the underlying server, to Serve on a listener.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Shutdown marks the server not serving, then drains in-flight calls
// (streams are cut after grace).
func (s *Server) Shutdown(grace time.Duration) {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.grpc.Stop()
	}
}

// access says who may call a method.
type access int

const (
	accessUser     access = iota // a user token
	accessNode                   // a node session token or its owner's user token; checked per node in the handler
	accessPublic                 // anyone; a token, if sent, must be valid
	accessRegister               // a user token in metadata or in the request body
)

func accessOf(fullMethod string) access {
	switch {
	case strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/"), strings.HasPrefix(fullMethod, "/grpc.reflection."),
		strings.HasPrefix(fullMethod, "/cyxwiz.protocol.NodeDiscoveryService/"),
		fullMethod == "/cyxwiz.protocol.NodeService/AssignJob":
		return accessPublic
	case fullMethod == "/cyxwiz.protocol.NodeService/RegisterNode":
		return accessRegister
	case strings.HasPrefix(fullMethod, "/cyxwiz.protocol.NodeService/"),
		strings.HasPrefix(fullMethod, "/cyxwiz.protocol.JobStatusService/"):
		return accessNode
	}
	return accessUser
}

// authenticate puts the caller's principal, if any, in ctx and refuses
// calls that need one and have none (or a bad one).
func (s *Server) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	acc := accessOf(fullMethod)
	md, _ := metadata.FromIncomingContext(ctx)
	header := ""
	if v := md.Get("authorization"); len(v) > 0 {
		header = v[0]
	}
	if header == "" {
		if acc == accessPublic || acc == accessRegister {
			return ctx, nil
		}
		return ctx, status.Error(codes.Unauthenticated,
			"missing `authorization: Bearer <JWT>` metadata; "+auth.MintHint)
	}
	token, err := auth.FromBearer(header)
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	}
	p, err := s.deps.Auth.Verify(token)
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	}
	if strings.ContainsRune(p.Subject, 0) || strings.ContainsRune(p.NodeID, 0) {
		return ctx, status.Error(codes.Unauthenticated, "token subject contains a NUL character")
	}
	if acc == accessUser && p.Kind != auth.KindUser {
		return ctx, status.Error(codes.PermissionDenied, "this call needs a user token; a node session token cannot submit or manage jobs")
	}
	return auth.WithPrincipal(ctx, p), nil
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, s.refused(ctx, err)
	}
	ctx = commands.WithMetadata(ctx, callMetadata(ctx, info.FullMethod))
	return next(ctx, req)
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrappedStream) Context() context.Context { return w.ctx }

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return s.refused(ctx, err)
	}
	return next(srv, wrappedStream{ss, ctx})
}

// callMetadata is what every event appended by this call records: a
// correlation id (the client's x-request-id, or a fresh one) and the actor.
func callMetadata(ctx context.Context, method string) eventstore.Metadata {
	md, _ := metadata.FromIncomingContext(ctx)
	corr := ""
	if v := md.Get("x-request-id"); len(v) > 0 && len(v[0]) <= 128 {
		corr = v[0]
	}
	if corr == "" {
		corr = uuid.NewString()
	}
	actor := "anonymous"
	if p, ok := auth.PrincipalFrom(ctx); ok {
		actor = "user:" + p.Subject
		if p.Kind == auth.KindNode {
			actor = "node:" + p.NodeID
		}
	}
	return eventstore.Metadata{CorrelationID: corr, CausationID: method, Actor: actor}
}

func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := next(ctx, req)
	code := status.Code(err)
	lvl := slog.LevelDebug
	if code != codes.OK && code != codes.NotFound && code != codes.AlreadyExists {
		lvl = slog.LevelInfo
	}
	s.log.Log(ctx, lvl, "grpc", "method", info.FullMethod, "code", code.String(), "ms", time.Since(start).Milliseconds(), "err", err)
	return resp, err
}

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error; the server logged the details")
		}
	}()
	return next(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in stream handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error; the server logged the details")
		}
	}()
	return next(srv, ss)
}

// principal returns the verified caller; handlers of authenticated methods
// always have one.
func principal(ctx context.Context) (auth.Principal, bool) { return auth.PrincipalFrom(ctx) }

// awaitReadModel waits until the read model has applied pos, so the caller's next
// query sees its own write.
func (s *Server) awaitReadModel(ctx context.Context, pos uint64) {
	if pos == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadYourWrites)
	defer cancel()
	if err := s.deps.Projection.WaitFor(ctx, pos); err != nil {
		s.log.Debug("read model behind its own write", "position", pos, "err", err)
	}
}

// checkNodeCertificate refuses a node call, under mutual TLS, unless the
// connection presented a verified client certificate naming owner, the
// node's owner.
func (s *Server) checkNodeCertificate(ctx context.Context, owner string) error {
	if !s.opts.MutualTLS {
		return nil
	}
	p, _ := peer.FromContext(ctx)
	var cn string
	ok := false
	if p != nil {
		if info, isTLS := p.AuthInfo.(credentials.TLSInfo); isTLS {
			cn, ok = tlsconf.NodeOwner(info.State)
		}
	}
	switch {
	case !ok:
		return status.Error(codes.Unauthenticated, "mutual TLS is on: node calls need a client certificate signed by the server's client CA (server.tls_client_ca_file) whose Common Name is the node's owner")
	case cn != owner:
		return status.Errorf(codes.PermissionDenied, "this client certificate names owner %q; the node belongs to %q", cn, owner)
	}
	return nil
}

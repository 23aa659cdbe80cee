package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/cluster"
	"github.com/cyxwiz/central-server/adapters/config"
	grpcadapter "github.com/cyxwiz/central-server/adapters/grpc"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/metrics"
	"github.com/cyxwiz/central-server/adapters/netpolicy"
	"github.com/cyxwiz/central-server/adapters/postgres"
	"github.com/cyxwiz/central-server/adapters/ratelimit"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/adapters/solana"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/cyxwiz/central-server/eventstore/esdb"
	pglog "github.com/cyxwiz/central-server/eventstore/postgres"
	"github.com/cyxwiz/central-server/pricing"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/labstack/echo/v4"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
)

// Settings override what config.toml cannot say: finer durations and a
// clock, for tests. Zero values take the config's.
type Settings struct {
	Now               func() time.Time
	HeartbeatTimeout  time.Duration
	AcceptTimeout     time.Duration
	RunTimeout        time.Duration
	CheckInterval     time.Duration // timeouts and reconciler
	SchedulerInterval time.Duration
	DispatchBackoff   time.Duration
	SchedulerSeed     uint64
	Schedulers        int // scheduler instances (default 1; tests run two)
	// SettleInterval is the settlement saga's step interval (default
	// blockchain.poll_interval_ms).
	SettleInterval time.Duration
	// Observe, when set, is told of every batch the read model applied
	// (the console's live feed); it must not block.
	Observe func([]projections.Envelope)
	// Logs is the buffer the logger already writes its lines into
	// (newLogger's), served at /api/logs. Nil: NewApp makes one and tees
	// the logger into it, so the server always keeps its recent lines.
	Logs *logbuf.Buffer
	// TLSReloadInterval is how often the TLS files are checked for a
	// change (default 5 s).
	TLSReloadInterval time.Duration
}

// App is the wired server: event store, read model, write side, process
// managers and gRPC.
type App struct {
	cfg config.Config
	set Settings
	log *slog.Logger

	issuer     *auth.Issuer
	store      eventstore.Store
	codec      *eventstore.Registry
	model      readModel
	runner     *projections.Runner
	handler    *commands.Handler
	monitor    *commands.Monitor
	disp       *commands.Dispatcher
	scheds     []*commands.Scheduler
	departures *commands.Departures
	timeouts   *commands.Timeouts
	server     *grpcadapter.Server
	rest       *rest.Server
	metrics    *metrics.Metrics
	pg         *postgres.Model
	rebuild    *onlineRebuild
	nodes      *grpcadapter.NodeClient
	// nodeNetworks is where nodes may be pushed to (scheduler.node_networks).
	nodeNetworks *netpolicy.Policy
	listener     net.Listener
	chain        commands.Chain
	solana       *solana.Client // the chain client built here (closed on Stop)
	settlement   *commands.Settlement
	snaps        *snapshots        // nil unless the read model is in memory and snapshots are on
	tls          *tlsconf.Reloader // nil in plaintext
	stopTLS      context.CancelFunc
	leases       commands.Leases
	rdb          *goredis.Client // nil with in-memory leases
	shared       *cluster.Leases // the Redis leases, when shared
	leader       *cluster.Leader // nil: this replica runs the leader's work unconditionally
	registry     *cluster.Registry
	replicaID    string
	runCtx       context.Context // ends when the process managers stop

	cancel         context.CancelFunc // stops the process managers
	wg             sync.WaitGroup
	stopProjection context.CancelFunc // stops the projection runner, last
	projWG         sync.WaitGroup
	serveErr       chan error
}

// NewApp checks the configuration; Start does the work.
func NewApp(cfg config.Config, set Settings, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Redis.InMemory() && cfg.EventStore.Backend == config.BackendEmbedded {
		return nil, fmt.Errorf("redis.url is set, but eventstore.backend = %q: the embedded log is a file one process holds, so there is one server and nothing to share Redis leases with; set eventstore.backend = %q or %q to run several servers, or leave redis.url empty",
			cfg.EventStore.Backend, config.BackendPostgres, config.BackendESDB)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	sc := cfg.Scheduler
	orDefault := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	set.HeartbeatTimeout = orDefault(set.HeartbeatTimeout, sc.HeartbeatTimeout())
	set.AcceptTimeout = orDefault(set.AcceptTimeout, sc.AcceptTimeout())
	set.RunTimeout = orDefault(set.RunTimeout, sc.Timeout())
	set.CheckInterval = orDefault(set.CheckInterval, time.Second)
	set.SchedulerInterval = orDefault(set.SchedulerInterval, sc.PollingInterval())
	set.DispatchBackoff = orDefault(set.DispatchBackoff, sc.DispatchBackoff())
	set.SettleInterval = orDefault(set.SettleInterval, cfg.Blockchain.PollInterval())
	if set.Schedulers <= 0 {
		set.Schedulers = 1
	}
	if set.Logs == nil {
		set.Logs = logbuf.New(0)
		log = slog.New(slog.NewMultiHandler(log.Handler(), set.Logs.Handler(logLevel())))
	}
	return &App{cfg: cfg, set: set, log: log, serveErr: make(chan error, 1)}, nil
}

// Start brings the server up in the order of the architecture: open the
// log, open the read model, build the write side and the process managers,
// replay the log into the read model, run the process managers, serve. It
// returns once gRPC and REST listen; on an error everything started is
// stopped.
func (a *App) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			a.Stop()
		}
	}()
	secret, err := jwtSecret(a.cfg, a.log)
	if err != nil {
		return err
	}
	a.issuer = auth.NewIssuer(secret, a.set.Now, auth.WithP2PTTL(a.cfg.JWT.P2PTokenExpiration()))
	if err := a.openEventLog(ctx); err != nil {
		return err
	}
	if err := a.openReadModel(ctx); err != nil {
		return err
	}
	if err := a.joinCluster(ctx); err != nil {
		return err
	}
	if err := a.buildWriteSide(); err != nil {
		return err
	}
	a.buildProcessManagers()
	if err := a.replay(ctx); err != nil {
		return err
	}
	a.runProcessManagers()
	if err := a.serve(); err != nil {
		return err
	}
	a.goRun(func() error { a.runRegistry(a.runCtx); return nil })
	return nil
}

// openEventLog creates the data directory and opens the event log.
func (a *App) openEventLog(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.EventStore.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	warnLoose(a.log, "the data directory", a.cfg.EventStore.DataDir)
	store, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	a.store, a.codec = store, commands.NewCodec()
	return nil
}

// openReadModel opens the read model database.url names (in memory when
// empty, else PostgreSQL) with its online rebuild, and the metrics that
// watch it.
func (a *App) openReadModel(ctx context.Context) error {
	cfg, sc := a.cfg, a.cfg.Scheduler
	if cfg.Database.InMemory() {
		a.model = memory.New(memory.Config{MaxJobsPerNode: sc.MaxJobsPerNode, KeepFinished: cfg.Database.KeepFinishedJobs,
			Archive: projections.LogArchive{Store: a.store, Codec: a.codec}})
		a.rebuild = newOnlineRebuild(a.store, nil, "", postgres.Options{}, a.set.Now, a.log)
	} else {
		opts := postgres.Options{
			Schema: cfg.Database.Schema, MaxJobsPerNode: sc.MaxJobsPerNode, MaxConns: int32(cfg.Database.MaxConnections), Logger: a.log.With("component", "postgres"),
		}
		pg, err := postgres.Open(ctx, cfg.Database.URL, opts)
		if err != nil {
			return fmt.Errorf("read models in PostgreSQL: %w", err)
		}
		a.pg, a.model = pg, pg
		opts.MaxConns = 4
		a.rebuild = newOnlineRebuild(a.store, pg, cfg.Database.URL, opts, a.set.Now, a.log.With("component", "rebuild"))
		a.log.Info("read models in PostgreSQL", "schema", pg.Schema(), "checkpoint", pg.Checkpoint())
	}
	a.metrics = metrics.New(metrics.Options{
		ProjectionLag:      func() time.Duration { return a.runner.Stats().LastLag },
		ProjectionPosition: func() uint64 { return a.runner.Position() },
		LogDelivery:        logDelivery(a.store),
		Log:                a.log.With("component", "metrics"),
	})
	return nil
}

// buildWriteSide builds the command handler with [scheduler]'s policy,
// the chain (escrow and the settlement saga, when enabled), the TLS files
// (the listeners' and the push's, when set) and the dispatcher that
// pushes assignments to nodes.
func (a *App) buildWriteSide() error {
	sc := a.cfg.Scheduler
	policy := commands.DefaultPolicy()
	policy.MaxJobsPerNode = sc.MaxJobsPerNode
	policy.MinReputation = sc.MinReputation
	policy.MaxRetries = sc.MaxRetries
	policy.PenaltyOffline = sc.ReputationPenaltyOffline
	policy.PenaltyReject = sc.ReputationPenaltyReject
	policy.PenaltyTimeout = sc.ReputationPenaltyTimeout
	policy.PenaltyFailure = sc.ReputationPenaltyFailure
	policy.RewardSuccess = sc.ReputationRewardSuccess
	policy.AllowUnpaidJobs = a.cfg.Blockchain.AllowUnpaidJobs()
	policy.Limits.MaxSpecBytes = a.cfg.Limits.MaxJobSpecBytes
	policy.UnclaimedDepositAge = a.cfg.Blockchain.UnclaimedDepositAge()
	a.handler = commands.NewHandler(a.metrics.Store(a.store), a.codec, a.set.Now, policy, a.log.With("component", "commands"))
	if err := a.startChain(); err != nil {
		return err
	}
	if err := a.startTLS(); err != nil {
		return err
	}
	nodeTLS, err := a.nodeTLS()
	if err != nil {
		return err
	}
	if a.nodeNetworks, err = netpolicy.New(sc.NodeNetworks, sc.NodeDeniedNetworks.Items()); err != nil {
		return err
	}
	a.nodes = grpcadapter.NewNodeClient(grpcadapter.NodeClientConfig{
		MaxConns: sc.DispatchMaxConnections, IdleTimeout: time.Duration(sc.DispatchIdleSeconds) * time.Second,
		Policy: a.nodeNetworks, TLS: nodeTLS,
	})
	a.disp = commands.NewDispatcher(a.handler, a.nodes, a.issuer, commands.DispatchConfig{
		PortOffset: sc.NodeControlPortOffset, Attempts: sc.DispatchAttempts, Backoff: a.set.DispatchBackoff,
	}, a.log.With("component", "dispatcher"))
	return nil
}

// buildProcessManagers builds the schedulers, the node monitor and the job
// timeouts; they run once the read model has caught up (runProcessManagers).
func (a *App) buildProcessManagers() {
	sc := a.cfg.Scheduler
	a.departures = commands.NewDepartures()
	for i := range a.set.Schedulers {
		a.scheds = append(a.scheds, commands.NewScheduler(a.handler, a.model, a.disp, commands.SchedulerConfig{
			Interval: a.set.SchedulerInterval, Seed: a.set.SchedulerSeed + uint64(i), Departures: a.departures,
		}, a.log.With("component", "scheduler", "instance", i)))
	}
	a.monitor = commands.NewMonitor(a.handler, a.leases, a.model, commands.MonitorConfig{
		HeartbeatTimeout: a.set.HeartbeatTimeout, SampleInterval: sc.MetricsSampleInterval(),
	}, a.set.Now, a.log.With("component", "monitor"), a.kick)
	a.timeouts = commands.NewTimeouts(a.handler, a.model, commands.TimeoutConfig{
		Accept: a.set.AcceptTimeout, Run: a.set.RunTimeout, Interval: a.set.CheckInterval,
	}, a.set.Now, a.log.With("component", "timeouts"))
}

// replay starts the projection runner, which follows the log into the read
// model for the server's life, and waits until it has caught up: nothing
// acts on the read model before it has.
func (a *App) replay(ctx context.Context) error {
	projCtx, stopProjection := context.WithCancel(context.Background())
	a.stopProjection = stopProjection
	observers := []func([]projections.Envelope){a.wakeSchedulers, a.metrics.Observe}
	if a.set.Observe != nil {
		observers = append(observers, a.set.Observe)
	}
	if m, ok := a.model.(*memory.Model); ok && a.cfg.Database.SnapshotInterval() > 0 {
		a.snaps = newSnapshots(a.cfg.EventStore.DataDir, a.cfg.Database.SnapshotInterval(), m, a.departures, a.store, a.codec,
			a.log.With("component", "snapshot"))
		a.snaps.load(ctx)
		observers = append(observers, a.snaps.observe)
	}
	a.runner = projections.NewRunner(a.store, a.codec, &observedModel{readModel: a.model, observers: observers,
		// Before the batch is visible: a scheduler pass that sees a
		// requeued job pending must also see where it came from.
		before: func(batch []projections.Envelope) {
			for _, e := range batch {
				a.departures.Observe(e.Event)
			}
		}},
		a.log.With("component", "projection"))
	a.projWG.Add(1)
	go func() {
		defer a.projWG.Done()
		if err := a.runner.Run(projCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("projection runner stopped", "err", err)
		}
	}()
	start := time.Now()
	select {
	case <-a.runner.CaughtUp():
		a.log.Info("read model rebuilt from the log", "position", a.runner.Position(), "took", time.Since(start).Round(time.Millisecond))
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runProcessManagers runs the schedulers, the monitor, the timeouts and
// the settlement saga until Stop, and asks for a first scheduling pass;
// with Redis, the schedulers and timeouts run only while this replica
// leads (lead).
func (a *App) runProcessManagers() {
	runCtx, cancel := context.WithCancel(context.Background())
	a.runCtx, a.cancel = runCtx, cancel
	a.goRun(func() error { return a.monitor.Run(runCtx) })
	if a.leader != nil {
		a.goRun(func() error { a.leader.Run(runCtx, a.lead); return nil })
	} else {
		a.goRun(func() error { a.lead(runCtx); return nil })
	}
	if a.settlement != nil {
		a.goRun(func() error { return a.settlement.Run(runCtx) })
	}
	a.kick()
}

// serve starts gRPC, then REST.
func (a *App) serve() error {
	cfg, sc := a.cfg, a.cfg.Scheduler
	a.server = grpcadapter.New(grpcadapter.Deps{
		Commands: a.handler, Monitor: a.monitor, Jobs: a.model, Nodes: a.model, Watcher: a.model,
		Projection: a.runner, Auth: a.issuer, Tokens: a.issuer, Now: a.set.Now, Wallet: a.walletDeps(),
	}, grpcadapter.Options{
		MaxMessageBytes: cfg.Server.MaxMessageBytes, P2PTokenTTL: cfg.JWT.P2PTokenExpiration(),
		NodeSessionTTL: cfg.JWT.NodeSessionTTL(), PortOffset: sc.NodeControlPortOffset, MaxJobsPerNode: sc.MaxJobsPerNode,
		NodeAddresses: a.nodeNetworks,
		Limits:        ratelimit.NewPrincipals(rateRules(cfg.Limits)), Streams: ratelimit.NewSlots(cfg.Limits.StreamsPerPrincipal),
		QueuedJobsPerUser: cfg.Limits.QueuedJobsPerUser, NodesPerOwner: cfg.Limits.NodesPerOwner,
		Unary:  []grpc.UnaryServerInterceptor{a.metrics.UnaryServerInterceptor()},
		Stream: []grpc.StreamServerInterceptor{a.metrics.StreamServerInterceptor()},
		TLS:    a.serverTLS("h2"), MutualTLS: cfg.Server.TLSClientCAFile != "",
	}, a.log.With("component", "grpc"))
	lis, err := net.Listen("tcp", cfg.Server.GRPCAddress)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Server.GRPCAddress, err)
	}
	a.listener = lis
	go func() { a.serveErr <- a.server.GRPC().Serve(lis) }()
	a.log.Info("gRPC serving", "address", lis.Addr().String(), "tls", a.tls != nil)
	a.warnPlaintext("gRPC", lis.Addr())

	a.rest = rest.New(rest.Deps{
		Jobs: a.model, Nodes: a.model, Stats: a.model, Activity: a.model, Payments: a.model,
		Store: a.store, Codec: a.codec, Auth: a.issuer, Health: a.health, Head: a.runner.Position, Now: a.set.Now,
		Rebuild: a.rebuild, Operations: a.handler, Logs: a.set.Logs, Config: &a.cfg, EscrowAddress: a.escrowAddress(),
	}, rest.Options{
		CORSOrigins: cfg.Server.CORSOrigins.Items(), MaxJobsPerNode: sc.MaxJobsPerNode,
		Middleware: []echo.MiddlewareFunc{a.metrics.Echo()}, Metrics: a.metrics.Handler(), Version: version,
		Limits: ratelimit.NewPrincipals(rateRules(cfg.Limits)), StreamsPerPrincipal: cfg.Limits.StreamsPerPrincipal,
		MaxReplyBytes: cfg.Limits.MaxReplyBytes, TLS: a.serverTLS("h2", "http/1.1"),
	}, a.log.With("component", "rest"))
	if err := a.rest.Start(cfg.Server.RESTAddress); err != nil {
		return fmt.Errorf("REST on %s: %w", cfg.Server.RESTAddress, err)
	}
	a.log.Info("REST serving", "address", a.rest.Addr().String(), "tls", a.tls != nil)
	a.warnPlaintext("REST", a.rest.Addr())
	return nil
}

// openStore opens the event log eventstore.backend names: the embedded
// file in data_dir, or the EventStoreDB server at esdb_url.
func (a *App) openStore(ctx context.Context) (eventstore.Store, error) {
	store, err := openLog(ctx, a.cfg, a.log)
	if err == nil {
		a.log.Info("event store open", "backend", a.cfg.EventStore.Backend, "at", logLocation(a.cfg))
	}
	return store, err
}

// openLog opens the configured event store: EventStoreDB at
// eventstore.esdb_url, PostgreSQL at eventstore.postgres_url (or
// database.url), or the embedded file in eventstore.data_dir, which one
// process holds at a time (bolt options such as a lock timeout, for the
// tools that read it beside a server).
func openLog(ctx context.Context, cfg config.Config, log *slog.Logger, boltOpts ...bolt.Option) (eventstore.Store, error) {
	ec := cfg.EventStore
	if ec.Backend == config.BackendPostgres {
		url, key := cfg.LogPostgresURL()
		store, err := pglog.Open(ctx, url, pglog.Options{Schema: ec.PostgresSchema, Logger: log.With("component", "eventstore")})
		if err != nil {
			return nil, fmt.Errorf("eventstore.backend %q: open the log at %s (schema eventstore.postgres_schema = %q): %w", ec.Backend, key, ec.PostgresSchema, err)
		}
		return store, nil
	}
	if ec.Backend == config.BackendESDB {
		store, err := esdb.Open(ctx, ec.ESDBURL, esdb.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("eventstore.backend %q: open EventStoreDB at eventstore.esdb_url: %w", ec.Backend, err)
		}
		return store, nil
	}
	path := filepath.Join(ec.DataDir, "events.db")
	store, err := bolt.Open(path, boltOpts...)
	if err != nil {
		return nil, fmt.Errorf("open event store %s: %w", path, err)
	}
	return store, nil
}

// logDelivery returns the PostgreSQL log's delivery lag for /metrics, or
// nil for the other stores, which deliver what they commit at once.
func logDelivery(store eventstore.Store) func() (uint64, time.Duration) {
	pg, ok := store.(*pglog.Store)
	if !ok {
		return nil
	}
	return func() (uint64, time.Duration) {
		st := pg.Stats()
		return st.Issued - st.Horizon, st.Waiting
	}
}

// logLocation says where the log is, secrets masked.
func logLocation(cfg config.Config) string {
	switch cfg.EventStore.Backend {
	case config.BackendESDB:
		return cfg.Redacted().EventStore.ESDBURL
	case config.BackendPostgres:
		url, _ := cfg.Redacted().LogPostgresURL()
		return url + " schema " + cmp.Or(cfg.EventStore.PostgresSchema, pglog.DefaultSchema)
	}
	return filepath.Join(cfg.EventStore.DataDir, "events.db")
}

// RESTAddr is the address the REST API listens on.
func (a *App) RESTAddr() string { return a.rest.Addr().String() }

// Logs is the buffer of the server's recent log lines (/api/logs).
func (a *App) Logs() *logbuf.Buffer { return a.set.Logs }

// escrowAddress is the settlement escrow wallet's address; "" with
// settlement off.
func (a *App) escrowAddress() string {
	if a.chain == nil {
		return ""
	}
	return a.chain.EscrowAddress()
}

// health reports each component for /api/health.
func (a *App) health(ctx context.Context) map[string]rest.Component {
	db := rest.Component{Status: rest.ComponentMemory}
	if a.pg != nil {
		db = rest.Component{Status: rest.ComponentOK}
		if err := a.pg.Pool().Ping(ctx); err != nil {
			db = rest.Component{Status: rest.ComponentDown, Detail: "PostgreSQL: " + err.Error()}
		}
	}
	select {
	case <-a.runner.CaughtUp():
	default:
		db = rest.Component{Status: rest.ComponentDegraded, Detail: "replaying the log"}
	}
	return map[string]rest.Component{
		"eventstore": rest.StoreCheck(ctx, a.store), "database": db,
		"redis": a.redisHealth(ctx), "solana": a.solanaHealth(),
	}
}

// solanaHealth is "disabled" with blockchain.network = "disabled", else
// "degraded" while the settlement saga cannot reach the chain, else "ok".
func (a *App) solanaHealth() rest.Component {
	if a.settlement == nil {
		return rest.Component{Status: rest.ComponentDisabled, Detail: "blockchain.network = \"disabled\": payments are recorded as skipped"}
	}
	h := a.settlement.Health()
	if h.Degraded {
		return rest.Component{Status: rest.ComponentDegraded, Detail: h.Detail}
	}
	return rest.Component{Status: rest.ComponentOK, Detail: h.Detail}
}

// Settlement is the settlement saga (nil when the blockchain is disabled).
func (a *App) Settlement() *commands.Settlement { return a.settlement }

// startChain builds the Solana client from [blockchain], turns on escrow verification at SubmitJob and builds the
// settlement saga. With the blockchain disabled it logs that payments are
// recorded as skipped.
func (a *App) startChain() error {
	b := a.cfg.Blockchain
	if !b.Enabled() {
		a.log.Warn("blockchain disabled: paid jobs run unescrowed, their payments are recorded as skipped (set blockchain.network to enable Solana settlement)")
		return nil
	}
	path, err := b.KeypairPath()
	if err != nil {
		return err
	}
	warnLoose(a.log, "the payer keypair", path)
	c, err := solana.New(solana.Config{
		RPCURL: b.RPCEndpoint(), KeypairPath: path, Commitment: b.Confirmation,
		Logger: a.log.With("component", "solana"),
	})
	if err != nil {
		return fmt.Errorf("blockchain: %w", err)
	}
	a.solana, a.chain = c, c
	a.handler.UseChain(a.chain)
	a.settlement = commands.NewSettlement(a.handler, a.chain, commands.SettlementConfig{
		Treasury: b.TreasuryAddress, FeePercent: b.PlatformFeePercent, Confirmation: b.Confirmation,
		Interval: a.set.SettleInterval, Leading: a.leading,
	}, a.log.With("component", "settlement"))
	a.log.Info("Solana settlement on", "network", b.Network, "rpc", b.RPCEndpoint(), "escrow", a.chain.EscrowAddress(),
		"treasury", b.TreasuryAddress, "fee_percent", b.PlatformFeePercent, "confirmation", b.Confirmation)
	return nil
}

// walletDeps hands WalletService the chain (when enabled) and the read
// model's wallet history.
func (a *App) walletDeps() grpcadapter.WalletDeps {
	w := grpcadapter.WalletDeps{Pricing: pricing.Default()}
	w.Pricing.PlatformFeePercent = float64(a.cfg.Blockchain.PlatformFeePercent)
	if a.chain != nil {
		w.Addresses, w.Balances = a.chain, a.chain
	}
	if h, ok := a.model.(projections.WalletQueries); ok {
		w.History = h
	}
	return w
}

func (a *App) goRun(fn func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.logStopped(fn())
	}()
}

// logStopped logs why a background task stopped, unless it was asked to.
func (a *App) logStopped(err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error("background task stopped", "err", err)
	}
}

func (a *App) kick() {
	for _, s := range a.scheds {
		s.Kick()
	}
}

// GRPCAddr is the address gRPC listens on.
func (a *App) GRPCAddr() string { return a.listener.Addr().String() }

// Stop drains gRPC calls, stops the process managers, and flushes and
// closes the log. Acknowledged writes are durable before Stop returns.
func (a *App) Stop() error {
	if a.rest != nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownGrace())
		if err := a.rest.Shutdown(ctx); err != nil {
			a.log.Warn("REST shutdown", "err", err)
		}
		cancel()
	}
	if a.server != nil {
		a.server.Shutdown(a.cfg.Server.ShutdownGrace())
	}
	if a.cancel != nil {
		a.cancel()
	}
	if a.stopTLS != nil {
		a.stopTLS()
	}
	if a.rebuild != nil {
		a.rebuild.Close()
	}
	a.wg.Wait()
	if a.disp != nil {
		a.disp.Wait()
	}
	// Nothing writes any more: let the read models catch up with the log,
	// so a restart (or `replay --verify`) finds them at its end.
	if a.stopProjection != nil {
		if head, err := a.store.ReadAll(context.Background(), a.runner.Position(), 0); err == nil && len(head) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownGrace())
			if err := a.runner.WaitFor(ctx, head[len(head)-1].Position); err != nil {
				a.log.Warn("read models did not catch up before stopping", "err", err)
			}
			cancel()
		}
		a.stopProjection()
		a.projWG.Wait()
		if a.snaps != nil {
			a.snaps.final()
		}
	}
	if a.nodes != nil {
		a.nodes.Close()
	}
	if a.rdb != nil {
		a.rdb.Close()
		a.rdb = nil
	}
	if a.solana != nil {
		a.solana.Close()
		a.solana = nil
	}
	if a.pg != nil {
		a.pg.Close()
		a.pg = nil
	}
	var err error
	if a.store != nil {
		err = a.store.Close()
		a.store = nil
	}
	return err
}

// readModel is what the server needs of a read model: the runner feeds it,
// the API and the process managers query it. The in-memory model and the
// PostgreSQL one both are.
type readModel interface {
	projections.ReadModel
	projections.Queries
	projections.StatsQueries
	projections.ActivityQueries
	projections.PaymentQueries
}

// observedModel tells observers about every batch once it is applied, and
// before about every batch it is given (perhaps more than once, should an
// apply fail and be retried).
type observedModel struct {
	readModel
	before    func([]projections.Envelope)
	observers []func([]projections.Envelope)
}

func (m *observedModel) Apply(ctx context.Context, batch []projections.Envelope, checkpoint uint64) error {
	if m.before != nil {
		m.before(batch)
	}
	if err := m.readModel.Apply(ctx, batch, checkpoint); err != nil {
		return err
	}
	for _, o := range m.observers {
		o(batch)
	}
	return nil
}

// wakeSchedulers runs a pass after a batch that may let a job be placed
// (commands.Placeable).
func (a *App) wakeSchedulers(batch []projections.Envelope) {
	for _, e := range batch {
		if commands.Placeable(e.Event) {
			a.kick()
			return
		}
	}
}

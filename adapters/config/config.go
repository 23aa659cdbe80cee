// Package config loads the central server's configuration: config.toml
// (strict: unknown keys and bad values are errors naming the key), then
// environment overrides of the form CYXWIZ_<SECTION>_<KEY>, then validation.
//
// Durations are integer keys whose name carries the unit (_ms, _seconds);
// each has an accessor returning a time.Duration.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// EnvPrefix starts every environment override: CYXWIZ_<SECTION>_<KEY>.
const EnvPrefix = "CYXWIZ_"

// Blockchain networks accepted by blockchain.network.
const (
	NetworkDisabled    = "disabled"
	NetworkLocalnet    = "localnet"
	NetworkDevnet      = "devnet"
	NetworkMainnetBeta = "mainnet-beta"
)

// Commitment levels accepted by blockchain.confirmation.
const (
	ConfirmationProcessed = "processed"
	ConfirmationConfirmed = "confirmed"
	ConfirmationFinalized = "finalized"
)

// Event store backends accepted by eventstore.backend.
const (
	BackendEmbedded = "embedded"
	BackendESDB     = "esdb"
	BackendPostgres = "postgres"
)

// SecretFileName is the file in eventstore.data_dir that holds the generated
// JWT secret when jwt.secret is empty.
const SecretFileName = "jwt_secret"

// Config is the whole configuration. It is a plain value: comparable with ==
// and safe to copy. Log it with slog (it implements slog.LogValuer and masks
// secrets) or print Redacted(), never the raw value.
type Config struct {
	Server     Server     `toml:"server"`
	Database   Database   `toml:"database"`
	Redis      Redis      `toml:"redis"`
	Blockchain Blockchain `toml:"blockchain"`
	Scheduler  Scheduler  `toml:"scheduler"`
	JWT        JWT        `toml:"jwt"`
	EventStore EventStore `toml:"eventstore"`
	Limits     Limits     `toml:"limits"`
}

// Server is the [server] section: listening addresses and gRPC limits.
type Server struct {
	GRPCAddress          string `toml:"grpc_address"`
	RESTAddress          string `toml:"rest_address"`
	MaxMessageBytes      int    `toml:"max_message_bytes"`
	ShutdownGraceSeconds int    `toml:"shutdown_grace_seconds"`
	// CORSOrigins are the browser origins ("https://console.example.com")
	// allowed to call the REST API from another origin; "*" allows any.
	// Empty: same-origin only.
	CORSOrigins List `toml:"cors_origins"`
	// TLSCertFile and TLSKeyFile (PEM) turn TLS on for gRPC and REST;
	// they are reloaded when they change or on SIGHUP. Empty: plaintext.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// TLSClientCAFile turns mutual TLS on for nodes: node calls need a
	// client certificate it signed, naming the node's owner (adapters/tlsconf).
	TLSClientCAFile string `toml:"tls_client_ca_file"`
	// TLSNodeCAFile makes the push to nodes (AssignJob) TLS: nodes'
	// control-port certificates must chain to it, and the server presents
	// TLSCertFile as its client certificate.
	TLSNodeCAFile string `toml:"tls_node_ca_file"`
}

// TLS reports whether the server's listeners speak TLS.
func (s Server) TLS() bool { return s.TLSCertFile != "" }

// List is a key holding a list of strings: a TOML array of strings, or in
// its environment variable a comma-separated string. It is kept joined so
// that Config stays comparable with ==; an item never contains a comma.
type List struct{ joined string }

// NewList returns the list of items, trimmed, without the empty ones. An
// item must not contain a comma.
func NewList(items ...string) List {
	kept := make([]string, 0, len(items))
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			kept = append(kept, it)
		}
	}
	return List{joined: strings.Join(kept, ",")}
}

// Items returns the list's items (nil when empty).
func (l List) Items() []string {
	if l.joined == "" {
		return nil
	}
	return strings.Split(l.joined, ",")
}

// String returns the items joined by commas.
func (l List) String() string { return l.joined }

// LogValue logs the list as a list.
func (l List) LogValue() slog.Value { return slog.AnyValue(l.Items()) }

// Database is the [database] section: where read models live.
type Database struct {
	URL            string `toml:"url"` // "" = in memory; postgres:// or postgresql:// = PostgreSQL
	MaxConnections int    `toml:"max_connections"`
	// Schema holds the read-model tables ("" = the connection's search_path,
	// usually public). `replay` builds into a fresh schema beside it.
	Schema string `toml:"schema"`
	// SnapshotIntervalSeconds is how often the in-memory read model is
	// saved to <eventstore.data_dir>/readmodel.snap (and at every clean
	// stop), so a start replays only the log after it; 0 = never.
	SnapshotIntervalSeconds int `toml:"snapshot_interval_seconds"`
	// KeepFinishedJobs is how many finished jobs the in-memory read model
	// keeps (older ones are read from the log by id); 0 = all.
	KeepFinishedJobs int `toml:"keep_finished_jobs"`
}

// SnapshotInterval is how often the in-memory read model is saved; 0 =
// never.
func (d Database) SnapshotInterval() time.Duration { return seconds(d.SnapshotIntervalSeconds) }

// Redis is the [redis] section: where node liveness leases live.
type Redis struct {
	URL string `toml:"url"` // "" = in memory
	// KeyPrefix starts every key of this cluster, so clusters (or tests)
	// can share one Redis server.
	KeyPrefix string `toml:"key_prefix"`
	// LeaderTTLMS is the leader lease: a dead leader's successor takes
	// over within it plus one poll (a third of it).
	LeaderTTLMS int `toml:"leader_ttl_ms"`
	// Leader is LeaderElect, or LeaderAlways (this replica runs the
	// leader's work regardless of the lease: a fault injection that shows
	// two leaders cannot assign a job twice or pay twice; never in
	// production).
	Leader string `toml:"leader"`
	// ReplicaID names this server in the cluster ("" = host name and
	// process id).
	ReplicaID string `toml:"replica_id"`
}

// redis.leader values.
const (
	LeaderElect  = "elect"
	LeaderAlways = "always"
)

// Blockchain is the [blockchain] section: Solana escrow settlement.
type Blockchain struct {
	Network            string `toml:"network"`
	SolanaRPCURL       string `toml:"solana_rpc_url"`
	PayerKeypairPath   string `toml:"payer_keypair_path"`
	ProgramID          string `toml:"program_id"`
	TreasuryAddress    string `toml:"treasury_address"`
	PlatformFeePercent int    `toml:"platform_fee_percent"`
	Confirmation       string `toml:"confirmation"`
	UnpaidJobs         string `toml:"unpaid_jobs"`      // UnpaidAllow or UnpaidRefuse
	PollIntervalMS     int    `toml:"poll_interval_ms"` // settlement saga's step interval
	// UnclaimedDepositRefundAfterSeconds is how old a deposit no job claimed
	// must be before an operator may return it to its payer.
	UnclaimedDepositRefundAfterSeconds int `toml:"unclaimed_deposit_refund_after_seconds"`
}

// Values of blockchain.unpaid_jobs.
const (
	UnpaidAllow  = "allow"  // jobs with payment_amount 0 run (the embedded default)
	UnpaidRefuse = "refuse" // every job must be paid
)

// AllowUnpaidJobs reports whether jobs with payment_amount 0 are accepted.
func (b Blockchain) AllowUnpaidJobs() bool { return b.UnpaidJobs != UnpaidRefuse }

// PollInterval is how often the settlement saga checks pending transactions.
func (b Blockchain) PollInterval() time.Duration {
	return time.Duration(b.PollIntervalMS) * time.Millisecond
}

// UnclaimedDepositAge is blockchain.unclaimed_deposit_refund_after_seconds.
func (b Blockchain) UnclaimedDepositAge() time.Duration {
	return time.Duration(b.UnclaimedDepositRefundAfterSeconds) * time.Second
}

// Scheduler is the [scheduler] section: matching, dispatch, timeouts and
// reputation penalties.
type Scheduler struct {
	PollingIntervalMS            int     `toml:"polling_interval_ms"`
	MaxJobsPerNode               int     `toml:"max_jobs_per_node"`
	TimeoutSeconds               int     `toml:"timeout_seconds"`
	AcceptTimeoutSeconds         int     `toml:"accept_timeout_seconds"`
	HeartbeatTimeoutSeconds      int     `toml:"heartbeat_timeout_seconds"`
	MaxRetries                   int     `toml:"max_retries"`
	NodeControlPortOffset        int     `toml:"node_control_port_offset"`
	DispatchAttempts             int     `toml:"dispatch_attempts"`
	DispatchBackoffMS            int     `toml:"dispatch_backoff_ms"`
	MinReputation                float64 `toml:"min_reputation"`
	MetricsSampleIntervalSeconds int     `toml:"metrics_sample_interval_seconds"`
	ReputationPenaltyOffline     float64 `toml:"reputation_penalty_offline"`
	ReputationPenaltyReject      float64 `toml:"reputation_penalty_reject"`
	ReputationPenaltyTimeout     float64 `toml:"reputation_penalty_timeout"`
	ReputationPenaltyFailure     float64 `toml:"reputation_penalty_failure"`
	ReputationRewardSuccess      float64 `toml:"reputation_reward_success"`
	// NodeNetworks is which addresses the server pushes assignments to:
	// "private" (loopback and private ranges too) or "public" (public
	// unicast only). Link-local, unspecified, multicast and cloud metadata
	// addresses are refused in both.
	NodeNetworks string `toml:"node_networks"`
	// NodeDeniedNetworks are CIDRs (or addresses) refused besides.
	NodeDeniedNetworks     List `toml:"node_denied_networks"`
	DispatchMaxConnections int  `toml:"dispatch_max_connections"`
	DispatchIdleSeconds    int  `toml:"dispatch_idle_seconds"`
}

// JWT is the [jwt] section: token signing and lifetimes.
type JWT struct {
	Secret                    string `toml:"secret"` // "" = generated in eventstore.data_dir
	P2PTokenExpirationSeconds int    `toml:"p2p_token_expiration_seconds"`
	NodeSessionTTLSeconds     int    `toml:"node_session_ttl_seconds"`
}

// EventStore is the [eventstore] section: where the event log lives.
type EventStore struct {
	Backend string `toml:"backend"`
	DataDir string `toml:"data_dir"`
	ESDBURL string `toml:"esdb_url"`
	// PostgresURL is the PostgreSQL of the "postgres" backend; "" = database.url.
	PostgresURL string `toml:"postgres_url"`
	// PostgresSchema holds the log's tables ("" = "eventlog").
	PostgresSchema string `toml:"postgres_schema"`
}

// LogPostgresURL returns the PostgreSQL the "postgres" backend uses and the
// key it comes from: postgres_url, or database.url when that is empty.
func (c Config) LogPostgresURL() (url, key string) {
	if c.EventStore.PostgresURL != "" {
		return c.EventStore.PostgresURL, "eventstore.postgres_url"
	}
	return c.Database.URL, "database.url"
}

// Limits is the [limits] section: per-principal request rates and quotas
// for a server open to the internet. A rate of 0 means no limit; so does
// a quota of 0.
type Limits struct {
	// Requests a second (sustained) and burst, per user token subject,
	// per node session, and per client IP of calls without a token.
	UserRequestsPerSecond float64 `toml:"user_requests_per_second"`
	UserBurst             int     `toml:"user_burst"`
	NodeRequestsPerSecond float64 `toml:"node_requests_per_second"`
	NodeBurst             int     `toml:"node_burst"`
	IPRequestsPerSecond   float64 `toml:"ip_requests_per_second"`
	IPBurst               int     `toml:"ip_burst"`
	// MaxTrackedPrincipals bounds the rate limiters' memory, per kind.
	MaxTrackedPrincipals int `toml:"max_tracked_principals"`
	// QueuedJobsPerUser bounds a user's pending jobs; NodesPerOwner the
	// nodes one user registers.
	QueuedJobsPerUser int `toml:"queued_jobs_per_user"`
	NodesPerOwner     int `toml:"nodes_per_owner"`
	// MaxJobSpecBytes bounds a job spec: initial data, strings and
	// hyperparameters together.
	MaxJobSpecBytes int `toml:"max_job_spec_bytes"`
	// StreamsPerPrincipal bounds the long-lived streams (SSE, gRPC
	// StreamJobUpdates) one principal holds open at once.
	StreamsPerPrincipal int `toml:"streams_per_principal"`
	// MaxReplyBytes bounds the records of one REST list answer; a page
	// stops before it (gRPC lists stop before server.max_message_bytes).
	MaxReplyBytes int `toml:"max_reply_bytes"`
}

// Default returns the built-in configuration: the embedded mode (event store
// in ./data, read models and liveness in memory, blockchain off, a generated
// JWT secret).
func Default() Config {
	return Config{
		Server: Server{
			GRPCAddress:          "0.0.0.0:50051",
			RESTAddress:          "0.0.0.0:8080",
			MaxMessageBytes:      4 << 20,
			ShutdownGraceSeconds: 15,
		},
		Database: Database{MaxConnections: 10, SnapshotIntervalSeconds: 300, KeepFinishedJobs: 20_000},
		Blockchain: Blockchain{
			Network:                            NetworkDisabled,
			ProgramID:                          "11111111111111111111111111111111",
			PlatformFeePercent:                 10,
			Confirmation:                       ConfirmationConfirmed,
			UnpaidJobs:                         UnpaidAllow,
			PollIntervalMS:                     500,
			UnclaimedDepositRefundAfterSeconds: 3600,
		},
		Scheduler: Scheduler{
			PollingIntervalMS:            1000,
			MaxJobsPerNode:               5,
			TimeoutSeconds:               3600,
			AcceptTimeoutSeconds:         60,
			HeartbeatTimeoutSeconds:      30,
			MaxRetries:                   3,
			NodeControlPortOffset:        3,
			DispatchAttempts:             3,
			DispatchBackoffMS:            200,
			MinReputation:                0,
			MetricsSampleIntervalSeconds: 60,
			ReputationPenaltyOffline:     0.05,
			ReputationPenaltyReject:      0.02,
			ReputationPenaltyTimeout:     0.05,
			ReputationPenaltyFailure:     0.03,
			ReputationRewardSuccess:      0.01,
			NodeNetworks:                 "private",
			DispatchMaxConnections:       256,
			DispatchIdleSeconds:          60,
		},
		JWT: JWT{
			P2PTokenExpirationSeconds: 3600,
			NodeSessionTTLSeconds:     86400,
		},
		Redis: Redis{KeyPrefix: "cyxwiz:", LeaderTTLMS: 5000, Leader: LeaderElect},
		EventStore: EventStore{
			Backend: BackendEmbedded,
			DataDir: "./data",
		},
		Limits: Limits{
			UserRequestsPerSecond: 50, UserBurst: 100,
			NodeRequestsPerSecond: 20, NodeBurst: 40,
			IPRequestsPerSecond: 20, IPBurst: 40,
			MaxTrackedPrincipals: 100000,
			QueuedJobsPerUser:    1000,
			NodesPerOwner:        100,
			MaxJobSpecBytes:      2 << 20,
			StreamsPerPrincipal:  8,
			MaxReplyBytes:        4 << 20,
		},
	}
}

// Load returns Default(), overlaid with the TOML file at path (skipped when
// path is ""), overlaid with the CYXWIZ_<SECTION>_<KEY> variables in env
// (os.Environ() form; other variables are ignored), then validated.
//
// Every problem found is reported, joined into one error; each is a
// *KeyError naming the key and where the value came from. A missing file
// gives an error matching fs.ErrNotExist.
func Load(path string, env []string) (Config, error) {
	cfg := Default()
	origins := map[string]origin{}
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		errs = append(errs, applyTOML(&cfg, path, data, origins)...)
	}
	errs = append(errs, applyEnv(&cfg, env, origins)...)
	if len(errs) == 0 {
		errs = cfg.validate(origins)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// KeyError is a problem with one configuration key.
type KeyError struct {
	Key     string // "section.key", e.g. "scheduler.max_retries"
	File    string // the file the value came from, if any
	EnvVar  string // the environment variable the value came from, if any
	Unknown bool   // the key does not exist
	Msg     string // what is wrong and what is expected; for unknown keys, an optional hint
}

// Error renders e.g. `config.toml: scheduler.max_retries: expected an
// integer, got string "three"` or `env CYXWIZ_JWT_SECRETT: unknown key
// "jwt.secrett" (did you mean CYXWIZ_JWT_SECRET?)`.
func (e *KeyError) Error() string {
	var b strings.Builder
	switch {
	case e.EnvVar != "":
		b.WriteString("env " + e.EnvVar + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	}
	if e.Unknown {
		fmt.Fprintf(&b, "unknown key %q", e.Key)
		if e.Msg != "" {
			b.WriteString(" (" + e.Msg + ")")
		}
		return b.String()
	}
	b.WriteString(e.Key + ": " + e.Msg)
	return b.String()
}

// origin records where a key's value came from, for error messages.
type origin struct{ file, env string }

func (o origin) errorf(key, format string, args ...any) *KeyError {
	return &KeyError{Key: key, File: o.file, EnvVar: o.env, Msg: fmt.Sprintf(format, args...)}
}

// ShutdownGrace is server.shutdown_grace_seconds as a duration.
func (s Server) ShutdownGrace() time.Duration { return seconds(s.ShutdownGraceSeconds) }

// InMemory reports whether read models are kept in memory (no database URL).
func (d Database) InMemory() bool { return d.URL == "" }

// InMemory reports whether node liveness leases are kept in memory (no Redis URL).
func (r Redis) InMemory() bool { return r.URL == "" }

// LeaderTTL is redis.leader_ttl_ms as a duration.
func (r Redis) LeaderTTL() time.Duration { return time.Duration(r.LeaderTTLMS) * time.Millisecond }

// Enabled reports whether settlement on Solana is on.
func (b Blockchain) Enabled() bool { return b.Network != "" && b.Network != NetworkDisabled }

// RPCEndpoint is solana_rpc_url, or the public endpoint of the network when
// it is empty ("" when the blockchain is disabled).
func (b Blockchain) RPCEndpoint() string {
	if b.SolanaRPCURL != "" {
		return b.SolanaRPCURL
	}
	switch b.Network {
	case NetworkLocalnet:
		return "http://127.0.0.1:8899"
	case NetworkDevnet:
		return "https://api.devnet.solana.com"
	case NetworkMainnetBeta:
		return "https://api.mainnet-beta.solana.com"
	}
	return ""
}

// KeypairPath is payer_keypair_path with a leading "~/" expanded to the
// user's home directory.
func (b Blockchain) KeypairPath() (string, error) {
	p := b.PayerKeypairPath
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("config: blockchain.payer_keypair_path %q: %w", p, err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// PollingInterval is scheduler.polling_interval_ms as a duration.
func (s Scheduler) PollingInterval() time.Duration { return millis(s.PollingIntervalMS) }

// Timeout is scheduler.timeout_seconds (a running job's time limit) as a duration.
func (s Scheduler) Timeout() time.Duration { return seconds(s.TimeoutSeconds) }

// AcceptTimeout is scheduler.accept_timeout_seconds as a duration.
func (s Scheduler) AcceptTimeout() time.Duration { return seconds(s.AcceptTimeoutSeconds) }

// HeartbeatTimeout is scheduler.heartbeat_timeout_seconds as a duration.
func (s Scheduler) HeartbeatTimeout() time.Duration { return seconds(s.HeartbeatTimeoutSeconds) }

// DispatchBackoff is scheduler.dispatch_backoff_ms as a duration.
func (s Scheduler) DispatchBackoff() time.Duration { return millis(s.DispatchBackoffMS) }

// MetricsSampleInterval is scheduler.metrics_sample_interval_seconds as a duration.
func (s Scheduler) MetricsSampleInterval() time.Duration {
	return seconds(s.MetricsSampleIntervalSeconds)
}

// P2PTokenExpiration is jwt.p2p_token_expiration_seconds as a duration.
func (j JWT) P2PTokenExpiration() time.Duration { return seconds(j.P2PTokenExpirationSeconds) }

// NodeSessionTTL is jwt.node_session_ttl_seconds as a duration.
func (j JWT) NodeSessionTTL() time.Duration { return seconds(j.NodeSessionTTLSeconds) }

// SecretPath is where the generated JWT secret is kept when jwt.secret is empty.
func (e EventStore) SecretPath() string { return filepath.Join(e.DataDir, SecretFileName) }

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }
func millis(n int) time.Duration  { return time.Duration(n) * time.Millisecond }

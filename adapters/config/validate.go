package config

import (
	"errors"
	"github.com/cyxwiz/central-server/adapters/netpolicy"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cyxwiz/central-server/domain"
)

// MinSecretBytes is the shortest jwt.secret accepted: HS256 wants a key of
// at least 256 bits.
const MinSecretBytes = 32

// Validate checks every key's value; the error joins one *KeyError per
// problem, each naming the key ("section.key") and what is expected.
func (c Config) Validate() error {
	return errors.Join(c.validate(nil)...)
}

// validate checks c; origins says where each key's value came from so that
// errors can name the file or environment variable.
func (c Config) validate(origins map[string]origin) []error {
	v := &checker{origins: origins}

	s := c.Server
	v.hostPort("server.grpc_address", s.GRPCAddress)
	v.hostPort("server.rest_address", s.RESTAddress)
	v.intRange("server.max_message_bytes", s.MaxMessageBytes, 1024, math.MaxInt32)
	v.intMin("server.shutdown_grace_seconds", s.ShutdownGraceSeconds, 0)
	v.originList("server.cors_origins", s.CORSOrigins)
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		v.fail("server.tls_key_file", "server.tls_cert_file and server.tls_key_file go together: set both for TLS, or neither for plaintext")
	}
	for key, path := range map[string]string{"server.tls_client_ca_file": s.TLSClientCAFile, "server.tls_node_ca_file": s.TLSNodeCAFile} {
		if path != "" && s.TLSCertFile == "" {
			v.fail(key, "needs server.tls_cert_file and server.tls_key_file (the server's own certificate)")
		}
	}

	if c.Database.URL != "" {
		v.url("database.url", c.Database.URL, "postgres", "postgresql")
	}
	v.intMin("database.max_connections", c.Database.MaxConnections, 1)
	v.intMin("database.snapshot_interval_seconds", c.Database.SnapshotIntervalSeconds, 0)
	v.intMin("database.keep_finished_jobs", c.Database.KeepFinishedJobs, 0)
	if sc := c.Database.Schema; sc != "" && !validIdentifier(sc) {
		v.fail("database.schema", "must be a plain identifier (letters, digits, _; not starting with a digit; at most 63 bytes), got %q", sc)
	}

	if c.Redis.URL != "" {
		v.url("redis.url", c.Redis.URL, "redis", "rediss", "unix")
	}
	v.intRange("redis.leader_ttl_ms", c.Redis.LeaderTTLMS, 100, 60000)
	v.oneOf("redis.leader", c.Redis.Leader, LeaderElect, LeaderAlways)

	b := c.Blockchain
	v.oneOf("blockchain.network", b.Network, NetworkDisabled, NetworkLocalnet, NetworkDevnet, NetworkMainnetBeta)
	if b.SolanaRPCURL != "" {
		v.url("blockchain.solana_rpc_url", b.SolanaRPCURL, "http", "https")
	}
	v.pubkey("blockchain.program_id", b.ProgramID)
	if b.TreasuryAddress != "" {
		v.pubkey("blockchain.treasury_address", b.TreasuryAddress)
	}
	v.intRange("blockchain.platform_fee_percent", b.PlatformFeePercent, 0, 100)
	v.oneOf("blockchain.confirmation", b.Confirmation, ConfirmationProcessed, ConfirmationConfirmed, ConfirmationFinalized)
	v.oneOf("blockchain.unpaid_jobs", b.UnpaidJobs, UnpaidAllow, UnpaidRefuse)
	v.intMin("blockchain.poll_interval_ms", b.PollIntervalMS, 1)
	v.intMin("blockchain.unclaimed_deposit_refund_after_seconds", b.UnclaimedDepositRefundAfterSeconds, 0)
	if b.Enabled() {
		if b.PayerKeypairPath == "" {
			v.failFrom("blockchain.payer_keypair_path", "blockchain.network",
				"required when blockchain.network is %q: the keypair (Solana CLI JSON) that signs escrow releases and refunds", b.Network)
		}
		if b.TreasuryAddress == "" && b.PlatformFeePercent > 0 {
			v.failFrom("blockchain.treasury_address", "blockchain.network",
				"required when blockchain.network is %q and blockchain.platform_fee_percent > 0: the wallet that receives the platform fee", b.Network)
		}
	}

	l := c.Limits
	for key, rate := range map[string]float64{"limits.user_requests_per_second": l.UserRequestsPerSecond,
		"limits.node_requests_per_second": l.NodeRequestsPerSecond, "limits.ip_requests_per_second": l.IPRequestsPerSecond} {
		if math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 {
			v.fail(key, "must be a finite number ≥ 0 (0 = no limit), got %v", rate)
		}
	}
	v.intMin("limits.user_burst", l.UserBurst, 1)
	v.intMin("limits.node_burst", l.NodeBurst, 1)
	v.intMin("limits.ip_burst", l.IPBurst, 1)
	v.intMin("limits.max_tracked_principals", l.MaxTrackedPrincipals, 1024)
	v.intMin("limits.queued_jobs_per_user", l.QueuedJobsPerUser, 0)
	v.intMin("limits.nodes_per_owner", l.NodesPerOwner, 0)
	v.intRange("limits.max_job_spec_bytes", l.MaxJobSpecBytes, 1024, math.MaxInt32)
	v.intMin("limits.streams_per_principal", l.StreamsPerPrincipal, 0)
	v.intRange("limits.max_reply_bytes", l.MaxReplyBytes, 64<<10, math.MaxInt32)

	sc := c.Scheduler
	v.intMin("scheduler.polling_interval_ms", sc.PollingIntervalMS, 1)
	v.intMin("scheduler.max_jobs_per_node", sc.MaxJobsPerNode, 1)
	v.intMin("scheduler.timeout_seconds", sc.TimeoutSeconds, 1)
	v.intMin("scheduler.accept_timeout_seconds", sc.AcceptTimeoutSeconds, 1)
	v.intMin("scheduler.heartbeat_timeout_seconds", sc.HeartbeatTimeoutSeconds, 1)
	v.intMin("scheduler.max_retries", sc.MaxRetries, 0)
	v.intRange("scheduler.node_control_port_offset", sc.NodeControlPortOffset, 0, 65535)
	v.oneOf("scheduler.node_networks", sc.NodeNetworks, netpolicy.ModePrivate, netpolicy.ModePublic)
	if _, err := netpolicy.New(netpolicy.ModePrivate, sc.NodeDeniedNetworks.Items()); err != nil {
		v.fail("scheduler.node_denied_networks", "%v", err)
	}
	v.intMin("scheduler.dispatch_max_connections", sc.DispatchMaxConnections, 1)
	v.intMin("scheduler.dispatch_idle_seconds", sc.DispatchIdleSeconds, 1)
	v.intMin("scheduler.dispatch_attempts", sc.DispatchAttempts, 1)
	v.intMin("scheduler.dispatch_backoff_ms", sc.DispatchBackoffMS, 0)
	v.floatRange("scheduler.min_reputation", sc.MinReputation, 0, 1)
	v.intMin("scheduler.metrics_sample_interval_seconds", sc.MetricsSampleIntervalSeconds, 1)
	v.floatRange("scheduler.reputation_penalty_offline", sc.ReputationPenaltyOffline, 0, 1)
	v.floatRange("scheduler.reputation_penalty_reject", sc.ReputationPenaltyReject, 0, 1)
	v.floatRange("scheduler.reputation_penalty_timeout", sc.ReputationPenaltyTimeout, 0, 1)
	v.floatRange("scheduler.reputation_penalty_failure", sc.ReputationPenaltyFailure, 0, 1)
	v.floatRange("scheduler.reputation_reward_success", sc.ReputationRewardSuccess, 0, 1)

	j := c.JWT
	if j.Secret != "" && len(j.Secret) < MinSecretBytes {
		v.fail("jwt.secret", "must be at least %d bytes (HS256 needs a 256-bit key), got %d; "+
			"or leave it empty to have one generated in eventstore.data_dir/%s", MinSecretBytes, len(j.Secret), SecretFileName)
	}
	v.intMin("jwt.p2p_token_expiration_seconds", j.P2PTokenExpirationSeconds, 1)
	v.intMin("jwt.node_session_ttl_seconds", j.NodeSessionTTLSeconds, 1)

	e := c.EventStore
	v.oneOf("eventstore.backend", e.Backend, BackendEmbedded, BackendESDB, BackendPostgres)
	if strings.TrimSpace(e.DataDir) == "" {
		v.fail("eventstore.data_dir", "required: the directory of the embedded event store and the generated JWT secret")
	}
	if e.ESDBURL != "" {
		v.url("eventstore.esdb_url", e.ESDBURL, "esdb", "esdb+discover")
	} else if e.Backend == BackendESDB {
		v.failFrom("eventstore.esdb_url", "eventstore.backend",
			`required when eventstore.backend is "esdb" (e.g. "esdb://localhost:2113?tls=false")`)
	}
	if e.PostgresURL != "" {
		v.url("eventstore.postgres_url", e.PostgresURL, "postgres", "postgresql")
	} else if e.Backend == BackendPostgres && c.Database.URL == "" {
		v.failFrom("eventstore.postgres_url", "eventstore.backend",
			`required when eventstore.backend is "postgres" and database.url is empty (e.g. "postgres://user@localhost:5432/cyxwiz")`)
	}
	if len(e.PostgresSchema) > 63 {
		v.fail("eventstore.postgres_schema", "at most 63 bytes (a PostgreSQL identifier), got %d", len(e.PostgresSchema))
	}
	return v.errs
}

// checker collects validation errors.
type checker struct {
	origins map[string]origin
	errs    []error
}

func (v *checker) fail(key, format string, args ...any) {
	v.errs = append(v.errs, v.origins[key].errorf(key, format, args...))
}

// failFrom reports a problem with key that another key (cause) brought
// about; when key was not set explicitly it names cause's origin instead.
func (v *checker) failFrom(key, cause, format string, args ...any) {
	o, ok := v.origins[key]
	if !ok {
		o = v.origins[cause]
	}
	v.errs = append(v.errs, o.errorf(key, format, args...))
}

func (v *checker) intMin(key string, n, lo int) {
	if n < lo {
		v.fail(key, "must be at least %d, got %d", lo, n)
	}
}

func (v *checker) intRange(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.fail(key, "must be between %d and %d, got %d", lo, hi, n)
	}
}

func (v *checker) floatRange(key string, f, lo, hi float64) {
	if !(f >= lo && f <= hi) { // also catches NaN
		v.fail(key, "must be between %g and %g, got %g", lo, hi, f)
	}
}

func (v *checker) oneOf(key, s string, set ...string) {
	if !slices.Contains(set, s) {
		v.fail(key, "must be one of %s; got %q", strings.Join(set, ", "), s)
	}
}

func (v *checker) hostPort(key, s string) {
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		v.fail(key, `expected host:port with a numeric port (e.g. "0.0.0.0:50051" or "127.0.0.1:0"), got %q`, s)
	}
}

// url checks that s parses as a URL with one of schemes. The value is shown
// with its password masked.
func (v *checker) url(key, s string, schemes ...string) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the inner error; the outer one quotes the value, password and all
		}
		v.fail(key, "expected a URL starting with %s; the value does not parse: %v", schemeList(schemes), err)
		return
	}
	if !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
		v.fail(key, "expected a URL starting with %s, got %q", schemeList(schemes), redactURL(s))
		return
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		v.fail(key, "expected a URL with a host, got %q", redactURL(s))
	}
}

// originList checks a list of browser origins: "*" alone, or each an
// http(s)://host[:port] with no path, query or trailing slash.
func (v *checker) originList(key string, l List) {
	items := l.Items()
	for i, o := range items {
		if o == "*" {
			if len(items) > 1 {
				v.fail(key, `"*" (any origin) must be the only item, got %d items`, len(items))
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") || o != u.Scheme+"://"+u.Host {
			v.fail(key, `item %d: expected an origin like "https://console.example.com" or "http://localhost:3000" `+
				`(scheme, host and optional port; no path or trailing slash), or "*" alone; got %q`, i, o)
		}
	}
}

func schemeList(schemes []string) string {
	out := make([]string, len(schemes))
	for i, s := range schemes {
		out[i] = s + "://"
	}
	return strings.Join(out, " or ")
}

// pubkey checks that s is a base58-encoded 32-byte Solana public key.
func (v *checker) pubkey(key, s string) {
	if domain.CheckAddress(s) != nil {
		v.fail(key, "expected a base58 Solana address (32 bytes), got %q", s)
	}
}

// validIdentifier reports whether s is a plain SQL identifier.
func validIdentifier(s string) bool {
	if len(s) == 0 || len(s) > 63 || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

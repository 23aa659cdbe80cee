package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// writeFile writes a config file in a temp dir and returns its path.
func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatalf(`Load("", nil) = %v`, err)
	}
	if cfg != Default() {
		t.Fatalf(`Load("", nil) = %+v, want Default()`, cfg)
	}
}

func TestShippedConfigEqualsDefault(t *testing.T) {
	const path = "../../config.toml"
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%q) = %v", path, err)
	}
	if cfg != Default() {
		t.Fatalf("shipped config.toml differs from Default():\n got %+v\nwant %+v", cfg, Default())
	}
	// Every key is written out in the shipped file, so it documents them all.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		sec, name, _ := strings.Cut(key, ".")
		if _, ok := doc[sec][name]; !ok {
			t.Errorf("config.toml does not list %s", key)
		}
	}
}

func TestFileOverrides(t *testing.T) {
	p := writeFile(t, `
[server]
grpc_address = "127.0.0.1:6000"
max_message_bytes = 1048576

[database]
url = "postgresql://cyxwiz:pw@db:5432/cyxwiz"
max_connections = 20

[redis]
url = "redis://cache:6379/0"

[blockchain]
network = "localnet"
payer_keypair_path = "~/.config/solana/id.json"
treasury_address = "So11111111111111111111111111111111111111112"
platform_fee_percent = 5
confirmation = "finalized"

[scheduler]
polling_interval_ms = 250
min_reputation = 1          # an integer is accepted for a float key
reputation_penalty_reject = 0.1

[jwt]
secret = "0123456789abcdef0123456789abcdef"
node_session_ttl_seconds = 60

[eventstore]
backend = "esdb"
esdb_url = "esdb://localhost:2113?tls=false"
`)
	cfg, err := Load(p, nil)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	want := Default()
	want.Server.GRPCAddress = "127.0.0.1:6000"
	want.Server.MaxMessageBytes = 1 << 20
	want.Database.URL, want.Database.MaxConnections = "postgresql://cyxwiz:pw@db:5432/cyxwiz", 20
	want.Redis.URL = "redis://cache:6379/0"
	want.Blockchain.Network = NetworkLocalnet
	want.Blockchain.PayerKeypairPath = "~/.config/solana/id.json"
	want.Blockchain.TreasuryAddress = "So11111111111111111111111111111111111111112"
	want.Blockchain.PlatformFeePercent = 5
	want.Blockchain.Confirmation = ConfirmationFinalized
	want.Scheduler.PollingIntervalMS = 250
	want.Scheduler.MinReputation = 1
	want.Scheduler.ReputationPenaltyReject = 0.1
	want.JWT.Secret = "0123456789abcdef0123456789abcdef"
	want.JWT.NodeSessionTTLSeconds = 60
	want.EventStore.Backend = BackendESDB
	want.EventStore.ESDBURL = "esdb://localhost:2113?tls=false"
	if cfg != want {
		t.Fatalf("Load =\n %+v\nwant\n %+v", cfg, want)
	}
	if got := cfg.Scheduler.PollingInterval(); got != 250*time.Millisecond {
		t.Errorf("PollingInterval() = %v", got)
	}
	if got := cfg.Blockchain.RPCEndpoint(); got != "http://127.0.0.1:8899" {
		t.Errorf("RPCEndpoint() = %q", got)
	}
}

func TestEnvOverrides(t *testing.T) {
	const secret = "env-secret-env-secret-env-secret-xx"
	tests := []struct {
		name  string
		env   []string
		check func(Config) bool
	}{
		{"server", []string{"CYXWIZ_SERVER_GRPC_ADDRESS=127.0.0.1:7000", "CYXWIZ_SERVER_SHUTDOWN_GRACE_SECONDS=2"},
			func(c Config) bool {
				return c.Server.GRPCAddress == "127.0.0.1:7000" && c.Server.ShutdownGrace() == 2*time.Second
			}},
		{"database", []string{"CYXWIZ_DATABASE_URL=postgres://u:p@127.0.0.1:5432/db", "CYXWIZ_DATABASE_MAX_CONNECTIONS= 3 "},
			func(c Config) bool {
				return c.Database.URL == "postgres://u:p@127.0.0.1:5432/db" && c.Database.MaxConnections == 3
			}},
		{"redis", []string{"CYXWIZ_REDIS_URL=redis://127.0.0.1:6379"},
			func(c Config) bool { return c.Redis.URL == "redis://127.0.0.1:6379" }},
		{"blockchain", []string{"CYXWIZ_BLOCKCHAIN_NETWORK=devnet", "CYXWIZ_BLOCKCHAIN_PAYER_KEYPAIR_PATH=/k.json",
			"CYXWIZ_BLOCKCHAIN_PLATFORM_FEE_PERCENT=0"},
			func(c Config) bool {
				return c.Blockchain.Network == NetworkDevnet && c.Blockchain.PlatformFeePercent == 0 &&
					c.Blockchain.RPCEndpoint() == "https://api.devnet.solana.com"
			}},
		{"scheduler", []string{"CYXWIZ_SCHEDULER_POLLING_INTERVAL_MS=50", "CYXWIZ_SCHEDULER_MIN_REPUTATION=0.25"},
			func(c Config) bool {
				return c.Scheduler.PollingIntervalMS == 50 && c.Scheduler.MinReputation == 0.25
			}},
		{"jwt", []string{"CYXWIZ_JWT_SECRET=" + secret, "CYXWIZ_JWT_P2P_TOKEN_EXPIRATION_SECONDS=600"},
			func(c Config) bool {
				return c.JWT.Secret == secret && c.JWT.P2PTokenExpiration() == 10*time.Minute
			}},
		{"eventstore", []string{"CYXWIZ_EVENTSTORE_DATA_DIR=/var/lib/cyxwiz", "CYXWIZ_EVENTSTORE_BACKEND=esdb",
			"CYXWIZ_EVENTSTORE_ESDB_URL=esdb+discover://es:2113"},
			func(c Config) bool {
				return c.EventStore.DataDir == "/var/lib/cyxwiz" && c.EventStore.Backend == BackendESDB &&
					c.EventStore.SecretPath() == "/var/lib/cyxwiz/jwt_secret"
			}},
		{"env beats file and empty string clears", []string{"CYXWIZ_DATABASE_URL="},
			func(c Config) bool { return c.Database.URL == "" && c.Database.MaxConnections == 7 }},
		{"later duplicate wins", []string{"CYXWIZ_SCHEDULER_MAX_RETRIES=1", "CYXWIZ_SCHEDULER_MAX_RETRIES=4"},
			func(c Config) bool { return c.Scheduler.MaxRetries == 4 }},
		{"other CYXWIZ_ and foreign variables are ignored",
			[]string{"CYXWIZ_LOG=debug", "CYXWIZ_TEST_POSTGRES_URL=postgres://x", "CYXWIZ_SERVER=x", "PATH=/bin", "garbage"},
			func(c Config) bool { return c.Database.URL == "postgres://file@db/x" }},
	}
	file := writeFile(t, "[database]\nurl = \"postgres://file@db/x\"\nmax_connections = 7\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(file, tt.env)
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if !tt.check(cfg) {
				t.Fatalf("env %v not applied: %+v", tt.env, cfg)
			}
		})
	}
}

// TestEveryKeyHasAnEnvOverride sets every key through its variable.
func TestEveryKeyHasAnEnvOverride(t *testing.T) {
	for _, f := range keys.fields {
		t.Run(f.env, func(t *testing.T) {
			var cfg Config
			sample := map[reflect.Kind]struct {
				raw  string
				want any
			}{
				reflect.String:  {"x y", "x y"},
				reflect.Int:     {"-7", -7},
				reflect.Float64: {"0.5", 0.5},
				reflect.Struct:  {"x y", NewList("x y")}, // List
			}[f.kind]
			origins := map[string]origin{}
			if errs := applyEnv(&cfg, []string{f.env + "=" + sample.raw}, origins); len(errs) > 0 {
				t.Fatalf("applyEnv: %v", errs)
			}
			if got := f.value(&cfg).Interface(); got != sample.want {
				t.Fatalf("%s=%v set %s to %v", f.env, sample.raw, f.key, got)
			}
			if origins[f.key].env != f.env {
				t.Fatalf("origin of %s = %+v", f.key, origins[f.key])
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   []string
		wants []string
	}{
		{"typo in file", "[scheduler]\npolling_intervl_ms = 5\n", nil,
			[]string{`config.toml: unknown key "scheduler.polling_intervl_ms" (did you mean "scheduler.polling_interval_ms"?)`}},
		{"unrelated key in file", "[jwt]\nfoo = 1\n", nil,
			[]string{`unknown key "jwt.foo" ([jwt] has secret, p2p_token_expiration_seconds, node_session_ttl_seconds)`}},
		{"unknown section", "[schedular]\nmax_retries = 1\n", nil,
			[]string{`config.toml: unknown key "schedular" (did you mean [scheduler]?)`}},
		{"key outside a section", "grpc_address = \"x:1\"\n", nil,
			[]string{`unknown key "grpc_address" (keys belong in a section: put it under [server])`}},
		{"nested table", "[server.tls]\ncert = \"x\"\n", nil, []string{`unknown key "server.tls"`}},
		{"section not a table", "server = 3\n", nil, []string{`config.toml: server: expected a table ([server]), got integer 3`}},
		{"unknown env key", "", []string{"CYXWIZ_JWT_SECRETT=x"},
			[]string{`env CYXWIZ_JWT_SECRETT: unknown key "jwt.secrett" (did you mean CYXWIZ_JWT_SECRET?)`}},
		{"unknown env key far from any", "", []string{"CYXWIZ_EVENTSTORE_WHATEVER_THING=x"},
			[]string{`env CYXWIZ_EVENTSTORE_WHATEVER_THING: unknown key "eventstore.whatever_thing" ([eventstore] has backend, data_dir, esdb_url, postgres_url, postgres_schema)`}},
		{"all reported", "[server]\na = 1\nb = 2\n", []string{"CYXWIZ_REDIS_HOST=x"},
			[]string{`unknown key "server.a"`, `unknown key "server.b"`, `env CYXWIZ_REDIS_HOST: unknown key "redis.host"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			_, err := Load(path, tt.env)
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			msg := strings.ReplaceAll(err.Error(), path, "config.toml")
			for _, w := range tt.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n  %s\ndoes not contain\n  %s", msg, w)
				}
			}
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v is not a *KeyError", err)
			}
		})
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		key  string // the KeyError's key
		want string // substring of the message (file path shown as config.toml)
	}{
		// type errors in the file
		{"string for int", "[scheduler]\nmax_retries = \"three\"\n", nil, "scheduler.max_retries",
			`config.toml: scheduler.max_retries: expected an integer, got string "three"`},
		{"float for int", "[server]\nshutdown_grace_seconds = 1.5\n", nil, "server.shutdown_grace_seconds",
			`server.shutdown_grace_seconds: expected an integer, got float 1.5`},
		{"int for string", "[server]\ngrpc_address = 50051\n", nil, "server.grpc_address",
			`server.grpc_address: expected a string, got integer 50051`},
		{"bool for float", "[scheduler]\nmin_reputation = true\n", nil, "scheduler.min_reputation",
			`scheduler.min_reputation: expected a number, got boolean true`},
		{"array for string", "[redis]\nurl = [\"a\"]\n", nil, "redis.url", `redis.url: expected a string, got an array`},
		// type errors in env
		{"env int", "", []string{"CYXWIZ_SCHEDULER_POLLING_INTERVAL_MS=1s"}, "scheduler.polling_interval_ms",
			`env CYXWIZ_SCHEDULER_POLLING_INTERVAL_MS: scheduler.polling_interval_ms: expected an integer, got "1s"`},
		{"env float", "", []string{"CYXWIZ_SCHEDULER_MIN_REPUTATION=high"}, "scheduler.min_reputation",
			`env CYXWIZ_SCHEDULER_MIN_REPUTATION: scheduler.min_reputation: expected a number, got "high"`},
		// range and format errors, from the file
		{"negative retries", "[scheduler]\nmax_retries = -1\n", nil, "scheduler.max_retries",
			`config.toml: scheduler.max_retries: must be at least 0, got -1`},
		{"zero jobs per node", "[scheduler]\nmax_jobs_per_node = 0\n", nil, "scheduler.max_jobs_per_node",
			`scheduler.max_jobs_per_node: must be at least 1, got 0`},
		{"fee over 100", "[blockchain]\nplatform_fee_percent = 101\n", nil, "blockchain.platform_fee_percent",
			`blockchain.platform_fee_percent: must be between 0 and 100, got 101`},
		{"reputation over 1", "[scheduler]\nmin_reputation = 1.5\n", nil, "scheduler.min_reputation",
			`scheduler.min_reputation: must be between 0 and 1, got 1.5`},
		{"nan penalty", "[scheduler]\nreputation_penalty_timeout = nan\n", nil, "scheduler.reputation_penalty_timeout",
			`scheduler.reputation_penalty_timeout: must be between 0 and 1, got NaN`},
		{"address without port", "[server]\nrest_address = \"localhost\"\n", nil, "server.rest_address",
			`server.rest_address: expected host:port with a numeric port`},
		{"address with bad port", "[server]\ngrpc_address = \"0.0.0.0:99999\"\n", nil, "server.grpc_address",
			`server.grpc_address: expected host:port`},
		{"network enum", "[blockchain]\nnetwork = \"testnet\"\n", nil, "blockchain.network",
			`blockchain.network: must be one of disabled, localnet, devnet, mainnet-beta; got "testnet"`},
		{"confirmation enum", "[blockchain]\nconfirmation = \"max\"\n", nil, "blockchain.confirmation",
			`blockchain.confirmation: must be one of processed, confirmed, finalized; got "max"`},
		{"program id", "[blockchain]\nprogram_id = \"not-base58-0OIl\"\n", nil, "blockchain.program_id",
			`blockchain.program_id: expected a base58 Solana address (32 bytes)`},
		{"schema identifier", "[database]\nschema = \"public; drop\"\n", nil, "database.schema",
			`database.schema: must be a plain identifier`},
		{"backend enum", "[eventstore]\nbackend = \"sqlite\"\n", nil, "eventstore.backend",
			`eventstore.backend: must be one of embedded, esdb, postgres; got "sqlite"`},
		{"esdb needs url", "[eventstore]\nbackend = \"esdb\"\n", nil, "eventstore.esdb_url",
			`config.toml: eventstore.esdb_url: required when eventstore.backend is "esdb"`},
		{"esdb url scheme", "[eventstore]\nesdb_url = \"http://es:2113\"\n", nil, "eventstore.esdb_url",
			`eventstore.esdb_url: expected a URL starting with esdb:// or esdb+discover://`},
		{"postgres log needs a url", "[eventstore]\nbackend = \"postgres\"\n", nil, "eventstore.postgres_url",
			`config.toml: eventstore.postgres_url: required when eventstore.backend is "postgres" and database.url is empty`},
		{"postgres log url scheme", "[eventstore]\npostgres_url = \"mysql://db/x\"\n", nil, "eventstore.postgres_url",
			`eventstore.postgres_url: expected a URL starting with postgres:// or postgresql://`},
		{"postgres log schema length", "[eventstore]\npostgres_schema = \"" + strings.Repeat("s", 64) + "\"\n", nil,
			"eventstore.postgres_schema", `eventstore.postgres_schema: at most 63 bytes`},
		{"database scheme, password masked", "[database]\nurl = \"mysql://root:hunter2@db/x\"\n", nil, "database.url",
			`database.url: expected a URL starting with postgres:// or postgresql://, got "mysql://root:REDACTED@db/x"`},
		{"redis scheme", "[redis]\nurl = \"127.0.0.1:6379\"\n", nil, "redis.url",
			`redis.url: expected a URL starting with redis:// or rediss:// or unix://`},
		{"short secret", "[jwt]\nsecret = \"your-secret-key-here\"\n", nil, "jwt.secret",
			`jwt.secret: must be at least 32 bytes (HS256 needs a 256-bit key), got 20`},
		{"blockchain on needs keypair", "[blockchain]\nnetwork = \"devnet\"\nplatform_fee_percent = 0\n", nil,
			"blockchain.payer_keypair_path", `blockchain.payer_keypair_path: required when blockchain.network is "devnet"`},
		{"fee needs treasury", "[blockchain]\nnetwork = \"devnet\"\npayer_keypair_path = \"/k\"\n", nil,
			"blockchain.treasury_address", `blockchain.treasury_address: required when blockchain.network is "devnet"`},
		{"empty data dir", "[eventstore]\ndata_dir = \"\"\n", nil, "eventstore.data_dir", `eventstore.data_dir: required`},
		// range errors from env name the variable
		{"env range", "", []string{"CYXWIZ_SCHEDULER_DISPATCH_ATTEMPTS=0"}, "scheduler.dispatch_attempts",
			`env CYXWIZ_SCHEDULER_DISPATCH_ATTEMPTS: scheduler.dispatch_attempts: must be at least 1, got 0`},
		{"env enum", "", []string{"CYXWIZ_EVENTSTORE_BACKEND=esdb"}, "eventstore.esdb_url",
			`env CYXWIZ_EVENTSTORE_BACKEND: eventstore.esdb_url: required when eventstore.backend is "esdb"`},
		{"env address", "", []string{"CYXWIZ_SERVER_GRPC_ADDRESS=:grpc"}, "server.grpc_address",
			`env CYXWIZ_SERVER_GRPC_ADDRESS: server.grpc_address: expected host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			_, err := Load(path, tt.env)
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			if path != "" && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			msg := err.Error()
			if path != "" {
				msg = strings.ReplaceAll(msg, path, "config.toml")
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error\n  %s\ndoes not contain\n  %s", msg, tt.want)
			}
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Key != tt.key {
				t.Errorf("error %v: want a *KeyError for %s, got %#v", err, tt.key, ke)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error leaks a password: %s", msg)
			}
		})
	}
}

func TestValidateWithoutSource(t *testing.T) {
	cfg := Default()
	cfg.Scheduler.MaxRetries = -2
	cfg.Server.GRPCAddress = "nope"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	for _, w := range []string{"scheduler.max_retries: must be at least 0, got -2", "server.grpc_address: expected host:port"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %q, want it to contain %q", err, w)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "absent.toml"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	path := writeFile(t, "[server]\ngrpc_address = \n")
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Errorf("syntax error: err = %v, want it to name %s:2:", err, path)
	}
	path = writeFile(t, "[server]\nrest_address = \"a:1\"\nrest_address = \"b:2\"\n")
	if _, err := Load(path, nil); err == nil {
		t.Error("duplicate key accepted")
	}
}

func TestRedacted(t *testing.T) {
	cfg := Default()
	cfg.JWT.Secret = "top-secret-top-secret-top-secret-42"
	cfg.Database.URL = "postgresql://cyxwiz:hunter2@db:5432/cyxwiz?sslmode=disable"
	cfg.Redis.URL = "redis://:hunter2@cache:6379/0"
	cfg.Blockchain.SolanaRPCURL = "https://rpc.example.com/?api-key=hunter2"
	cfg.EventStore.ESDBURL = "esdb://admin:hunter2@es:2113?tls=false"
	cfg.EventStore.PostgresURL = "postgres://log:hunter2@db:5432/log"
	tests := []struct{ name, got, want string }{
		{"jwt.secret", cfg.Redacted().JWT.Secret, Mask},
		{"database.url", cfg.Redacted().Database.URL, "postgresql://cyxwiz:REDACTED@db:5432/cyxwiz?sslmode=disable"},
		{"redis.url", cfg.Redacted().Redis.URL, "redis://:REDACTED@cache:6379/0"},
		{"solana_rpc_url", cfg.Redacted().Blockchain.SolanaRPCURL, "https://rpc.example.com/?api-key=REDACTED"},
		{"esdb_url", cfg.Redacted().EventStore.ESDBURL, "esdb://admin:REDACTED@es:2113?tls=false"},
		{"postgres_url", cfg.Redacted().EventStore.PostgresURL, "postgres://log:REDACTED@db:5432/log"},
		{"empty secret stays empty", Default().Redacted().JWT.Secret, ""},
		{"api key in the path", redactURL("https://solana-mainnet.g.alchemy.com/v2/Xk9aB3dE7fG1hJ2kL4mN6pQ8"), "https://solana-mainnet.g.alchemy.com/v2/REDACTED"},
		{"token segment with a trailing slash", redactURL("https://x.solana-mainnet.quiknode.pro/4f1e2d3c4b5a69788796a5b4c3d2e1f0/"), "https://x.solana-mainnet.quiknode.pro/REDACTED/"},
		{"segment after a key-like name", redactURL("https://rpc.example.com/apikey/hunter2"), "https://rpc.example.com/apikey/REDACTED"},
		{"plain path kept", redactURL("http://127.0.0.1:8899/rpc/v1"), "http://127.0.0.1:8899/rpc/v1"},
		{"original untouched", cfg.JWT.Secret, "top-secret-top-secret-top-secret-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", cfg)
	out := buf.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, "top-secret") {
		t.Errorf("slog output leaks a secret: %s", out)
	}
	if !strings.Contains(out, `"grpc_address":"0.0.0.0:50051"`) {
		t.Errorf("slog output lacks the config: %s", out)
	}

	// Map: every key, by section, redacted.
	cfg.Server.CORSOrigins = NewList("https://a.example", "https://b.example")
	m := cfg.Map()
	n := 0
	for _, sec := range m {
		n += len(sec)
	}
	if n != len(Keys()) {
		t.Errorf("Map has %d keys, want %d", n, len(Keys()))
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(data); strings.Contains(s, "hunter2") || strings.Contains(s, "top-secret") {
		t.Errorf("Map leaks a secret: %s", s)
	}
	if m["jwt"]["secret"] != Mask || m["server"]["grpc_address"] != "0.0.0.0:50051" ||
		m["scheduler"]["max_retries"] != cfg.Scheduler.MaxRetries || m["database"]["url"] != "postgresql://cyxwiz:REDACTED@db:5432/cyxwiz?sslmode=disable" {
		t.Errorf("Map: %v", m)
	}
	if l, ok := m["server"]["cors_origins"].([]string); !ok || len(l) != 2 || l[1] != "https://b.example" {
		t.Errorf("cors_origins %#v", m["server"]["cors_origins"])
	}
	if l, ok := Default().Map()["server"]["cors_origins"].([]string); !ok || l == nil || len(l) != 0 {
		t.Errorf("an empty list: %#v, want []string{}", Default().Map()["server"]["cors_origins"])
	}
}

func TestKeypairPath(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory")
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"/etc/k.json", "/etc/k.json"},
		{"~/.config/solana/id.json", filepath.Join(home, ".config/solana/id.json")},
		{"~other/k.json", "~other/k.json"},
	}
	for _, tt := range tests {
		got, err := Blockchain{PayerKeypairPath: tt.in}.KeypairPath()
		if err != nil || got != tt.want {
			t.Errorf("KeypairPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestEnvVarNames(t *testing.T) {
	tests := []struct{ key, env string }{
		{"server.grpc_address", "CYXWIZ_SERVER_GRPC_ADDRESS"},
		{"jwt.secret", "CYXWIZ_JWT_SECRET"},
		{"eventstore.data_dir", "CYXWIZ_EVENTSTORE_DATA_DIR"},
		{"scheduler.polling_interval_ms", "CYXWIZ_SCHEDULER_POLLING_INTERVAL_MS"},
		{"nope.nope", ""},
	}
	for _, tt := range tests {
		if got := EnvVar(tt.key); got != tt.env {
			t.Errorf("EnvVar(%q) = %q, want %q", tt.key, got, tt.env)
		}
	}
}

func TestCORSOrigins(t *testing.T) {
	if got := Default().Server.CORSOrigins.Items(); got != nil {
		t.Fatalf("default server.cors_origins = %q, want none (same-origin only)", got)
	}
	file := writeFile(t, "[server]\ncors_origins = [\"https://console.example.com\", \"http://localhost:3000\"]\n")
	cfg, err := Load(file, nil)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if got, want := cfg.Server.CORSOrigins.Items(), []string{"https://console.example.com", "http://localhost:3000"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("file: cors_origins = %q, want %q", got, want)
	}
	cfg, err = Load(file, []string{"CYXWIZ_SERVER_CORS_ORIGINS= https://a.example , https://b.example:8443,"})
	if err != nil {
		t.Fatalf("Load with env = %v", err)
	}
	if got, want := cfg.Server.CORSOrigins.Items(), []string{"https://a.example", "https://b.example:8443"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("env: cors_origins = %q, want %q", got, want)
	}
	if cfg, err = Load(file, []string{"CYXWIZ_SERVER_CORS_ORIGINS="}); err != nil || cfg.Server.CORSOrigins.Items() != nil {
		t.Fatalf("empty env: cors_origins = %q, err %v; want none", cfg.Server.CORSOrigins.Items(), err)
	}
	if cfg, err = Load("", []string{"CYXWIZ_SERVER_CORS_ORIGINS=*"}); err != nil || cfg.Server.CORSOrigins.String() != "*" {
		t.Fatalf(`"*": cors_origins = %q, err %v`, cfg.Server.CORSOrigins, err)
	}

	bad := []struct{ name, file, env, want string }{
		{"not an array", "[server]\ncors_origins = \"https://a.example\"\n", "",
			`server.cors_origins: expected an array of strings, got string "https://a.example"`},
		{"not strings", "[server]\ncors_origins = [1]\n", "", `server.cors_origins: expected an array of strings, got integer 1 at index 0`},
		{"comma in item", "[server]\ncors_origins = [\"https://a.example,https://b.example\"]\n", "", `contains a comma`},
		{"path", "", "https://a.example/", `server.cors_origins: item 0: expected an origin`},
		{"no scheme", "", "console.example.com", `item 0: expected an origin`},
		{"ftp", "", "https://ok.example,ftp://a.example", `item 1: expected an origin`},
		{"wildcard host", "", "https://*.example.com", `item 0: expected an origin`},
		{"star with others", "", "*,https://a.example", `"*" (any origin) must be the only item`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			var env []string
			if tt.env != "" {
				env = []string{"CYXWIZ_SERVER_CORS_ORIGINS=" + tt.env}
			}
			_, err := Load(path, env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestPostgresLogURL: the "postgres" log backend takes postgres_url, or
// database.url when it is empty, and says which key it used.
func TestPostgresLogURL(t *testing.T) {
	cases := []struct {
		name    string
		env     []string
		url     string
		fromKey string
	}{
		{"from database.url", []string{"CYXWIZ_EVENTSTORE_BACKEND=postgres", "CYXWIZ_DATABASE_URL=postgres://rm@db/x"},
			"postgres://rm@db/x", "database.url"},
		{"own url", []string{"CYXWIZ_EVENTSTORE_BACKEND=postgres", "CYXWIZ_DATABASE_URL=postgres://rm@db/x",
			"CYXWIZ_EVENTSTORE_POSTGRES_URL=postgresql://log@db2/y", "CYXWIZ_EVENTSTORE_POSTGRES_SCHEMA=log"},
			"postgresql://log@db2/y", "eventstore.postgres_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load("", c.env)
			if err != nil {
				t.Fatal(err)
			}
			if url, key := cfg.LogPostgresURL(); url != c.url || key != c.fromKey || cfg.EventStore.Backend != BackendPostgres {
				t.Fatalf("LogPostgresURL() = %q, %q (backend %q); want %q from %s", url, key, cfg.EventStore.Backend, c.url, c.fromKey)
			}
		})
	}
}

// TestEnvFile: CYXWIZ_<SECTION>_<KEY>_FILE reads the value from a file
// (systemd credentials, Docker secrets).
func TestEnvFile(t *testing.T) {
	secret := writeFile(t, "a-secret-from-a-credentials-file-0123456789\n")
	for _, tt := range []struct {
		name    string
		env     []string
		want    string
		wantErr string
	}{
		{"from the file, newline dropped", []string{"CYXWIZ_JWT_SECRET_FILE=" + secret}, "a-secret-from-a-credentials-file-0123456789", ""},
		{"both", []string{"CYXWIZ_JWT_SECRET=x", "CYXWIZ_JWT_SECRET_FILE=" + secret}, "", "not both"},
		{"missing file", []string{"CYXWIZ_JWT_SECRET_FILE=" + secret + ".nope"}, "", "env CYXWIZ_JWT_SECRET_FILE: jwt.secret"},
		{"unknown key", []string{"CYXWIZ_JWT_NOPE_FILE=" + secret}, "", "unknown key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.JWT.Secret != tt.want {
				t.Fatalf("jwt.secret %q, err %v; want %q", cfg.JWT.Secret, err, tt.want)
			}
		})
	}
}

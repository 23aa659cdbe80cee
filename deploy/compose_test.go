// Package deploy_test checks the deployment files that cannot be run on a
// machine without a Docker engine: docker-compose.yml (structure, pinned
// images, healthchecks, depends_on conditions, named volumes, ports, and
// the central server's configuration loaded exactly as compose passes it,
// through the server's own config loader), the Dockerfile, and the
// systemd unit (with systemd-analyze verify when it is installed).
package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/adapters/config"
	"go.yaml.in/yaml/v3"
)

// root is the repository root, relative to this package.
const root = ".."

// composeFile is the part of the compose specification the checks read.
type composeFile struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string               `yaml:"image"`
	Build       any                  `yaml:"build"`
	Entrypoint  stringList           `yaml:"entrypoint"`
	Command     stringList           `yaml:"command"`
	Environment map[string]string    `yaml:"environment"`
	Ports       []string             `yaml:"ports"`
	Volumes     []string             `yaml:"volumes"`
	Healthcheck *healthcheck         `yaml:"healthcheck"`
	DependsOn   map[string]dependsOn `yaml:"depends_on"`
}

type healthcheck struct {
	Test        stringList `yaml:"test"`
	Interval    string     `yaml:"interval"`
	Timeout     string     `yaml:"timeout"`
	Retries     int        `yaml:"retries"`
	StartPeriod string     `yaml:"start_period"`
}

type dependsOn struct {
	Condition string `yaml:"condition"`
}

// stringList is a compose field that is a string or a list of strings.
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = stringList{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate does what compose does to a value: ${VAR}, ${VAR:-default}
// (default when unset or empty), ${VAR-default} (when unset), ${VAR:?msg}
// (an error when unset or empty), ${VAR?msg} (when unset), $VAR, and $$
// for a literal $.
func interpolate(s string, env map[string]string) (string, error) {
	var errs []error
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := interpolation.FindStringSubmatch(m)
		name := g[1] + g[4]
		v, set := env[name]
		switch g[2] {
		case ":-":
			if v == "" {
				return g[3]
			}
		case "-":
			if !set {
				return g[3]
			}
		case ":?", "?":
			if !set || (g[2] == ":?" && v == "") {
				errs = append(errs, fmt.Errorf("required variable %s is missing a value: %s", name, g[3]))
			}
		}
		return v
	})
	return out, errors.Join(errs...)
}

// testSecret is the CYXWIZ_JWT_SECRET the tests give compose unless they
// say otherwise: the compose file requires one.
const testSecret = "compose-test-secret-0123456789abcdef0123"

// loadCompose reads docker-compose.yml, and the override files after it
// (merged as compose merges them), interpolated with env (the shell
// environment compose would see, CYXWIZ_JWT_SECRET defaulting to
// testSecret), as `docker compose config` does.
func loadCompose(t *testing.T, env map[string]string, overrides ...string) composeFile {
	t.Helper()
	withSecret := map[string]string{"CYXWIZ_JWT_SECRET": testSecret}
	maps.Copy(withSecret, env)
	c, err := composeConfig(withSecret, append([]string{"docker-compose.yml"}, overrides...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// composeConfig is `docker compose -f F1 -f F2 … config` for the subset of
// the specification the checks read: later files add services, volumes and
// environment variables, replace commands, healthcheck tests and ports
// lists, and add volumes (by container path) and depends_on entries.
func composeConfig(env map[string]string, files ...string) (composeFile, error) {
	var merged composeFile
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return merged, err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return merged, fmt.Errorf("%s is not YAML: %w", name, err)
		}
		var errs []error
		var walk func(*yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
				v, err := interpolate(n.Value, env)
				n.Value = v
				errs = append(errs, err)
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(&doc)
		if err := errors.Join(errs...); err != nil {
			return merged, fmt.Errorf("%s: %w", name, err)
		}
		var c composeFile
		if err := doc.Decode(&c); err != nil {
			return merged, fmt.Errorf("%s: %w", name, err)
		}
		merged = merged.merge(c)
	}
	return merged, nil
}

// merge overlays o on c as a compose override file does.
func (c composeFile) merge(o composeFile) composeFile {
	if c.Services == nil {
		return o
	}
	if o.Name != "" {
		c.Name = o.Name
	}
	for name, ov := range o.Services {
		s, ok := c.Services[name]
		if !ok {
			c.Services[name] = ov
			continue
		}
		if ov.Image != "" {
			s.Image = ov.Image
		}
		if ov.Entrypoint != nil {
			s.Entrypoint = ov.Entrypoint
		}
		if ov.Command != nil {
			s.Command = ov.Command
		}
		if ov.Ports != nil {
			s.Ports = ov.Ports
		}
		env := maps.Clone(s.Environment)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, ov.Environment)
		s.Environment = env
		for _, v := range ov.Volumes {
			target := strings.Split(v, ":")[1]
			s.Volumes = slices.DeleteFunc(slices.Clone(s.Volumes), func(old string) bool { return strings.Split(old, ":")[1] == target })
			s.Volumes = append(s.Volumes, v)
		}
		if h := ov.Healthcheck; h != nil && s.Healthcheck != nil {
			merged := *s.Healthcheck
			if h.Test != nil {
				merged.Test = h.Test
			}
			s.Healthcheck = &merged
		} else if h != nil {
			s.Healthcheck = h
		}
		deps := maps.Clone(s.DependsOn)
		if deps == nil {
			deps = map[string]dependsOn{}
		}
		maps.Copy(deps, ov.DependsOn)
		s.DependsOn = deps
		c.Services[name] = s
	}
	if c.Volumes == nil {
		c.Volumes = map[string]any{}
	}
	maps.Copy(c.Volumes, o.Volumes)
	return c
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "a", "EMPTY": ""}
	for _, tt := range []struct{ in, want string }{
		{"${A}", "a"},
		{"$A-x", "a-x"},
		{"${B:-dflt}", "dflt"},
		{"${EMPTY:-dflt}", "dflt"},
		{"${EMPTY-dflt}", ""},
		{"${B-dflt}", "dflt"},
		{"${A:-dflt}", "a"},
		{"$$(cmd) $${A}", "$(cmd) ${A}"},
		{"postgresql://u:${B:-pw}@h/db?x=1", "postgresql://u:pw@h/db?x=1"},
	} {
		if got, err := interpolate(tt.in, env); got != tt.want || err != nil {
			t.Errorf("interpolate(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"${B:?say why}", "${EMPTY:?say why}", "${B?say why}"} {
		if _, err := interpolate(in, env); err == nil || !strings.Contains(err.Error(), "say why") {
			t.Errorf("interpolate(%q): %v, want the message as an error", in, err)
		}
	}
	if got, err := interpolate("${EMPTY?say why}", env); got != "" || err != nil {
		t.Errorf(`interpolate("${EMPTY?say why}") = %q, %v; want "" (set, if empty)`, got, err)
	}
}

// pinned reports whether image names a version: a tag with a digit (not
// latest) or a digest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "latest" && strings.ContainsAny(tag, "0123456789")
}

func TestPinned(t *testing.T) {
	for image, want := range map[string]bool{
		"postgres:16.6-alpine": true, "eventstore/eventstore:24.10": true, "solanalabs/solana:v1.18.26": true,
		"postgres": false, "postgres:latest": false, "postgres:alpine": false, "localhost:5000/img": false,
		"postgres@sha256:0123": true,
	} {
		if got := pinned(image); got != want {
			t.Errorf("pinned(%q) = %v, want %v", image, got, want)
		}
	}
}

// TestComposeStructure checks services, images, healthchecks, depends_on
// conditions, volumes and ports.
func TestComposeStructure(t *testing.T) {
	c := loadCompose(t, nil)
	want := []struct {
		name        string
		healthcheck bool
		built       bool // built from the repo's Dockerfile
		volumes     []string
	}{
		{"eventstore", true, false, []string{"/var/lib/eventstore"}},
		{"postgres", true, false, []string{"/var/lib/postgresql/data"}},
		{"solana", true, false, []string{"/ledger"}},
		{"solana-init", false, false, []string{"/keys"}},
		{"central", true, true, []string{"/var/lib/cyxwiz"}},
		{"node-sim", false, true, nil},
	}
	if len(c.Services) != len(want) {
		t.Errorf("%d services, want %d", len(c.Services), len(want))
	}
	used := map[string]bool{}
	for _, w := range want {
		s, ok := c.Services[w.name]
		if !ok {
			t.Errorf("service %s is missing", w.name)
			continue
		}
		if w.built {
			if s.Build == nil || s.Image == "" || strings.HasSuffix(s.Image, ":latest") {
				t.Errorf("%s: want build from the Dockerfile and a non-latest image tag, got build %v image %q", w.name, s.Build, s.Image)
			}
		} else if !pinned(s.Image) {
			t.Errorf("%s: image %q is not pinned to a version", w.name, s.Image)
		}
		if w.healthcheck {
			h := s.Healthcheck
			if h == nil || len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") || h.Interval == "" || h.Timeout == "" || h.Retries < 1 {
				t.Errorf("%s: healthcheck %+v, want a CMD test with interval, timeout and retries", w.name, h)
			}
		}
		mounts := map[string]string{} // container path → named volume
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q has no container path", w.name, v)
				continue
			}
			src := parts[0]
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				continue // a bind mount
			}
			if _, declared := c.Volumes[src]; !declared {
				t.Errorf("%s: volume %q is not declared under volumes:", w.name, src)
			}
			used[src] = true
			mounts[parts[1]] = src
		}
		for _, p := range w.volumes {
			if mounts[p] == "" {
				t.Errorf("%s: %s is not on a named volume (mounts %v)", w.name, p, s.Volumes)
			}
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on %s, which does not exist", w.name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, but it has no healthcheck", w.name, dep)
			case d.Condition == "":
				t.Errorf("%s depends on %s without a condition", w.name, dep)
			}
		}
	}
	for v := range c.Volumes {
		if !used[v] {
			t.Errorf("volume %s is declared but not used", v)
		}
	}
	for svc, deps := range map[string]map[string]string{
		"central": {"eventstore": "service_healthy", "postgres": "service_healthy", "solana": "service_healthy",
			"solana-init": "service_completed_successfully"},
		"node-sim":    {"central": "service_healthy"},
		"solana-init": {"solana": "service_healthy"},
	} {
		for dep, cond := range deps {
			if got := c.Services[svc].DependsOn[dep].Condition; got != cond {
				t.Errorf("%s depends_on %s: condition %q, want %q", svc, dep, got, cond)
			}
		}
	}
	central := c.Services["central"]
	for _, p := range []string{"127.0.0.1:50051:50051", "127.0.0.1:8080:8080"} {
		if !slices.Contains(central.Ports, p) {
			t.Errorf("central publishes %v, want %s among them (loopback unless CYXWIZ_PUBLISH_ADDR says otherwise)", central.Ports, p)
		}
	}
	for name, svc := range c.Services {
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %s beyond loopback by default", name, p)
			}
		}
	}
	if wide := loadCompose(t, map[string]string{"CYXWIZ_PUBLISH_ADDR": "0.0.0.0"}).Services["central"].Ports; !slices.Contains(wide, "0.0.0.0:50051:50051") {
		t.Errorf("with CYXWIZ_PUBLISH_ADDR=0.0.0.0 central publishes %v", wide)
	}
	es := c.Services["eventstore"].Environment
	for k, v := range map[string]string{"EVENTSTORE_INSECURE": "true", "EVENTSTORE_CLUSTER_SIZE": "1", "EVENTSTORE_RUN_PROJECTIONS": "None"} {
		if es[k] != v {
			t.Errorf("eventstore %s = %q, want %q", k, es[k], v)
		}
	}
	if h := c.Services["postgres"].Healthcheck; h == nil || !strings.Contains(strings.Join(h.Test, " "), "pg_isready") {
		t.Errorf("postgres healthcheck %v, want pg_isready", h)
	}
	if h := c.Services["solana"].Healthcheck; h == nil || !strings.Contains(strings.Join(h.Test, " "), "getHealth") {
		t.Errorf("solana healthcheck %v, want the getHealth RPC", h)
	}
	if h := central.Healthcheck; h == nil || !slices.Contains(h.Test, "healthcheck") {
		t.Errorf("central healthcheck %v, want the server's healthcheck subcommand", h)
	}
}

// flagValue returns --name=value or --name value from args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// serverConfig loads the central service's configuration as compose
// passes it: the TOML file mounted where --config points, and the
// service's environment.
func serverConfig(t *testing.T, c composeFile) (config.Config, error) {
	t.Helper()
	central := c.Services["central"]
	target := flagValue(central.Command, "config")
	if target == "" {
		t.Fatalf("central command %v has no --config", central.Command)
	}
	host := ""
	for _, v := range central.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target && strings.HasPrefix(parts[0], ".") {
			host = filepath.Join(root, parts[0])
		}
	}
	if host == "" {
		t.Fatalf("nothing from the repository is mounted at %s (volumes %v)", target, central.Volumes)
	}
	var env []string
	for k, v := range central.Environment {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return config.Load(host, env)
}

// TestComposeServerConfigLoads loads the central service's configuration
// through adapters/config, for the default environment and for the
// overrides the compose file documents, and checks that what it names
// exists in the compose file.
func TestComposeServerConfigLoads(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     map[string]string
		backend string
		network string
	}{
		{"defaults", nil, config.BackendESDB, config.NetworkLocalnet},
		{"own secrets", map[string]string{"CYXWIZ_JWT_SECRET": strings.Repeat("s", 40), "POSTGRES_PASSWORD": "Xk9_-.~long-pw"},
			config.BackendESDB, config.NetworkLocalnet},
		{"interim: embedded store, settlement off", map[string]string{"CYXWIZ_EVENTSTORE_BACKEND": "embedded", "CYXWIZ_BLOCKCHAIN_NETWORK": "disabled"},
			config.BackendEmbedded, config.NetworkDisabled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := loadCompose(t, tt.env)
			cfg, err := serverConfig(t, c)
			if err != nil {
				t.Fatalf("the compose file's server config does not load: %v", err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if cfg.EventStore.Backend != tt.backend || cfg.Blockchain.Network != tt.network {
				t.Fatalf("backend %q network %q, want %q %q", cfg.EventStore.Backend, cfg.Blockchain.Network, tt.backend, tt.network)
			}
			checkAgainstServices(t, c, cfg)
		})
	}
}

// checkAgainstServices: every address in the server's config is a compose
// service on the port that service listens on, credentials match, the
// keypair is on a volume the init service writes, and the node simulator
// talks to the server with its secret and port offset.
func checkAgainstServices(t *testing.T, c composeFile, cfg config.Config) {
	t.Helper()
	hostPort := func(key, raw string) (string, string) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s %q: %v", key, raw, err)
		}
		return u.Hostname(), u.Port()
	}
	// EventStoreDB.
	if h, p := hostPort("eventstore.esdb_url", cfg.EventStore.ESDBURL); h != "eventstore" || p != c.Services["eventstore"].Environment["EVENTSTORE_NODE_PORT"] {
		t.Errorf("eventstore.esdb_url %q does not point at the eventstore service's port", cfg.EventStore.ESDBURL)
	}
	if !strings.Contains(cfg.EventStore.ESDBURL, "tls=false") {
		t.Errorf("eventstore.esdb_url %q: the dev node is insecure, want tls=false", cfg.EventStore.ESDBURL)
	}
	// PostgreSQL.
	u, err := url.Parse(cfg.Database.URL)
	if err != nil || cfg.Database.InMemory() {
		t.Fatalf("database.url %q: want PostgreSQL", cfg.Database.URL)
	}
	pg := c.Services["postgres"].Environment
	pw, _ := u.User.Password()
	if u.Hostname() != "postgres" || u.User.Username() != pg["POSTGRES_USER"] || pw != pg["POSTGRES_PASSWORD"] || strings.TrimPrefix(u.Path, "/") != pg["POSTGRES_DB"] {
		t.Errorf("database.url %q does not match the postgres service (%v)", cfg.Database.URL, pg)
	}
	// Solana.
	solana := c.Services["solana"]
	if h, p := hostPort("blockchain.solana_rpc_url", cfg.Blockchain.RPCEndpoint()); h != "solana" || p != flagValue(solana.Command, "rpc-port") {
		t.Errorf("blockchain.solana_rpc_url %q does not point at the solana service's --rpc-port %q", cfg.Blockchain.RPCEndpoint(), flagValue(solana.Command, "rpc-port"))
	}
	keyDir, keyFile := filepath.Split(cfg.Blockchain.PayerKeypairPath)
	volume := ""
	for _, v := range c.Services["central"].Volumes {
		if parts := strings.Split(v, ":"); len(parts) >= 2 && filepath.Clean(parts[1]) == filepath.Clean(keyDir) {
			volume = parts[0]
		}
	}
	initWrites := false
	for _, v := range c.Services["solana-init"].Volumes {
		if parts := strings.Split(v, ":"); volume != "" && parts[0] == volume {
			initWrites = strings.Contains(strings.Join(c.Services["solana-init"].Command, " "), filepath.Join(parts[1], keyFile))
		}
	}
	if !initWrites {
		t.Errorf("blockchain.payer_keypair_path %q is not on a volume solana-init writes", cfg.Blockchain.PayerKeypairPath)
	}
	// The server's listeners are the published ports.
	central := c.Services["central"]
	for key, addr := range map[string]string{"server.grpc_address": cfg.Server.GRPCAddress, "server.rest_address": cfg.Server.RESTAddress} {
		host, port, _ := net.SplitHostPort(addr)
		if host != "0.0.0.0" || !slices.ContainsFunc(central.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
			t.Errorf("%s %q: want 0.0.0.0 and a published port (ports %v)", key, addr, central.Ports)
		}
	}
	// The node simulator.
	sim := c.Services["node-sim"]
	_, grpcPort, _ := net.SplitHostPort(cfg.Server.GRPCAddress)
	if got := flagValue(sim.Command, "server"); got != "central:"+grpcPort {
		t.Errorf("node-sim --server %q, want central:%s", got, grpcPort)
	}
	if got := flagValue(sim.Command, "nodes"); got != "3" {
		t.Errorf("node-sim --nodes %q, want 3", got)
	}
	if got := flagValue(sim.Command, "advertise"); got != "node-sim" {
		t.Errorf("node-sim --advertise %q, want its service name", got)
	}
	if got := flagValue(sim.Command, "port-offset"); got != strconv.Itoa(cfg.Scheduler.NodeControlPortOffset) {
		t.Errorf("node-sim --port-offset %q, server's scheduler.node_control_port_offset %d", got, cfg.Scheduler.NodeControlPortOffset)
	}
	if sim.Environment["CYXWIZ_JWT_SECRET"] != cfg.JWT.Secret || cfg.JWT.Secret == "" {
		t.Errorf("node-sim mints its owner token with a secret other than the server's jwt.secret")
	}
}

// TestComposeServerConfigRejectsBadEnvironment: the same path fails when
// the environment is wrong, so the test above can fail.
func TestComposeServerConfigRejectsBadEnvironment(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"short secret", map[string]string{"CYXWIZ_JWT_SECRET": "short"}, "jwt.secret"},
		{"unknown backend", map[string]string{"CYXWIZ_EVENTSTORE_BACKEND": "kafka"}, "eventstore.backend"},
		{"unknown network", map[string]string{"CYXWIZ_BLOCKCHAIN_NETWORK": "testnet"}, "blockchain.network"},
		// Compose does not URL-encode: POSTGRES_PASSWORD must be URL-safe.
		{"password not URL-safe", map[string]string{"POSTGRES_PASSWORD": "p@ss:w/rd"}, "database.url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := serverConfig(t, loadCompose(t, tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// TestSolanaHealthcheckScript runs the solana service's healthcheck, as
// written in the compose file, with bash against a fake JSON-RPC endpoint.
func TestSolanaHealthcheckScript(t *testing.T) {
	bash, err := execLookPath("bash")
	if err != nil {
		t.Skip("no bash here: " + err.Error())
	}
	h := loadCompose(t, nil).Services["solana"].Healthcheck
	if h == nil || len(h.Test) != 4 || h.Test[1] != "bash" || h.Test[2] != "-c" {
		t.Fatalf("solana healthcheck %v, want [CMD bash -c SCRIPT]", h)
	}
	script := h.Test[3]
	for _, tt := range []struct {
		name   string
		answer string // "" = nothing listening
		ok     bool
	}{
		{"healthy", `{"jsonrpc":"2.0","result":"ok","id":1}`, true},
		{"behind", `{"jsonrpc":"2.0","error":{"code":-32005,"message":"Node is behind by 42 slots"},"id":1}`, false},
		{"down", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := "127.0.0.1:1"
			if tt.answer != "" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					var body bytes.Buffer
					body.ReadFrom(r.Body)
					if r.Method != http.MethodPost || !strings.Contains(body.String(), `"method":"getHealth"`) {
						http.Error(w, "want a getHealth call, got "+body.String(), http.StatusBadRequest)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprint(w, tt.answer)
				}))
				defer srv.Close()
				addr = srv.Listener.Addr().String()
			}
			host, port, _ := net.SplitHostPort(addr)
			s := strings.Replace(script, "/dev/tcp/127.0.0.1/8899", "/dev/tcp/"+host+"/"+port, 1)
			if s == script {
				t.Fatalf("the script does not probe 127.0.0.1:8899: %s", script)
			}
			err := execCommand(bash, "-c", s)
			if (err == nil) != tt.ok {
				t.Fatalf("healthcheck exit: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
)

// unitFile maps "Section.Key" to its values, in order.
type unitFile map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: bad line %q", path, line)
			}
			u[section+"."+k] = append(u[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unitFile) last(key string) string {
	if v := u[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// TestSystemdUnit checks the hardening and lifecycle settings of
// deploy/cyxwiz-central.service, and runs systemd-analyze verify on it
// when systemd-analyze is installed.
func TestSystemdUnit(t *testing.T) {
	path := filepath.Join(root, "deploy", "cyxwiz-central.service")
	u := parseUnit(t, path)
	for _, tt := range []struct{ key, want string }{
		{"Service.Type", "simple"},
		{"Service.DynamicUser", "yes"},
		{"Service.StateDirectory", "cyxwiz"},
		{"Service.NoNewPrivileges", "yes"},
		{"Service.ProtectSystem", "strict"},
		{"Service.ReadWritePaths", "/var/lib/cyxwiz"},
		{"Service.ProtectHome", "yes"},
		{"Service.PrivateTmp", "yes"},
		{"Service.Restart", "on-failure"},
		{"Service.KillSignal", "SIGTERM"},
		{"Service.CapabilityBoundingSet", ""},
		{"Install.WantedBy", "multi-user.target"},
	} {
		if got, ok := u[tt.key]; !ok || u.last(tt.key) != tt.want {
			t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
		}
	}
	execStart := strings.Fields(u.last("Service.ExecStart"))
	if len(execStart) < 4 || !filepath.IsAbs(execStart[0]) || filepath.Base(execStart[0]) != "cyxwiz-central" || execStart[1] != "serve" || execStart[2] != "--config" {
		t.Fatalf("ExecStart %q: want /…/cyxwiz-central serve --config PATH", u.last("Service.ExecStart"))
	}
	// The stop timeout leaves room for the server's default drain.
	stop, err := time.ParseDuration(strings.TrimSpace(u.last("Service.TimeoutStopSec")) + "s")
	if err != nil || stop <= config.Default().Server.ShutdownGrace() {
		t.Errorf("TimeoutStopSec %q: want more than the default shutdown grace %s", u.last("Service.TimeoutStopSec"), config.Default().Server.ShutdownGrace())
	}
	// The data dir the server writes is the one the unit makes writable.
	dataDir := ""
	for _, e := range u["Service.Environment"] {
		if v, ok := strings.CutPrefix(e, "CYXWIZ_EVENTSTORE_DATA_DIR="); ok {
			dataDir = v
		}
	}
	if dataDir != u.last("Service.ReadWritePaths") || dataDir != u.last("Service.WorkingDirectory") {
		t.Errorf("eventstore data dir %q, ReadWritePaths %q, WorkingDirectory %q: want the same", dataDir, u.last("Service.ReadWritePaths"), u.last("Service.WorkingDirectory"))
	}
	// The JWT secret is a credential, read through CYXWIZ_JWT_SECRET_FILE
	// from the credentials directory (%d); SIGHUP reloads TLS files.
	cred, credDir := "", t.TempDir()
	for _, lc := range u["Service.LoadCredential"] {
		if name, _, ok := strings.Cut(lc, ":"); ok && name == "jwt_secret" {
			cred = name
		}
	}
	secretFile := ""
	for _, e := range u["Service.Environment"] {
		if v, ok := strings.CutPrefix(e, "CYXWIZ_JWT_SECRET_FILE="); ok {
			secretFile = strings.Replace(v, "%d", credDir, 1)
		}
	}
	if cred == "" || secretFile != filepath.Join(credDir, cred) {
		t.Errorf("LoadCredential %q, Environment %q: want the JWT secret as credential jwt_secret, read from %%d/jwt_secret",
			u["Service.LoadCredential"], u["Service.Environment"])
	} else {
		secret := strings.Repeat("k", 64)
		if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(filepath.Join(root, "config.toml"), []string{"CYXWIZ_JWT_SECRET_FILE=" + secretFile})
		if err != nil || cfg.JWT.Secret != secret {
			t.Errorf("config from the credential: secret %q, %v", cfg.JWT.Secret, err)
		}
	}
	if !strings.Contains(u.last("Service.ExecReload"), "-HUP") {
		t.Errorf("ExecReload %q: want SIGHUP (reloads the TLS files)", u.last("Service.ExecReload"))
	}
	// The config it points at, with that environment, loads.
	if _, err := config.Load(filepath.Join(root, "config.toml"), []string{"CYXWIZ_EVENTSTORE_DATA_DIR=" + dataDir}); err != nil {
		t.Errorf("config.toml with the unit's environment: %v", err)
	}

	analyze, err := execLookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed; skipping `systemd-analyze verify`")
		return
	}
	// verify wants ExecStart's binary to exist: point it at this test binary.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "cyxwiz-central.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(string(data), execStart[0], self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runOutput(analyze, "verify", tmp)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score systemd computes from the hardening (0 best, 10 worst).
	out, err = runOutput(analyze, "security", "--offline=true", "--no-pager", tmp)
	if err != nil {
		t.Logf("systemd-analyze security: %v (skipped)", err)
		return
	}
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, "Overall exposure level for cyxwiz-central.service: "); ok {
			score, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil || score > 3 {
				t.Errorf("systemd-analyze security: %s; want an exposure of at most 3", rest)
			}
			t.Logf("systemd-analyze security: exposure %s", rest)
		}
	}
}

// runOutput runs a command and returns its combined output.
func runOutput(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

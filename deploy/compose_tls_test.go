package deploy_test

import (
	"crypto/x509"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/adapters/certs"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
)

// TestComposeRefusesToStartWithoutASecret: the configuration step fails,
// naming the variable, when CYXWIZ_JWT_SECRET is unset or empty, for the
// base file and the TLS variant.
func TestComposeRefusesToStartWithoutASecret(t *testing.T) {
	for _, tt := range []struct {
		name  string
		env   map[string]string
		files []string
	}{
		{"unset", nil, []string{"docker-compose.yml"}},
		{"empty", map[string]string{"CYXWIZ_JWT_SECRET": ""}, []string{"docker-compose.yml"}},
		{"unset, TLS variant", nil, []string{"docker-compose.yml", "docker-compose.tls.yml"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := composeConfig(tt.env, tt.files...)
			if err == nil || !strings.Contains(err.Error(), "CYXWIZ_JWT_SECRET") {
				t.Fatalf("compose config without a secret: %v, want an error naming CYXWIZ_JWT_SECRET", err)
			}
		})
	}
}

// volumePath maps a container path of svc to dir, when it is on the named
// volume; "" otherwise.
func volumePath(svc service, volume, dir, path string) string {
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if parts[0] != volume {
			continue
		}
		if rel, err := filepath.Rel(parts[1], path); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.Join(dir, rel)
		}
	}
	return ""
}

// TestComposeTLSVariant runs the certs service's `certs init` as written
// in docker-compose.tls.yml, then checks that the server's TLS keys load
// from the files it made, that the server certificate is valid for the
// names the nodes and the healthcheck dial, and that the simulated nodes
// hold a certificate naming their owner, valid for the host they
// advertise.
func TestComposeTLSVariant(t *testing.T) {
	c := loadCompose(t, nil, "docker-compose.tls.yml")
	gen, central, sim := c.Services["certs"], c.Services["central"], c.Services["node-sim"]
	args := gen.Command
	if len(args) < 3 || args[0] != "certs" || args[1] != "init" || !slices.Equal(gen.Entrypoint, []string{"/cyxwiz-central"}) {
		t.Fatalf("certs service runs %v %v, want /cyxwiz-central certs init DIR", gen.Entrypoint, args)
	}
	if central.DependsOn["certs"].Condition != "service_completed_successfully" {
		t.Errorf("central does not wait for the certs service: %v", central.DependsOn)
	}
	volume := strings.Split(gen.Volumes[0], ":")[0]
	dir := t.TempDir()
	split := func(s string) []string { return strings.Split(s, ",") }
	if volumePath(gen, volume, dir, args[2]) != dir {
		t.Fatalf("certs init writes %s, which is not the %s volume's root", args[2], volume)
	}
	if _, err := certs.Init(dir, certs.InitOptions{Hosts: split(flagValue(args, "host")), Nodes: split(flagValue(args, "node")),
		NodeHosts: split(flagValue(args, "node-host"))}); err != nil {
		t.Fatal(err)
	}

	cfg, err := serverConfig(t, c)
	if err != nil {
		t.Fatalf("the TLS variant's server config does not load: %v", err)
	}
	s := cfg.Server
	if s.TLSCertFile == "" || s.TLSClientCAFile == "" || s.TLSNodeCAFile == "" {
		t.Fatalf("server TLS keys %+v: want TLS, mutual TLS and the push over TLS", s)
	}
	local := func(path string) string {
		t.Helper()
		p := volumePath(central, volume, dir, path)
		if p == "" {
			t.Fatalf("%s is not on the %s volume in central", path, volume)
		}
		return p
	}
	reloader, err := tlsconf.NewReloader(tlsconf.Files{Cert: local(s.TLSCertFile), Key: local(s.TLSKeyFile), ClientCA: local(s.TLSClientCAFile)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := tlsconf.LoadPool(local(s.TLSNodeCAFile))
	if err != nil {
		t.Fatal(err)
	}
	healthAddr := flagValue(central.Healthcheck.Test, "addr")
	if flagValue(central.Healthcheck.Test, "ca") != s.TLSClientCAFile {
		t.Errorf("central's healthcheck %v does not verify with the CA", central.Healthcheck.Test)
	}
	for _, addr := range []string{flagValue(sim.Command, "server"), healthAddr} {
		host := strings.Split(addr, ":")[0]
		if _, err := reloader.Leaf().Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("the server certificate does not serve %s: %v", addr, err)
		}
	}

	files := tlsconf.ClientFiles{CA: flagValue(sim.Command, "ca"), Cert: flagValue(sim.Command, "cert"), Key: flagValue(sim.Command, "key")}
	for _, p := range []*string{&files.CA, &files.Cert, &files.Key} {
		if *p = volumePath(sim, volume, dir, *p); *p == "" {
			t.Fatalf("node-sim's --ca/--cert/--key %v are not on the %s volume", sim.Command, volume)
		}
	}
	control, err := files.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	leaf := control.Certificates[0].Leaf
	if owner := flagValue(sim.Command, "sub"); leaf.Subject.CommonName != owner {
		t.Errorf("node certificate CN %q, want the nodes' owner %q", leaf.Subject.CommonName, owner)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: flagValue(sim.Command, "advertise"),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the node certificate does not serve the advertised host for the push: %v", err)
	}
	checkAgainstServices(t, c, cfg)
}

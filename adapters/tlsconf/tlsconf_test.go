package tlsconf_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/certs"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
)

// pki makes a development PKI in a temporary directory.
func pki(t *testing.T, nodes ...string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.InitOptions{Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rotate signs a new server certificate with dir's CA over the old files.
func rotate(t *testing.T, dir string) *certs.Leaf {
	t.Helper()
	ca, err := certs.LoadCA(filepath.Join(dir, certs.CAFile), filepath.Join(dir, certs.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Sign(certs.LeafOptions{CommonName: "rotated", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.WriteFiles(filepath.Join(dir, certs.ServerFile), filepath.Join(dir, certs.ServerKey)); err != nil {
		t.Fatal(err)
	}
	return leaf
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newReloader(t *testing.T, dir string) *tlsconf.Reloader {
	t.Helper()
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: filepath.Join(dir, certs.ServerFile), Key: filepath.Join(dir, certs.ServerKey)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReloadOnChangeAndOnSIGHUP(t *testing.T) {
	for _, tt := range []struct {
		name     string
		interval time.Duration
		signal   bool
	}{
		{"file change", 20 * time.Millisecond, false},
		{"SIGHUP", time.Hour, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := pki(t)
			r := newReloader(t, dir)
			ctx, cancel := context.WithCancel(context.Background())
			done := r.Watch(ctx, tt.interval)
			defer func() { cancel(); <-done }()
			if r.Leaf().Subject.CommonName != "cyxwiz-central" {
				t.Fatalf("initial subject %s", r.Leaf().Subject)
			}
			leaf := rotate(t, dir)
			if tt.signal {
				if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the rotated certificate", func() bool { return r.Leaf().SerialNumber.Cmp(leaf.Cert.SerialNumber) == 0 })
		})
	}
}

func TestReloadErrorKeepsTheCertificate(t *testing.T) {
	dir := pki(t)
	r := newReloader(t, dir)
	before := r.Leaf().SerialNumber
	if err := os.WriteFile(filepath.Join(dir, certs.ServerFile), []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.Reload()
	if err == nil || !strings.Contains(err.Error(), "server.tls_cert_file") {
		t.Fatalf("Reload of a broken file: %v, want an error naming server.tls_cert_file", err)
	}
	if r.Leaf().SerialNumber.Cmp(before) != 0 {
		t.Fatal("a failed reload replaced the certificate")
	}
	cfg, err := r.ServerConfig("h2").GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil || len(cfg.Certificates) != 1 || cfg.MinVersion != tls.VersionTLS12 || cfg.NextProtos[0] != "h2" {
		t.Fatalf("per-handshake config %+v, %v", cfg, err)
	}
}

func TestClientFiles(t *testing.T) {
	dir := pki(t, "alice")
	at := func(n string) string { return filepath.Join(dir, n) }
	cert, key := certs.NodeFiles("alice")
	for _, tt := range []struct {
		name    string
		files   tlsconf.ClientFiles
		wantNil bool
		wantErr string
	}{
		{"none: plaintext", tlsconf.ClientFiles{}, true, ""},
		{"CA only", tlsconf.ClientFiles{CA: at(certs.CAFile)}, false, ""},
		{"CA and certificate", tlsconf.ClientFiles{CA: at(certs.CAFile), Cert: at(cert), Key: at(key)}, false, ""},
		{"certificate without key", tlsconf.ClientFiles{Cert: at(cert)}, false, "--cert and --key go together"},
		{"missing CA", tlsconf.ClientFiles{CA: at("nope.crt")}, false, "--ca"},
		{"CA not a certificate", tlsconf.ClientFiles{CA: at(key)}, false, "holds no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.files.Config()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || (c == nil) != tt.wantNil {
				t.Fatalf("config %v, err %v", c, err)
			}
		})
	}
}

func TestNodeOwnerNeedsAVerifiedChain(t *testing.T) {
	if _, ok := tlsconf.NodeOwner(tls.ConnectionState{}); ok {
		t.Fatal("a connection without a verified chain has an owner")
	}
}

// TestWatchRecoversFromABrokenFile: a broken certificate is logged and
// the previous one served; the fixed files are then picked up.
func TestWatchRecoversFromABrokenFile(t *testing.T) {
	dir := pki(t)
	logs := logbuf.New(0)
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: filepath.Join(dir, certs.ServerFile), Key: filepath.Join(dir, certs.ServerKey)},
		slog.New(logs.Handler(slog.LevelInfo)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := r.Watch(ctx, 20*time.Millisecond)
	defer func() { cancel(); <-done }()
	before := r.Leaf().SerialNumber
	if err := os.WriteFile(filepath.Join(dir, certs.ServerFile), []byte("half a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed reload logged", func() bool {
		lines := logs.Lines(slog.LevelError, 0)
		return len(lines) > 0 && strings.Contains(lines[0].Text, "TLS reload failed")
	})
	if r.Leaf().SerialNumber.Cmp(before) != 0 {
		t.Fatal("a broken file replaced the certificate")
	}
	leaf := rotate(t, dir)
	waitFor(t, "the fixed files loaded", func() bool { return r.Leaf().SerialNumber.Cmp(leaf.Cert.SerialNumber) == 0 })
}

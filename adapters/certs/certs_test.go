package certs_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/certs"
)

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	written, err := certs.Init(dir, certs.InitOptions{Hosts: []string{"central.example", "10.0.0.1"}, Nodes: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 6 {
		t.Fatalf("wrote %v, want CA, server and one node (6 files)", written)
	}
	ca, err := certs.LoadCA(filepath.Join(dir, certs.CAFile), filepath.Join(dir, certs.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	load := func(name string) *x509.Certificate {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			t.Fatalf("%s is not a PEM certificate", name)
		}
		l, err := x509.ParseCertificate(pemBytes(t, data))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	server := load(certs.ServerFile)
	for _, host := range []string{"central.example", "10.0.0.1"} {
		if _, err := server.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	nodeCert, nodeKey := certs.NodeFiles("alice")
	node := load(nodeCert)
	if node.Subject.CommonName != "alice" {
		t.Errorf("node certificate CN %q, want the owner alice", node.Subject.CommonName)
	}
	if _, err := node.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("node certificate as a client: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, nodeKey)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("node key mode %v, %v; want 0600", st.Mode(), err)
	}

	// Again: the CA, the server's and alice's certificates stay, bob's is added.
	written, err = certs.Init(dir, certs.InitOptions{Nodes: []string{"bob"}})
	if err != nil || len(written) != 2 {
		t.Fatalf("second run wrote %v, %v; want bob's two files", written, err)
	}
	if again := load(certs.ServerFile); again.SerialNumber.Cmp(server.SerialNumber) != 0 {
		t.Error("a second run replaced the server certificate")
	}
	if written, err := certs.Init(dir, certs.InitOptions{Nodes: []string{"alice"}}); err != nil || len(written) != 0 {
		t.Errorf("a third run wrote %v, %v; want nothing", written, err)
	}
	if again := load(nodeCert); again.SerialNumber.Cmp(node.SerialNumber) != 0 {
		t.Error("a run replaced alice's certificate")
	}
	if _, err := certs.Init(dir, certs.InitOptions{Nodes: []string{"../x"}}); err == nil {
		t.Error("an owner with a path separator was accepted")
	}
}

func TestSignValidity(t *testing.T) {
	ca, err := certs.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	leaf, err := ca.Sign(certs.LeafOptions{CommonName: "old", NotBefore: past, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Cert.NotAfter.Before(time.Now()) {
		t.Fatalf("NotAfter %s, want in the past", leaf.Cert.NotAfter)
	}
}

func pemBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("not PEM")
	}
	return b.Bytes
}

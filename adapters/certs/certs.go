// Package certs makes a development public key infrastructure with the
// standard library alone: a CA, a server certificate for given host names,
// and node certificates that name their owner (see NodeIdentity in
// adapters/tlsconf for the convention). It is for trying TLS and mutual
// TLS in minutes, and for tests; production certificates come from the
// operator's own CA.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names Init writes into its directory.
const (
	CAFile     = "ca.crt"
	CAKeyFile  = "ca.key"
	ServerFile = "server.crt"
	ServerKey  = "server.key"
)

// NodeFiles are the certificate and key file names of owner's node
// certificate: node-<owner>.crt and node-<owner>.key.
func NodeFiles(owner string) (cert, key string) {
	return "node-" + owner + ".crt", "node-" + owner + ".key"
}

// CA is a certificate authority that can sign leaf certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Leaf is a signed certificate and its private key.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a self-signed CA valid from now for validity.
func NewCA(name string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl, err := template(name, time.Now().Add(-time.Minute), validity)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	cert, err := create(tmpl, tmpl, key, key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LeafOptions describe a certificate the CA signs.
type LeafOptions struct {
	// CommonName is the subject's CN: a node certificate's owner.
	CommonName string
	// Hosts are DNS names and IP addresses the certificate is valid for as
	// a server (a node's control port serves with its node certificate).
	Hosts []string
	// NotBefore defaults to a minute ago; Validity to a year.
	NotBefore time.Time
	Validity  time.Duration
}

// Sign makes a leaf certificate valid for both server and client
// authentication: the server presents its certificate to nodes when it
// pushes assignments, and nodes serve their control port with theirs.
func (ca *CA) Sign(o LeafOptions) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Minute)
	}
	if o.Validity <= 0 {
		o.Validity = 365 * 24 * time.Hour
	}
	tmpl, err := template(o.CommonName, o.NotBefore, o.Validity)
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	cert, err := create(tmpl, ca.Cert, key, ca.Key)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key}, nil
}

// create signs tmpl for key's public half with parent's signer.
func create(tmpl, parent *x509.Certificate, key, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func template(cn string, notBefore time.Time, validity time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"CyxWiz development"}},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(validity),
	}, nil
}

// WriteFiles writes the leaf's certificate (PEM, 0644) and key (PKCS#8
// PEM, 0600) to certPath and keyPath.
func (l *Leaf) WriteFiles(certPath, keyPath string) error {
	return writePair(l.Cert, l.Key, certPath, keyPath)
}

// WriteFiles writes the CA's certificate and key.
func (ca *CA) WriteFiles(certPath, keyPath string) error {
	return writePair(ca.Cert, ca.Key, certPath, keyPath)
}

func writePair(cert *x509.Certificate, key crypto.Signer, certPath, keyPath string) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key first: a watcher that sees the new certificate finds its key.
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

// writeAtomic replaces path by renaming a temporary file over it, so a
// reader never sees half a file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadCA reads a CA certificate and key written by WriteFiles.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s or %s is not PEM", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", keyPath)
	}
	return &CA{Cert: cert, Key: signer}, nil
}

// InitOptions describe the files Init makes.
type InitOptions struct {
	// Hosts the server certificate is valid for (default localhost,
	// 127.0.0.1, ::1).
	Hosts []string
	// Nodes are owners (the `sub` of their user tokens) to make a node
	// certificate for, each valid for NodeHosts.
	Nodes []string
	// NodeHosts the node certificates serve their control port as
	// (default localhost, 127.0.0.1, ::1).
	NodeHosts []string
	// Validity of every certificate (default a year).
	Validity time.Duration
}

// Init makes dir (0700) and writes a CA, a server certificate and node
// certificates into it, and returns the files it wrote. It keeps what is
// already there (the CA signs the new certificates), so it can run again
// to add nodes, or as a one-shot service at every start.
func Init(dir string, o InitOptions) ([]string, error) {
	local := []string{"localhost", "127.0.0.1", "::1"}
	if len(o.Hosts) == 0 {
		o.Hosts = local
	}
	if len(o.NodeHosts) == 0 {
		o.NodeHosts = local
	}
	if o.Validity <= 0 {
		o.Validity = 365 * 24 * time.Hour
	}
	for _, n := range o.Nodes {
		if n == "" || strings.ContainsAny(n, `/\`) || strings.HasPrefix(n, ".") {
			return nil, fmt.Errorf("node owner %q: want a user id usable in a file name", n)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var written []string
	at := func(name string) string { return filepath.Join(dir, name) }
	ca, err := LoadCA(at(CAFile), at(CAKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		if ca, err = NewCA("CyxWiz development CA", 5*o.Validity); err == nil {
			err = ca.WriteFiles(at(CAFile), at(CAKeyFile))
			written = append(written, at(CAFile), at(CAKeyFile))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("CA in %s: %w", dir, err)
	}
	type leaf struct {
		cert, key string
		opts      LeafOptions
	}
	leaves := []leaf{{ServerFile, ServerKey, LeafOptions{CommonName: "cyxwiz-central", Hosts: o.Hosts, Validity: o.Validity}}}
	for _, n := range o.Nodes {
		c, k := NodeFiles(n)
		leaves = append(leaves, leaf{c, k, LeafOptions{CommonName: n, Hosts: o.NodeHosts, Validity: o.Validity}})
	}
	for _, l := range leaves {
		if _, err := os.Stat(at(l.cert)); err == nil {
			continue // kept: remove a file to make it anew
		}
		s, err := ca.Sign(l.opts)
		if err == nil {
			err = s.WriteFiles(at(l.cert), at(l.key))
		}
		if err != nil {
			return written, fmt.Errorf("%s: %w", l.cert, err)
		}
		written = append(written, at(l.cert), at(l.key))
	}
	return written, nil
}

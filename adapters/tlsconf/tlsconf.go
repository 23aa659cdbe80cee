// Package tlsconf builds the TLS configurations of the server and its
// clients from PEM files: a server certificate reloaded without a restart
// (Reloader), optional client certificates from nodes (mutual TLS), and
// the --ca/--cert/--key flags of the command-line clients (ClientFiles).
//
// Node identity under mutual TLS: a node's client certificate names its
// owner, the `sub` of the user token that registered it, as its subject
// Common Name, and is signed by server.tls_client_ca_file. A certificate is
// the owner's credential, as the owner's user token is: it may act for
// any node of that owner and for no other (NodeOwner).
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Files names the PEM files of a server's TLS setup.
type Files struct {
	Cert, Key string
	// ClientCA, when set, makes client certificates verifiable: a
	// connection that presents one must chain to it. Which calls require
	// one is the server's decision (node calls, under mutual TLS).
	ClientCA string
}

// Reloader serves the current certificate and client CA to every new
// handshake; Reload swaps them atomically, so connections already open
// keep theirs and new ones get the new files.
type Reloader struct {
	files Files
	log   *slog.Logger
	state atomic.Pointer[loaded]
}

type loaded struct {
	cert  *tls.Certificate // Leaf parsed
	pool  *x509.CertPool
	stamp string // the files' sizes and modification times
}

// NewReloader loads the files; an error names the file at fault.
func NewReloader(f Files, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{files: f, log: log}
	l, err := r.load()
	if err != nil {
		return nil, err
	}
	r.state.Store(l)
	return r, nil
}

func (r *Reloader) load() (*loaded, error) {
	stamp := r.stamp()
	cert, err := loadPair(r.files.Cert, r.files.Key)
	if err != nil {
		return nil, fmt.Errorf("server.tls_cert_file %s / tls_key_file %s: %w", r.files.Cert, r.files.Key, err)
	}
	l := &loaded{cert: &cert, stamp: stamp}
	if r.files.ClientCA != "" {
		if l.pool, err = LoadPool(r.files.ClientCA); err != nil {
			return nil, fmt.Errorf("server.tls_client_ca_file: %w", err)
		}
	}
	return l, nil
}

// loadPair loads a certificate and its key, with the leaf parsed (also
// under GODEBUG=x509keypairleaf=0).
func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil && cert.Leaf == nil {
		cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0])
	}
	return cert, err
}

// stamp identifies the files' current contents cheaply.
func (r *Reloader) stamp() string {
	s := ""
	for _, p := range []string{r.files.Cert, r.files.Key, r.files.ClientCA} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
		}
	}
	return s
}

// Reload reads the files again. On an error the previous certificate stays
// in use.
func (r *Reloader) Reload() error {
	l, err := r.load()
	if err != nil {
		return err
	}
	r.state.Store(l)
	r.log.Info("TLS certificate loaded", "cert", r.files.Cert, "subject", l.cert.Leaf.Subject.String(),
		"expires", l.cert.Leaf.NotAfter.Format(time.RFC3339))
	return nil
}

// Leaf is the certificate new handshakes are served.
func (r *Reloader) Leaf() *x509.Certificate { return r.state.Load().cert.Leaf }

// MutualTLS reports whether a client CA is configured.
func (r *Reloader) MutualTLS() bool { return r.files.ClientCA != "" }

// Watch reloads when the files change (checked every interval) or the
// process gets SIGHUP, until ctx ends; the returned channel closes then.
// SIGHUP is caught from the moment Watch returns. Errors are logged; the
// previous certificate stays in use.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) <-chan struct{} {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(hup)
		t := time.NewTicker(interval)
		defer t.Stop()
		failed := "" // the stamp of files that did not load: logged once
		for {
			st := ""
			select {
			case <-ctx.Done():
				return
			case <-hup:
				st = r.stamp()
			case <-t.C:
				if st = r.stamp(); st == r.state.Load().stamp || st == failed {
					continue
				}
			}
			// Taken before the files are read: a write that lands during
			// the reload changes the stamp, and the next tick retries.
			if err := r.Reload(); err != nil {
				failed = st
				r.log.Error("TLS reload failed; serving the previous certificate", "err", err)
			}
		}
	}()
	return done
}

// ServerConfig is a TLS 1.2+ server configuration that picks up reloads;
// protos are the ALPN protocols ("h2" for gRPC).
func (r *Reloader) ServerConfig(protos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			l := r.state.Load()
			c := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: protos, Certificates: []tls.Certificate{*l.cert}}
			if l.pool != nil {
				c.ClientAuth, c.ClientCAs = tls.VerifyClientCertIfGiven, l.pool
			}
			return c, nil
		},
	}
}

// ClientCertificate presents the current certificate as a client
// certificate (the server's, when it pushes assignments to nodes).
func (r *Reloader) ClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.state.Load().cert, nil
}

// NodeOwner is the owner a verified client certificate names (its subject
// Common Name); false when the connection presented none or it did not
// verify against the client CA.
func NodeOwner(s tls.ConnectionState) (string, bool) {
	if len(s.VerifiedChains) == 0 || len(s.VerifiedChains[0]) == 0 {
		return "", false
	}
	cn := s.VerifiedChains[0][0].Subject.CommonName
	return cn, cn != ""
}

// LoadPool reads a PEM bundle of CA certificates.
func LoadPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// ClientFiles are a client's TLS files: the CA to verify the server with
// (empty: the system's roots) and an optional client certificate.
type ClientFiles struct {
	CA, Cert, Key string
}

// Enabled reports whether any file is set: the client then speaks TLS.
func (f ClientFiles) Enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// Config is the client's TLS 1.2+ configuration, or nil when no file is
// set (plaintext).
func (f ClientFiles) Config() (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := LoadPool(f.CA)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		c.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if f.Cert != "" {
		cert, err := loadPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ServerConfig serves Cert/Key (TLS 1.2+) and, with CA set, requires
// client certificates that chain to it: a node's control port, which only
// the central server should call.
func (f ClientFiles) ServerConfig() (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("serving TLS needs --cert and --key")
	}
	cert, err := loadPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("--cert/--key: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if f.CA != "" {
		if c.ClientCAs, err = LoadPool(f.CA); err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// Register adds --ca, --cert and --key to fs.
func (f *ClientFiles) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.CA, "ca", "", "TLS: CA certificate (PEM) to verify the server with; any of --ca/--cert/--key turns TLS on")
	fs.StringVar(&f.Cert, "cert", "", "TLS: client certificate (PEM), e.g. a node's under mutual TLS")
	fs.StringVar(&f.Key, "key", "", "TLS: the client certificate's key (PEM)")
}

// DialOption is the gRPC transport for the files: TLS, or plaintext when
// none is set.
func (f ClientFiles) DialOption() (grpc.DialOption, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(Credentials(c)), nil
}

// Credentials are gRPC's transport credentials for c: TLS, or plaintext
// when c is nil.
func Credentials(c *tls.Config) credentials.TransportCredentials {
	if c == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(c)
}

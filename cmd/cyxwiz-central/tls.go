package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/cyxwiz/central-server/adapters/tlsconf"
)

// startTLS loads server.tls_* and watches the files, when TLS is on.
func (a *App) startTLS() error {
	s := a.cfg.Server
	if !s.TLS() {
		return nil
	}
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: s.TLSCertFile, Key: s.TLSKeyFile, ClientCA: s.TLSClientCAFile},
		a.log.With("component", "tls"))
	if err != nil {
		return err
	}
	a.tls = r
	interval := a.set.TLSReloadInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stopTLS = cancel
	done := r.Watch(ctx, interval)
	a.goRun(func() error { <-done; return nil })
	if s.TLSNodeCAFile == "" {
		a.log.Warn("TLS is on but server.tls_node_ca_file is empty: assignments, with their P2P tokens, are pushed to nodes in plaintext")
	}
	a.log.Info("TLS on", "cert", s.TLSCertFile, "subject", r.Leaf().Subject.String(), "expires", r.Leaf().NotAfter.Format(time.RFC3339),
		"mutual_tls_for_nodes", r.MutualTLS(), "push_over_tls", s.TLSNodeCAFile != "")
	return nil
}

// serverTLS is the listeners' TLS configuration for ALPN protos; nil in
// plaintext.
func (a *App) serverTLS(protos ...string) *tls.Config {
	if a.tls == nil {
		return nil
	}
	return a.tls.ServerConfig(protos...)
}

// nodeTLS is the push's TLS configuration (server.tls_node_ca_file); nil
// in plaintext.
func (a *App) nodeTLS() (*tls.Config, error) {
	path := a.cfg.Server.TLSNodeCAFile
	if path == "" || a.tls == nil {
		return nil, nil
	}
	pool, err := tlsconf.LoadPool(path)
	if err != nil {
		return nil, fmt.Errorf("server.tls_node_ca_file: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, GetClientCertificate: a.tls.ClientCertificate}, nil
}

// warnPlaintext warns when a plaintext listener is reachable from other
// machines: tokens would cross the network in clear text.
func (a *App) warnPlaintext(what string, addr net.Addr) {
	if a.tls != nil {
		return
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return
	}
	a.log.Warn(what+" is plaintext on a non-loopback address: bearer and node tokens cross the network in clear text; "+
		"set server.tls_cert_file and server.tls_key_file (README \"TLS\"), or bind 127.0.0.1", "address", addr.String())
}

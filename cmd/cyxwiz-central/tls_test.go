package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/certs"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/nodesim"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	"github.com/cyxwiz/central-server/domain"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// pki is a directory of development certificates made by `certs init`.
type pki string

func newPKI(t *testing.T, nodes ...string) pki {
	t.Helper()
	dir := t.TempDir()
	if err := run([]string{"certs", "init", dir, "--node", strings.Join(nodes, ",")}, io.Discard, io.Discard); err != 0 {
		t.Fatalf("certs init exited %d", err)
	}
	return pki(dir)
}

func (p pki) at(name string) string { return filepath.Join(string(p), name) }

// files are a client's: the CA, and owner's node certificate unless owner is "".
func (p pki) files(owner string) tlsconf.ClientFiles {
	f := tlsconf.ClientFiles{CA: p.at(certs.CAFile)}
	if owner != "" {
		cert, key := certs.NodeFiles(owner)
		f.Cert, f.Key = p.at(cert), p.at(key)
	}
	return f
}

// sign writes a certificate from p's CA for owner under name.
func (p pki) sign(t *testing.T, name string, o certs.LeafOptions) tlsconf.ClientFiles {
	t.Helper()
	ca, err := certs.LoadCA(p.at(certs.CAFile), p.at(certs.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Sign(o)
	if err == nil {
		err = leaf.WriteFiles(p.at(name+".crt"), p.at(name+".key"))
	}
	if err != nil {
		t.Fatal(err)
	}
	return tlsconf.ClientFiles{CA: p.at(certs.CAFile), Cert: p.at(name + ".crt"), Key: p.at(name + ".key")}
}

// tlsServer starts a server with p's server certificate; mutual adds
// p's CA as the client CA and as the nodes' CA.
func tlsServer(t *testing.T, p pki, mutual bool, tweak ...func(*config.Config)) *testServer {
	t.Helper()
	return startServer(t, t.TempDir(), Settings{TLSReloadInterval: 20 * time.Millisecond}, append([]func(*config.Config){func(c *config.Config) {
		c.Server.TLSCertFile, c.Server.TLSKeyFile = p.at(certs.ServerFile), p.at(certs.ServerKey)
		c.Server.TLSNodeCAFile = p.at(certs.CAFile)
		if mutual {
			c.Server.TLSClientCAFile = p.at(certs.CAFile)
		}
	}}, tweak...)...)
}

func dialTLS(t *testing.T, addr string, f tlsconf.ClientFiles) *grpc.ClientConn {
	t.Helper()
	transport, err := f.DialOption()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, transport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// startTLSNode starts a simulated node that dials the server with client
// and serves AssignJob with control's certificate (requiring the caller's
// from control's CA).
func startTLSNode(t *testing.T, s *testServer, client, control tlsconf.ClientFiles, ownerToken string) *nodesim.Node {
	t.Helper()
	clientTLS, err := client.Config()
	if err != nil {
		t.Fatal(err)
	}
	controlTLS, err := control.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	node, err := nodesim.New(nodesim.Config{ServerAddr: s.app.GRPCAddr(), TLS: clientTLS, ControlTLS: controlTLS,
		OwnerToken: ownerToken, HeartbeatInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	return node
}

// TestTLSClientsVerifyTheServer: the right CA works over gRPC
// (healthcheck) and REST (the console's client); a wrong CA or a plaintext
// client fails with an error that says why.
func TestTLSClientsVerifyTheServer(t *testing.T) {
	p, other := newPKI(t), newPKI(t)
	s := tlsServer(t, p, false)
	for _, tt := range []struct {
		name    string
		files   tlsconf.ClientFiles
		wantErr string
	}{
		{"right CA", p.files(""), ""},
		{"wrong CA", other.files(""), "certificate signed by unknown authority"},
		{"plaintext client", tlsconf.ClientFiles{}, "healthcheck"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--addr", s.app.GRPCAddr(), "--timeout", "10s"}
			if tt.files.CA != "" {
				args = append(args, "--ca", tt.files.CA)
			}
			err := healthcheckCmd(args, io.Discard, io.Discard)
			checkErr(t, "gRPC", err, tt.wantErr)
			if tt.files.CA == "" {
				return
			}
			client, err := httpClient("https://"+s.app.RESTAddr(), tt.files)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Get("https://" + s.app.RESTAddr() + "/api/health")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("REST /api/health: %s", resp.Status)
				}
			}
			checkErr(t, "REST", err, tt.wantErr)
		})
	}
	if _, err := httpClient("http://"+s.app.RESTAddr(), p.files("")); err == nil {
		t.Error("--ca with an http:// --api was accepted")
	}
}

func checkErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("%s: %v", what, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("%s: err %v, want one containing %q", what, err, want)
	}
}

// TestMutualTLSNodes: with a client CA, node calls need a certificate from
// it naming the node's owner. No certificate, another owner's and an
// expired one are refused; the right one runs the whole lifecycle, the
// assignment pushed over TLS to the node's control port, which requires
// the server's client certificate.
func TestMutualTLSNodes(t *testing.T) {
	p := newPKI(t, "alice", "bob")
	s := tlsServer(t, p, true)
	expired := p.sign(t, "expired-alice", certs.LeafOptions{CommonName: "alice", NotBefore: time.Now().Add(-48 * time.Hour), Validity: time.Hour})
	aliceToken := s.userToken("alice")
	register := func(f tlsconf.ClientFiles) error {
		ctx, cancel := context.WithTimeout(as(aliceToken), 10*time.Second)
		defer cancel()
		_, err := pb.NewNodeServiceClient(dialTLS(t, s.app.GRPCAddr(), f)).RegisterNode(ctx,
			&pb.RegisterNodeRequest{Info: nodeInfo("n", 7000, pb.DeviceType_DEVICE_CUDA, 24<<30)})
		return err
	}
	for _, tt := range []struct {
		name     string
		files    tlsconf.ClientFiles
		code     codes.Code
		contains string
	}{
		{"no certificate", p.files(""), codes.Unauthenticated, "mutual TLS is on"},
		{"another owner's certificate", p.files("bob"), codes.PermissionDenied, `names owner "bob"`},
		// The handshake fails; what the client reads first (the alert or
		// a broken pipe) varies, the code does not.
		{"expired certificate", expired, codes.Unavailable, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := register(tt.files)
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("RegisterNode: %v, want %s containing %q", err, tt.code, tt.contains)
			}
		})
	}

	node := startTLSNode(t, s, p.files("alice"), p.files("alice"), aliceToken)

	// The node's own session token does not help a connection without its
	// owner's certificate.
	for _, tt := range []struct {
		name  string
		files tlsconf.ClientFiles
		code  codes.Code
	}{
		{"no certificate", p.files(""), codes.Unauthenticated},
		{"another owner's certificate", p.files("bob"), codes.PermissionDenied},
	} {
		_, err := pb.NewNodeServiceClient(dialTLS(t, s.app.GRPCAddr(), tt.files)).Heartbeat(as(node.SessionToken()),
			&pb.HeartbeatRequest{NodeId: node.ID()})
		if status.Code(err) != tt.code {
			t.Fatalf("Heartbeat with %s: %v, want %s", tt.name, err, tt.code)
		}
	}

	// A user needs no client certificate.
	carol := s.userToken("carol")
	jobs := pb.NewJobServiceClient(dialTLS(t, s.app.GRPCAddr(), p.files("")))
	resp, err := jobs.SubmitJob(as(carol), &pb.SubmitJobRequest{Config: trainingJob()})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the job completed on the mutual-TLS node", func() bool {
		st, err := jobs.GetJobStatus(as(carol), &pb.GetJobStatusRequest{JobId: resp.GetJobId()})
		return err == nil && st.GetStatus().GetStatus() == pb.StatusCode_STATUS_COMPLETED
	})
	eventually(t, 10*time.Second, "the node's count of the pushed job", func() bool {
		st := node.Stats()
		return st.Accepted == 1 && st.Completed == 1
	})
}

// TestPushToUnverifiedNodeIsRequeued: a node whose control-port certificate
// does not chain to server.tls_node_ca_file gets no job; the rejection
// says why and the job goes back to the queue.
func TestPushToUnverifiedNodeIsRequeued(t *testing.T) {
	p, other := newPKI(t), newPKI(t, "alice")
	s := tlsServer(t, p, false, func(c *config.Config) { c.Scheduler.MaxRetries = 1 })
	node := startTLSNode(t, s, p.files(""), other.files("alice"), s.userToken("alice"))
	carol := s.userToken("carol")
	resp, err := pb.NewJobServiceClient(dialTLS(t, s.app.GRPCAddr(), p.files(""))).SubmitJob(as(carol), &pb.SubmitJobRequest{Config: trainingJob()})
	if err != nil {
		t.Fatal(err)
	}
	var reason string
	eventually(t, 30*time.Second, "the job rejected and requeued", func() bool {
		recs, err := s.app.store.ReadStream(context.Background(), domain.JobStream(resp.GetJobId()), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		requeued := false
		for _, r := range recs {
			switch r.Type {
			case "JobRejected":
				reason = string(r.Data)
			case "JobRequeued":
				requeued = true
			}
		}
		return requeued && reason != ""
	})
	for _, want := range []string{"TLS to node " + node.ID(), "server.tls_node_ca_file", "unknown authority"} {
		if !strings.Contains(reason, want) {
			t.Errorf("rejection %s does not say %q", reason, want)
		}
	}
	if st := node.Stats(); st.Assigned != 0 {
		t.Errorf("the unverified node received %d assignments", st.Assigned)
	}
}

// TestCertificateRotation: a new certificate is served to new connections
// (gRPC and REST) while a stream opened before the rotation keeps going.
func TestCertificateRotation(t *testing.T) {
	p := newPKI(t)
	s := tlsServer(t, p, false)
	carol := s.userToken("carol")
	conn := dialTLS(t, s.app.GRPCAddr(), p.files(""))
	jobs := pb.NewJobServiceClient(conn)
	resp, err := jobs.SubmitJob(as(carol), &pb.SubmitJobRequest{Config: trainingJob()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(as(carol), 60*time.Second)
	defer cancel()
	stream, err := jobs.StreamJobUpdates(ctx, &pb.GetJobStatusRequest{JobId: resp.GetJobId()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first update: %v", err)
	}

	rotated := p.sign(t, "server", certs.LeafOptions{CommonName: "rotated", Hosts: []string{"127.0.0.1"}})
	if rotated.Cert != p.at(certs.ServerFile) {
		t.Fatalf("rotation wrote %s, not the server's file", rotated.Cert)
	}
	cfg, err := p.files("").Config()
	if err != nil {
		t.Fatal(err)
	}
	served := func(addr string, protos ...string) string {
		c := cfg.Clone()
		c.NextProtos = protos
		conn, err := tls.Dial("tcp", addr, c)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	eventually(t, 15*time.Second, "the rotated certificate on new gRPC connections", func() bool {
		return served(s.app.GRPCAddr(), "h2") == "rotated"
	})
	if cn := served(s.app.RESTAddr(), "http/1.1"); cn != "rotated" {
		t.Fatalf("REST serves %q after the rotation", cn)
	}

	// The stream opened under the old certificate still delivers.
	if _, err := jobs.CancelJob(as(carol), &pb.CancelJobRequest{JobId: resp.GetJobId()}); err != nil {
		t.Fatal(err)
	}
	for {
		u, err := stream.Recv()
		if err != nil {
			t.Fatalf("the stream opened before the rotation broke: %v", err)
		}
		if u.GetStatus().GetStatus() == pb.StatusCode_STATUS_CANCELLED {
			break
		}
	}
	if _, err := pb.NewJobServiceClient(dialTLS(t, s.app.GRPCAddr(), p.files(""))).GetJobStatus(as(carol),
		&pb.GetJobStatusRequest{JobId: resp.GetJobId()}); err != nil {
		t.Fatalf("a new connection after the rotation: %v", err)
	}
}

// TestPlaintextWarning: plaintext on a non-loopback address is logged as a
// warning, and so is TLS without TLS for the push; on loopback, and with
// TLS everywhere, nothing is.
func TestPlaintextWarning(t *testing.T) {
	p := newPKI(t)
	noPushTLS := func(c *config.Config) { c.Server.TLSNodeCAFile = "" }
	for _, tt := range []struct {
		name      string
		addr      string
		tls       []func(*config.Config) // nil: plaintext
		listeners int                    // "plaintext on a non-loopback address" warnings
		push      int                    // "pushed to nodes in plaintext" warnings
	}{
		{"plaintext on loopback", "127.0.0.1:0", nil, 0, 0},
		{"plaintext on all interfaces", "0.0.0.0:0", nil, 2, 0},
		{"TLS on all interfaces", "0.0.0.0:0", []func(*config.Config){}, 0, 0},
		{"TLS, plaintext push", "127.0.0.1:0", []func(*config.Config){noPushTLS}, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tweaks := append([]func(*config.Config){func(c *config.Config) { c.Server.GRPCAddress, c.Server.RESTAddress = tt.addr, tt.addr }}, tt.tls...)
			var s *testServer
			if tt.tls != nil {
				s = tlsServer(t, p, false, tweaks...)
			} else {
				s = startServer(t, t.TempDir(), Settings{}, tweaks...)
			}
			listeners, push := 0, 0
			for _, l := range s.app.Logs().Lines(slog.LevelWarn, 0) {
				if strings.Contains(l.Text, "plaintext on a non-loopback address") {
					listeners++
				}
				if strings.Contains(l.Text, "pushed to nodes in plaintext") {
					push++
				}
			}
			if listeners != tt.listeners || push != tt.push {
				t.Fatalf("%d listener and %d push warnings, want %d and %d", listeners, push, tt.listeners, tt.push)
			}
		})
	}
}

func TestCertsCommandRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{}, "usage: cyxwiz-central certs init DIR"},
		{[]string{"make", dir}, "usage"},
		{[]string{"init"}, "one directory"},
		{[]string{"init", dir, "other"}, "one directory"},
		{[]string{"init", dir, "--days", "0"}, "--days"},
		{[]string{"init", dir, "--node", "../escape"}, "usable in a file name"},
	} {
		if err := certsCmd(tt.args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("certs %v: %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
	if err := certsCmd([]string{"init", "--node", "alice", dir}, io.Discard, io.Discard); err != nil {
		t.Fatalf("DIR after the flags: %v", err)
	}
}

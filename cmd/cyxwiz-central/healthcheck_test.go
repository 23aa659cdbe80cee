package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

// TestHealthcheck: the subcommand exits 0 against a serving server, and 1
// against a port nothing listens on or a stopped server.
func TestHealthcheck(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	addr := s.app.GRPCAddr()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()

	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"serving", []string{"healthcheck", "--addr", addr}, 0, "SERVING"},
		{"a service the server has", []string{"healthcheck", "--addr", addr, "--service", "cyxwiz.protocol.JobService"}, 0, "SERVING"},
		{"an unknown service", []string{"healthcheck", "--addr", addr, "--service", "nope"}, 1, "NotFound"},
		{"nothing listening", []string{"healthcheck", "--addr", closed, "--timeout", "500ms"}, 1, "healthcheck " + closed},
		{"bad flag", []string{"healthcheck", "--bogus"}, 1, "bogus"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			start := time.Now()
			code := run(tt.args, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.contains) {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q; want %q in them", code, tt.code, out.String(), errOut.String(), tt.contains)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
		})
	}
	s.stop()
	var out, errOut bytes.Buffer
	if code := run([]string{"healthcheck", "--addr", addr, "--timeout", "500ms"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d against a stopped server", code)
	}
}

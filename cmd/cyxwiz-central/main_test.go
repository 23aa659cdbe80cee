package main

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestMain lets a test re-run this binary as the real command.
func TestMain(m *testing.M) {
	if os.Getenv("CYXWIZ_TEST_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func command(t testing.TB, env []string, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), "CYXWIZ_TEST_RUN_MAIN=1"), env...)
	return cmd
}

// serveProcess starts `cyxwiz-central serve` with env as a separate OS
// process and waits up to timeout for it to log its gRPC address. logs
// returns its output so far. The caller ends the process.
func serveProcess(t testing.TB, env []string, timeout time.Duration) (cmd *exec.Cmd, addr string, logs func() string) {
	t.Helper()
	cmd = command(t, env, "serve", "--config", "../../config.toml")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 1)
	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	logs = func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			out.WriteString(line + "\n")
			mu.Unlock()
			if i := strings.Index(line, `"address":"`); i >= 0 && strings.Contains(line, "gRPC serving") {
				rest := line[i+len(`"address":"`):]
				addrs <- rest[:strings.Index(rest, `"`)]
			}
		}
	}()
	select {
	case addr = <-addrs:
		return cmd, addr, logs
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		t.Fatalf("server did not start:\n%s", logs())
		return nil, "", nil
	}
}

// TestServeStopsCleanlyOnSIGTERM: the binary serves health, then drains and
// exits 0 on SIGTERM; a restart sees what was written.
func TestServeStopsCleanlyOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	env := []string{"CYXWIZ_EVENTSTORE_DATA_DIR=" + dir, "CYXWIZ_SERVER_GRPC_ADDRESS=127.0.0.1:0", "CYXWIZ_SERVER_REST_ADDRESS=127.0.0.1:0", "CYXWIZ_LOG=info"}
	cmd, a, logs := serveProcess(t, env, 20*time.Second)
	defer cmd.Process.Kill()
	conn, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "cyxwiz.protocol.JobService"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	if _, err := os.Stat(dir + "/jwt_secret"); err != nil {
		t.Fatalf("no JWT secret generated in the data dir: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
}

func TestTokenAndVersionCommands(t *testing.T) {
	dir := t.TempDir()
	out, err := command(t, []string{"CYXWIZ_EVENTSTORE_DATA_DIR=" + dir}, "token", "--sub", "alice", "--ttl", "2h", "--config", "../../config.toml").Output()
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	tok := strings.TrimSpace(string(out))
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("token output %q is not a JWT", tok)
	}
	out, err = command(t, nil, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "cyxwiz-central ") {
		t.Fatalf("version: %q, %v", out, err)
	}
	var stderr bytes.Buffer
	cmd := command(t, []string{"CYXWIZ_SCHEDULER_POLLING_INTERVL_MS=5"}, "token", "--sub", "x")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "CYXWIZ_SCHEDULER_POLLING_INTERVL_MS") {
		t.Fatalf("an unknown env key must stop start-up naming it; got %v: %s", err, stderr.String())
	}
}

// TestLoggerKeepsItsLines: the server's logger writes JSON (not a
// terminal) and the same records, with the attributes and groups of
// With and WithGroup, into its buffer, at the configured level.
func TestLoggerKeepsItsLines(t *testing.T) {
	t.Setenv("CYXWIZ_LOG", "info")
	var out bytes.Buffer
	log, logs := newLogger(&out)
	l := log.With("component", "rest").WithGroup("req")
	l.Debug("hidden")
	l.Info("served", "path", "/api/jobs")
	log.Warn("slow", "ms", 900)

	json := out.String()
	for _, want := range []string{`"msg":"served","component":"rest","req":{"path":"/api/jobs"}`, `"level":"WARN","msg":"slow","ms":900`} {
		if !strings.Contains(json, want) {
			t.Errorf("the terminal's JSON lacks %s:\n%s", want, json)
		}
	}
	lines := logs.Lines(slog.LevelDebug, 0)
	if len(lines) != 2 || lines[0].Text != "served component=rest req.path=/api/jobs" || lines[0].Level != slog.LevelInfo ||
		lines[1].Text != "slow ms=900" || lines[1].Level != slog.LevelWarn {
		t.Fatalf("buffered lines %+v", lines)
	}
	if strings.Contains(json, "hidden") {
		t.Error("a debug line at level info")
	}

	// An app built with a logger of its own keeps its lines too.
	var own bytes.Buffer
	app, err := NewApp(testConfig(t.TempDir()), Settings{}, slog.New(slog.NewTextHandler(&own, nil)))
	if err != nil {
		t.Fatal(err)
	}
	app.log.With("component", "x").Info("kept")
	if got := app.Logs().Lines(slog.LevelInfo, 0); len(got) != 1 || got[0].Text != "kept component=x" || !strings.Contains(own.String(), "msg=kept component=x") {
		t.Fatalf("app lines %+v, its own handler got %q", got, own.String())
	}
}

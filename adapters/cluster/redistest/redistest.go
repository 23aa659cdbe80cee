// Package redistest gives tests Redis: the shared server at
// 127.0.0.1:6379 (or $CYXWIZ_TEST_REDIS_URL) under a key prefix of their
// own, or a throwaway redis-server of their own to stop and start.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	"github.com/redis/go-redis/v9"
)

// URLEnv overrides the shared test server's URL.
const URLEnv = "CYXWIZ_TEST_REDIS_URL"

const defaultURL = "redis://127.0.0.1:6379/0"

var (
	reachOnce sync.Once
	reachErr  error
)

// Unavailable skips the test, or fails it when CI=true.
var Unavailable = pgtest.Unavailable

// URL returns the shared test server's URL, or skips (fails in CI) when
// it is unreachable.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(URLEnv)
	if url == "" {
		url = defaultURL
	}
	reachOnce.Do(func() { reachErr = ping(url) })
	if reachErr != nil {
		Unavailable(tb, "REDIS UNREACHABLE at "+url+" (set "+URLEnv+"): "+reachErr.Error()+" — the Redis tests did NOT run")
	}
	return url
}

func ping(url string) error {
	o, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// Prefix returns a key prefix no other test uses; its keys are deleted
// when the test ends.
func Prefix(tb testing.TB, url string) string {
	tb.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	p := fmt.Sprintf("cyxwiz-test:%s:%d:%d:", name, os.Getpid(), time.Now().UnixNano())
	tb.Cleanup(func() {
		o, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		c := redis.NewClient(o)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return p
}

// Server is a throwaway redis-server of one test on a free loopback port,
// without persistence: a restart loses its data, as a cache's would.
type Server struct {
	URL  string
	port int
	cmd  *exec.Cmd
}

// NewServer starts a redis-server, stopped when the test ends; it skips
// (fails under CI=true) when redis-server is not installed.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Unavailable(tb, "NO redis-server ON PATH — the Redis outage test did NOT run")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), port: port}
	s.Start(tb)
	tb.Cleanup(func() { s.Stop(tb) })
	return s
}

// Start runs the server (again) and waits until it answers.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", fmt.Sprint(s.port),
		"--save", "", "--appendonly", "no")
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for ping(s.URL) != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on port %d did not answer within 20s", s.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (no save) and waits for it to exit.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

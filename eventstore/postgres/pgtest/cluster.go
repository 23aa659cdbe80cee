package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Cluster is a throwaway PostgreSQL cluster of one test: its own data
// directory and loopback port, so the test may restart it without
// touching the shared server.
type Cluster struct {
	URL  string
	bin  string
	dir  string
	port int
	as   []string // runs a command as the cluster's owner
}

// NewCluster initialises and starts a cluster, stopped and removed when
// the test ends. It skips (fails under CI=true) when the PostgreSQL server
// binaries are not installed or initdb cannot run. initdb refuses to run
// as root, so under root the cluster belongs to the postgres OS user.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			bins = []string{p}
		}
	}
	if len(bins) == 0 {
		Unavailable(tb, "NO POSTGRESQL SERVER BINARIES (initdb) under /usr/lib/postgresql/*/bin or on PATH — the restart test did NOT run")
	}
	slices.Sort(bins)
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "pgtest-cluster-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	c.dir = filepath.Join(dir, "data")
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Unavailable(tb, "running as root and there is no postgres OS user to own a throwaway cluster — the restart test did NOT run")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		c.as = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := c.run("initdb", "-D", c.dir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"); err != nil {
		Unavailable(tb, fmt.Sprintf("initdb failed (%v): %s — the restart test did NOT run", err, out))
	}
	c.port = freePort(tb)
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", c.port)
	if out, err := c.ctl("start"); err != nil {
		tb.Fatalf("pg_ctl start: %v: %s", err, out)
	}
	tb.Cleanup(func() { _, _ = c.run("pg_ctl", "stop", "-D", c.dir, "-m", "immediate", "-w") })
	return c
}

// Restart stops the cluster the way a crash does (immediate mode: no
// checkpoint, recovery from the WAL at start) and starts it again.
func (c *Cluster) Restart(tb testing.TB) {
	tb.Helper()
	if out, err := c.ctl("restart", "-m", "immediate"); err != nil {
		tb.Fatalf("pg_ctl restart: %v: %s", err, out)
	}
}

func (c *Cluster) ctl(args ...string) ([]byte, error) {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c max_connections=40 -c shared_buffers=16MB",
		c.port, filepath.Dir(c.dir))
	args = append(args, "-D", c.dir, "-w", "-t", "60", "-o", opts, "-l", filepath.Join(filepath.Dir(c.dir), "log"))
	return c.run("pg_ctl", args...)
}

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	argv := append(append(slices.Clone(c.as), filepath.Join(c.bin, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = os.TempDir()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		return out.Bytes(), fmt.Errorf("%s timed out", name)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

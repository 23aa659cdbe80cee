package postgres

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// The crash child: the test binary re-executed with these set projects
// the log at CYXWIZ_PG_CRASH_CHILD into the schema, and is SIGKILLed by
// the parent.
const (
	crashChildEnv  = "CYXWIZ_PG_CRASH_CHILD"  // path of the bbolt log
	crashSchemaEnv = "CYXWIZ_PG_CRASH_SCHEMA" // schema to project into
	crashHangEnv   = "CYXWIZ_PG_CRASH_HANG"   // n > 0: hang inside the n-th batch's transaction, after its writes
	crashSlowEnv   = "CYXWIZ_PG_CRASH_SLOW"   // "1": linger 2 ms in every transaction, so a kill lands in one
)

// TestCrashRecovery kills a projecting process mid-batch, twice, restarts
// the projection and checks that the read model equals a replay from zero
// into another schema, row for row: no batch half applied, nothing counted
// twice, nothing lost.
func TestCrashRecovery(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	url := needPostgres(t)
	ctx := context.Background()
	envs := readmodeltest.RealisticPaid(20_000, 30, 11) // with payments: their rows are in the batches too
	path := filepath.Join(t.TempDir(), "events.db")
	start := time.Now()
	writeLog(t, path, envs)
	t.Logf("%s: wrote the log", time.Since(start))
	head := uint64(len(envs))
	schema := freshSchema(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	checkpointOf := func() uint64 { // a plain read: it never waits for a batch in flight
		var pos int64
		if err := conn.QueryRow(ctx, `SELECT position FROM `+pgx.Identifier{schema, "checkpoints"}.Sanitize()).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		return uint64(pos)
	}

	// 1. Hang inside the 40th transaction, after every row of the batch is
	// written, and die there.
	child := startChild(t, path, schema, map[string]string{crashHangEnv: "40"})
	var inTx uint64
	for line := range child.lines {
		if s, ok := strings.CutPrefix(line, "in-tx "); ok {
			inTx, _ = strconv.ParseUint(s, 10, 64)
			break
		}
	}
	if inTx == 0 {
		t.Fatalf("the child never reached its 40th batch:\n%s", child.stop())
	}
	if cp := checkpointOf(); cp == 0 || cp >= inTx {
		t.Fatalf("while the 40th batch (to %d) is uncommitted, the stored checkpoint is %d", inTx, cp)
	}
	child.kill()
	cp1 := checkpointOf()
	if cp1 >= inTx {
		t.Fatalf("after the kill the checkpoint is %d: the uncommitted batch (to %d) counted", cp1, inTx)
	}
	t.Logf("%s: killed inside the transaction up to %d; the checkpoint stayed at %d", time.Since(start), inTx, cp1)

	// 2. Resume in a new process and kill it at a moment of the replay
	// (it lingers in each transaction, so the kill lands in one).
	child = startChild(t, path, schema, map[string]string{crashSlowEnv: "1"})
	deadline := time.Now().Add(2 * time.Minute)
	for checkpointOf() < cp1+(head-cp1)/2 {
		if time.Now().After(deadline) || child.exited() {
			t.Fatalf("the second child did not get halfway:\n%s", child.stop())
		}
		time.Sleep(5 * time.Millisecond)
	}
	child.kill()
	cp2 := checkpointOf()
	if cp2 <= cp1 || cp2 >= head {
		t.Fatalf("after the second kill the checkpoint is %d; want between %d and %d", cp2, cp1, head)
	}
	t.Logf("%s: killed mid-replay at checkpoint %d of %d", time.Since(start), cp2, head)

	// 3. Restart here and finish; replay from zero into another schema.
	resumed := openModel(t, schema, Options{})
	if resumed.Checkpoint() != cp2 {
		t.Fatalf("reopened at %d, want %d", resumed.Checkpoint(), cp2)
	}
	project(t, path, resumed, 128)
	t.Logf("%s: resumed", time.Since(start))
	fresh := newTestModel(t)
	project(t, path, fresh, 512)
	t.Logf("%s: replayed from zero", time.Since(start))
	if resumed.Checkpoint() != head || fresh.Checkpoint() != head {
		t.Fatalf("checkpoints %d and %d, want %d", resumed.Checkpoint(), fresh.Checkpoint(), head)
	}
	mustEqual(t, "resumed after two crashes vs a replay from zero", resumed, fresh)

	// And the counters count each event once.
	var submitted, activity, samples int
	for _, e := range envs {
		if _, ok := e.Event.(domain.JobSubmitted); ok {
			submitted++
		}
		if projections.InActivity(e.Event) {
			activity++
		}
		if _, ok := e.Event.(domain.NodeMetricsSampled); ok {
			samples++
		}
	}
	var gotSubmitted, gotActivity, gotSamples int
	if err := resumed.Pool().QueryRow(ctx, `SELECT (SELECT sum(submitted) FROM hourly_stats), (SELECT count(*) FROM activity),
		(SELECT count(*) FROM metric_samples)`).Scan(&gotSubmitted, &gotActivity, &gotSamples); err != nil {
		t.Fatal(err)
	}
	if gotSubmitted != submitted || gotActivity != activity || gotSamples != samples {
		t.Fatalf("submitted %d, activity %d, samples %d; want %d, %d, %d",
			gotSubmitted, gotActivity, gotSamples, submitted, activity, samples)
	}
	mem := newMemory(envs) // the memory model folds the same events (recorded times aside)
	if w, g := mem.PendingJobs(), resumed.PendingJobs(); len(w) != len(g) {
		t.Fatalf("%d pending jobs, the memory model has %d", len(g), len(w))
	}
}

// writeLog appends envs to a new bbolt log at path, in order, so their
// positions are 1…len(envs).
func writeLog(tb testing.TB, path string, envs []projections.Envelope) {
	tb.Helper()
	ctx := context.Background()
	store, err := bolt.Open(path, bolt.WithNoSync())
	if err != nil {
		tb.Fatal(err)
	}
	defer store.Close()
	codec := commands.NewCodec()
	for i := 0; i < len(envs); {
		// One append per run of events of one stream.
		j := i + 1
		for j < len(envs) && envs[j].Stream == envs[i].Stream {
			j++
		}
		data := make([]eventstore.EventData, 0, j-i)
		for _, e := range envs[i:j] {
			name, payload, err := codec.Encode(e.Event)
			if err != nil {
				tb.Fatal(err)
			}
			data = append(data, eventstore.EventData{ID: uuid.NewString(), Type: name, Data: payload, Metadata: e.Metadata})
		}
		if _, err := store.Append(ctx, envs[i].Stream, eventstore.Any(), data...); err != nil {
			tb.Fatal(err)
		}
		i = j
	}
}

// project runs a projections.Runner from the log at path into m until it
// has caught up.
func project(tb testing.TB, path string, m projections.ReadModel, batch int) {
	tb.Helper()
	store, err := bolt.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer store.Close()
	r := projections.NewRunner(store, commands.NewCodec(), m, nil, projections.WithBatchSize(batch))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.CaughtUp():
	case err := <-done:
		cancel()
		tb.Fatalf("runner stopped: %v", err)
	case <-time.After(5 * time.Minute):
		cancel()
		tb.Fatal("runner did not catch up within 5 minutes")
	}
	cancel()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
}

// crashChild is the child's side: project until caught up, or hang.
func crashChild(t *testing.T, path string) {
	hang, _ := strconv.Atoi(os.Getenv(crashHangEnv))
	slow := os.Getenv(crashSlowEnv) == "1"
	m, err := Open(context.Background(), testURL(), Options{Schema: os.Getenv(crashSchemaEnv)})
	if err != nil {
		t.Fatal(err)
	}
	batches := 0
	m.beforeCommit = func(checkpoint uint64) {
		batches++
		if batches == hang {
			fmt.Printf("in-tx %d\n", checkpoint)
			os.Stdout.Sync() //nolint:errcheck
			select {}        // until SIGKILL
		}
		if slow {
			time.Sleep(2 * time.Millisecond)
		}
	}
	project(t, path, m, 64)
	fmt.Println("caught-up")
}

type childProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
	done   chan struct{}
}

func startChild(t *testing.T, path, schema string, env map[string]string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashSchemaEnv+"="+schema)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &childProc{t: t, cmd: cmd, lines: make(chan string, 64), stderr: new(strings.Builder), done: make(chan struct{})}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.kill() })
	go func() {
		defer close(c.lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.lines <- s.Text()
		}
	}()
	go func() {
		cmd.Wait() //nolint:errcheck // killed on purpose
		close(c.done)
	}()
	return c
}

// kill SIGKILLs the child and waits for it.
func (c *childProc) kill() {
	if c.cmd.Process != nil {
		c.cmd.Process.Kill() //nolint:errcheck // it may be gone already
	}
	<-c.done
}

func (c *childProc) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop kills the child and returns its stderr, for a failure message.
func (c *childProc) stop() string {
	c.kill()
	return c.stderr.String()
}

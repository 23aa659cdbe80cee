package tui_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/tui"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/gdamore/tcell/v2"
)

func short(id string) string { return id[:8] }

// TestViewsRender: for a known history, each view shows its counts, rows
// and health.
func TestViewsRender(t *testing.T) {
	f := newFixture(t, tui.Options{})
	f.history()
	f.start()
	cases := []struct {
		key    rune
		want   []string
		absent []string
	}{
		{'1', []string{
			"NETWORK STATS", "Active Nodes:    2 of 3", "Pending Jobs:    2", "Running Jobs:    1",
			"Completed (24h): 1", "Failed (24h):    1",
			"SYSTEM HEALTH: HEALTHY", "Event store: OK", "Database:    MEMORY", "Redis:       MEMORY", "Solana:      DISABLED", "Uptime:",
			"JOB THROUGHPUT", "Submitted", "5", "TOP NODES BY REPUTATION", "alpha", "beta", "gamma", "offline",
			"RECENT ACTIVITY", "JobCompleted job " + short(f.done1), "JobFailed job " + short(f.failed),
		}, nil},
		{'2', []string{"5 jobs", short(f.done1), short(f.failed), short(f.pending), "completed", "failed", "running", "inference", "carol"}, nil},
		{'3', []string{"2 online of 3 nodes", "alpha", "cuda RTX 4090 24 GiB", "cpu 64 GiB", "cpu  60% gpu  90%", "1/5"}, nil},
		{'4', []string{"blockchain disabled", "set [blockchain] network", "no payments yet"}, nil},
		{'5', []string{"gRPC serving address=127.0.0.1:50051", "WARN", "dispatch failed node=beta", "level ≥ INFO  2 lines"}, nil},
		{'6', []string{"server.grpc_address", "0.0.0.0:50051", "postgres://cyxwiz:REDACTED@db:5432/cyxwiz"},
			[]string{"super-secret-signing-key", "hunter2"}},
		{'G', []string{"jwt.secret                                REDACTED", "eventstore.data_dir"}, // G: the last keys
			[]string{"super-secret-signing-key", "hunter2"}},
	}
	for _, c := range cases {
		t.Run(string(c.key), func(t *testing.T) {
			f.key(tcell.KeyRune, c.key)
			got := f.waitFor(t, c.want...)
			for _, a := range c.absent {
				if strings.Contains(got, a) {
					t.Errorf("the screen shows %q:\n%s", a, got)
				}
			}
		})
	}
}

// TestNavigation: Tab and Shift-Tab cycle the views, Enter opens details,
// Esc goes back, ? shows help.
func TestNavigation(t *testing.T) {
	f := newFixture(t, tui.Options{})
	f.history()
	f.start()
	f.waitText("NETWORK STATS")
	f.key(tcell.KeyTab, 0)
	f.waitText("5 jobs")
	f.key(tcell.KeyTab, 0)
	f.waitText("2 online of 3 nodes")
	f.key(tcell.KeyBacktab, 0)
	f.key(tcell.KeyBacktab, 0)
	f.waitText("NETWORK STATS")
	f.key(tcell.KeyBacktab, 0) // wraps to Settings
	f.waitText("server.grpc_address")

	// Jobs: the newest job is first; j moves down; Enter opens it.
	f.key(tcell.KeyRune, '2')
	f.waitText("5 jobs")
	f.key(tcell.KeyRune, 'j') // second newest: pending (carol)
	f.key(tcell.KeyRune, 'j') // third: running
	f.key(tcell.KeyEnter, 0)
	f.waitText("EVENT HISTORY", f.running, "JobSubmitted", "JobAssigned", "JobAccepted", "JobStarted", "running")
	f.key(tcell.KeyEsc, 0)
	f.waitGone("EVENT HISTORY")
	f.waitText("5 jobs")
	// k back up twice and Enter: the newest job, inference.
	f.key(tcell.KeyRune, 'k')
	f.key(tcell.KeyRune, 'k')
	f.key(tcell.KeyRune, 'k')
	f.key(tcell.KeyEnter, 0)
	f.waitText("EVENT HISTORY", f.inference, "inference · normal priority")
	f.key(tcell.KeyEsc, 0)

	// Nodes: alpha has the best reputation after its completed job.
	f.key(tcell.KeyRune, '3')
	f.waitText("2 online of 3 nodes")
	f.key(tcell.KeyRune, '/')
	f.typeText("alpha")
	f.key(tcell.KeyEnter, 0)
	f.key(tcell.KeyEnter, 0)
	f.waitText("LOAD, LAST HOUR", "(2 samples)", f.alpha, "CPU", "GPU", "Memory", "▄█", "1 completed")
	f.key(tcell.KeyEsc, 0)
	f.waitText("2 online of 3 nodes")

	// Enter on the dashboard's top nodes opens the node's details.
	f.key(tcell.KeyRune, '1')
	f.waitText("TOP NODES BY REPUTATION")
	f.key(tcell.KeyEnter, 0)
	f.waitText("LOAD, LAST HOUR", "Reputation")
	f.key(tcell.KeyEsc, 0)
	f.waitText("2 online of 3 nodes")

	// Help.
	f.key(tcell.KeyRune, '?')
	f.waitText("Tab / Shift-Tab", "Esc to close")
	f.key(tcell.KeyEsc, 0)
	f.waitGone("Esc to close")
	f.waitText("2 online of 3 nodes")
}

// TestFilters: status, type and text filters narrow the tables.
func TestFilters(t *testing.T) {
	f := newFixture(t, tui.Options{})
	f.history()
	f.start()
	f.key(tcell.KeyRune, '2')
	f.waitText("5 jobs")
	rows := func(t *testing.T, want ...string) {
		t.Helper()
		got := f.waitFor(t, want...)
		all := map[string]string{"done1": f.done1, "failed": f.failed, "running": f.running, "pending": f.pending, "inference": f.inference}
		for name, id := range all {
			shown := strings.Contains(got, short(id))
			wanted := false
			for _, w := range want {
				wanted = wanted || w == short(id)
			}
			if shown != wanted {
				t.Errorf("job %s shown=%v, want %v:\n%s", name, shown, wanted, got)
			}
		}
	}
	cases := []struct {
		name string
		do   func()
		want []string
	}{
		{"status pending", func() { f.key(tcell.KeyRune, 's') }, []string{"status pending", "2 jobs", short(f.pending), short(f.inference)}},
		{"status in_progress", func() { f.key(tcell.KeyRune, 's') }, []string{"status in_progress", "1 jobs", short(f.running)}},
		{"status assigned", func() { f.key(tcell.KeyRune, 's') }, []string{"status assigned", "0 of 0 jobs"}},
		{"status running", func() { f.key(tcell.KeyRune, 's') }, []string{"status running", short(f.running)}},
		{"status completed", func() { f.key(tcell.KeyRune, 's') }, []string{"status completed", short(f.done1)}},
		{"status failed", func() { f.key(tcell.KeyRune, 's') }, []string{"status failed", short(f.failed)}},
		{"status cancelled, none", func() { f.key(tcell.KeyRune, 's') }, []string{"status cancelled", "no job matches the filter"}},
		{"every status", func() { f.key(tcell.KeyRune, 's') }, []string{"status all", "5 jobs", short(f.done1), short(f.failed), short(f.running), short(f.pending), short(f.inference)}},
		{"type training", func() { f.key(tcell.KeyRune, 't') }, []string{"type training", "4 jobs", short(f.done1), short(f.failed), short(f.running), short(f.pending)}},
		{"type inference", func() { f.key(tcell.KeyRune, 't') }, []string{"type inference", "1 jobs", short(f.inference)}},
		{"text carol", func() {
			f.key(tcell.KeyRune, 't')
			f.key(tcell.KeyRune, 't')
			f.key(tcell.KeyRune, 't')
			f.waitText("type all")
			f.key(tcell.KeyRune, '/')
			f.typeText("carol")
			f.key(tcell.KeyEnter, 0)
		}, []string{`text "carol"`, "1 shown of 5 jobs", short(f.pending)}},
		{"Esc clears the text", func() { f.key(tcell.KeyEsc, 0) }, []string{"5 jobs", short(f.done1), short(f.failed), short(f.running), short(f.pending), short(f.inference)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.do()
			rows(t, c.want...)
		})
	}

	// Nodes by text; logs by level.
	f.key(tcell.KeyRune, '3')
	f.waitText("2 online of 3 nodes")
	f.key(tcell.KeyRune, '/')
	f.typeText("cpu")
	got := f.waitText("gamma", `text "cpu"`, "1 shown")
	if strings.Contains(got, "alpha") {
		t.Errorf("the cpu filter shows alpha:\n%s", got)
	}
	f.key(tcell.KeyEsc, 0)
	f.key(tcell.KeyRune, '5')
	f.waitText("gRPC serving")
	f.key(tcell.KeyRune, 'l') // ≥ WARN
	got = f.waitText("level ≥ WARN  1 lines", "dispatch failed")
	if strings.Contains(got, "gRPC serving") {
		t.Errorf("the WARN level shows an INFO line:\n%s", got)
	}
}

// TestResize: the console draws at 80×24 and 200×60, and survives tiny
// screens.
func TestResize(t *testing.T) {
	f := newFixture(t, tui.Options{})
	f.history()
	f.start()
	f.waitText("NETWORK STATS")
	for _, c := range []struct {
		w, h int
		want []string
	}{
		{80, 24, []string{"NETWORK STATS", "Active Nodes:    2 of 3", "SYSTEM HEALTH", "Submitted", "alpha", "[q] Quit"}},
		{200, 60, []string{"NETWORK STATS", "Active Nodes:    2 of 3", "RECENT ACTIVITY", "JobCompleted", "[q] Quit  [Tab] Switch View  [j/k] Navigate  [Enter] Details  [?] Help  [Esc] Back  [r] Refresh"}},
		{12, 4, nil},
		{1, 1, nil},
		{80, 24, []string{"NETWORK STATS"}},
	} {
		t.Run(fmt.Sprintf("%dx%d", c.w, c.h), func(t *testing.T) {
			f.screen.SetSize(c.w, c.h)
			f.con.QueueEvent(tcell.NewEventResize(c.w, c.h))
			for _, k := range []rune{'2', '3', '4', '5', '6', '1'} { // every view draws at this size
				f.key(tcell.KeyRune, k)
			}
			f.waitFor(t, c.want...)
			if _, w, h := f.screen.GetContents(); w != c.w || h != c.h {
				t.Fatalf("screen is %dx%d", w, h)
			}
		})
	}
}

// TestQuit: q ends Run cleanly.
func TestQuit(t *testing.T) {
	f := newFixture(t, tui.Options{})
	go func() { f.done <- f.con.Run() }()
	f.waitText("NETWORK STATS")
	f.key(tcell.KeyRune, 'q')
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("q did not quit")
	}
	select {
	case <-f.con.Stopped():
	default:
		t.Fatal("Stopped is not closed after Run returned")
	}
}

// TestEmptyStates: a fresh server says what is missing.
func TestEmptyStates(t *testing.T) {
	f := newFixture(t, tui.Options{})
	f.start()
	f.waitText("Active Nodes:    0 of 0", "no nodes yet — register one with", "no activity yet")
	f.key(tcell.KeyRune, '2')
	f.waitText("no jobs yet — submit one")
	f.key(tcell.KeyRune, '3')
	f.waitText("no nodes yet — register one with cyxwiz-node-sim")
	f.key(tcell.KeyRune, '5')
	f.waitText("no log lines yet")
}

// TestLive: a new event is on screen within a second, and a burst of
// events coalesces into far fewer redraws than events; idle, nothing is
// drawn.
func TestLive(t *testing.T) {
	f := newFixture(t, tui.Options{Interval: 100 * time.Millisecond})
	f.start()
	f.waitText("Pending Jobs:    0")
	time.Sleep(300 * time.Millisecond)

	idle := f.con.Draws()
	time.Sleep(time.Second)
	if d := f.con.Draws() - idle; d != 0 {
		t.Errorf("idle for a second, the console drew %d times", d)
	}

	submit := func() {
		if _, _, _, err := f.h.SubmitJob(f.ctx, commands.SubmitJob{Owner: "alice", Spec: domain.JobSpec{Type: domain.JobTypeTraining, PaymentAmount: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	submit()
	f.waitText("Pending Jobs:    1")
	if took := time.Since(start); took > time.Second {
		t.Errorf("a new job took %s to show", took)
	}

	// r refreshes at once, without a change.
	time.Sleep(300 * time.Millisecond)
	r := f.con.Refreshes()
	f.key(tcell.KeyRune, 'r')
	deadline := time.Now().Add(2 * time.Second)
	for f.con.Refreshes() == r && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.con.Refreshes() == r {
		t.Error("r did not refresh")
	}

	// A burst spread over about a second: 300 events, one every ~3 ms.
	const burst = 300
	time.Sleep(300 * time.Millisecond)
	before, refreshes := f.con.Draws(), f.con.Refreshes()
	for i := range burst {
		submit()
		if i%10 == 0 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	f.waitText(fmt.Sprintf("Pending Jobs:    %d", burst+1))
	time.Sleep(300 * time.Millisecond)
	draws, fetches := f.con.Draws()-before, f.con.Refreshes()-refreshes
	t.Logf("a burst of %d events (%d jobs) drew %d times, in %d refreshes", burst, burst, draws, fetches)
	if draws == 0 || draws > burst/10 {
		t.Errorf("a burst of %d events drew %d times; want 1..%d", burst, draws, burst/10)
	}
}

// TestStuckTerminalNeverBlocksTheServer: with the console's UI goroutine
// stuck (a terminal that does not take output), commands, the projection
// and logging go on at full speed; the console catches up once unstuck.
func TestStuckTerminalNeverBlocksTheServer(t *testing.T) {
	f := newFixture(t, tui.Options{Interval: 10 * time.Millisecond})
	f.start()
	f.waitText("Pending Jobs:    0")
	release := make(chan struct{})
	stuck := make(chan struct{})
	go f.con.Do(func() { close(stuck); <-release }, time.Minute)
	<-stuck
	start := time.Now()
	for i := range 200 {
		if _, _, _, err := f.h.SubmitJob(f.ctx, commands.SubmitJob{Owner: "alice", Spec: domain.JobSpec{Type: domain.JobTypeTraining, PaymentAmount: 1}}); err != nil {
			t.Fatal(err)
		}
		f.logs.Add(time.Now(), slog.LevelInfo, fmt.Sprintf("line %d", i))
	}
	f.sync() // the read model has all of it, while the UI is stuck
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("200 submissions with a stuck console took %s", took)
	}
	close(release)
	f.waitText("Pending Jobs:    200")
}

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
	pol := commands.DefaultPolicy()
	rep := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	skipped := `blockchain disabled (blockchain.network = "disabled"): the job runs unescrowed and nothing will be paid or refunded`
	cases := []struct {
		key    rune
		w, h   int // the screen's size for this case (0: 100×30)
		want   []string
		absent []string
		// lines: screen lines, top to bottom, each holding every one of
		// its strings.
		lines [][]string
	}{
		{key: '1', want: []string{
			"NETWORK STATS", "Active Nodes:    2 of 3", "Pending Jobs:    2", "Running Jobs:    1",
			"Completed (24h): 1", "Failed (24h):    1",
			"SYSTEM HEALTH: HEALTHY", "Event store: OK", "Database:    MEMORY", "Redis:       MEMORY", "Solana:      DISABLED", "Uptime:",
			"JOB THROUGHPUT", "Submitted", "5", "TOP NODES BY REPUTATION", "RECENT ACTIVITY",
		}, lines: [][]string{
			// Top nodes by reputation: alpha rewarded for its completed
			// job, gamma untouched, beta penalized for its failure; beside
			// them the newest twelve lines of the activity log, newest first.
			{"Node", "Jobs", "Rep.", "Status", "JobStarted job " + short(f.running)},
			{"alpha", "1 " + rep(domain.InitialReputation+pol.RewardSuccess) + " online", "JobAccepted job " + short(f.running)},
			{"gamma", "0 " + rep(domain.InitialReputation) + " offline", "JobAssigned job " + short(f.running)},
			{"beta", "0 " + rep(domain.InitialReputation-pol.PenaltyFailure) + " online", "NodeJobReserved job " + short(f.running)},
			{"ReputationAdjusted job " + short(f.failed)},
			{"NodeJobReleased job " + short(f.failed)},
			{"JobFailed job " + short(f.failed)},
			{"JobStarted job " + short(f.failed)},
			{"JobAccepted job " + short(f.failed)},
			{"JobAssigned job " + short(f.failed)},
			{"NodeJobReserved job " + short(f.failed)},
			{"ReputationAdjusted job " + short(f.done1)},
		}},
		{key: '1', w: 100, h: 45, lines: [][]string{ // taller: older lines, the payments skipped at submission among them
			{"ReputationAdjusted job " + short(f.done1)},
			{"NodeJobReleased job " + short(f.done1)},
			{"JobCompleted job " + short(f.done1)},
			{"JobStarted job " + short(f.done1)},
			{"JobAccepted job " + short(f.done1)},
			{"JobAssigned job " + short(f.done1)},
			{"NodeJobReserved job " + short(f.done1)},
			{"JobSubmitted job " + short(f.inference)},
			{"PaymentSkipped job " + short(f.inference)},
			{"JobSubmitted job " + short(f.pending)},
			{"PaymentSkipped job " + short(f.pending)},
		}},
		{key: '2', want: []string{"5 jobs", short(f.done1), short(f.failed), short(f.pending), "completed", "failed", "running", "inference", "carol"}},
		{key: '3', want: []string{"2 online of 3 nodes", "alpha", "cuda RTX 4090 24 GiB", "cpu 64 GiB", "cpu  60% gpu  90%", "1/5"}},
		{key: '4', want: []string{
			"blockchain disabled", "set [blockchain] network", "Network   disabled", "Solana    disabled",
			"PAYOUTS AND REFUNDS: 5 skipped ", "UPDATED", "STATUS", "SOL", "PAYEE", "SIGNATURE", "REASON",
		}, absent: []string{"no payments yet"}, lines: [][]string{
			// Every paid job's payment, newest first: skipped (unescrowed)
			// with the reason, the job's 0.5 SOL, no payee, no signature.
			{short(f.inference), "skipped 0.5", "blockchain disabled (blockchain.network"},
			{short(f.pending), "skipped 0.5", "blockchain disabled (blockchain.network"},
			{short(f.running), "skipped 0.5", "blockchain disabled (blockchain.network"},
			{short(f.failed), "skipped 0.5", "blockchain disabled (blockchain.network"},
			{short(f.done1), "skipped 0.5", "blockchain disabled (blockchain.network"},
			// The selected (newest) payment in full.
			{"Job", f.inference, "skipped", "updated"},
			{"Reason", skipped[:60]},
			{skipped[len(skipped)-30:]},
			{"Amount", "0.5 SOL  (never escrowed)"},
		}},
		{key: '5', want: []string{"gRPC serving address=127.0.0.1:50051", "WARN", "dispatch failed node=beta", "level ≥ INFO  2 lines"}},
		{key: '6', want: []string{"server.grpc_address", "0.0.0.0:50051", "postgres://cyxwiz:REDACTED@db:5432/cyxwiz"},
			absent: []string{"super-secret-signing-key", "hunter2"}},
		{key: 'G', want: []string{"jwt.secret", "REDACTED", "eventstore.data_dir", "limits.max_reply_bytes"}, // G: the last keys
			absent: []string{"super-secret-signing-key", "hunter2"}},
	}
	for _, c := range cases {
		name := string(c.key)
		if c.w != 0 {
			name += fmt.Sprintf(" at %dx%d", c.w, c.h)
		}
		t.Run(name, func(t *testing.T) {
			if c.w != 0 {
				f.resize(c.w, c.h)
				defer f.resize(100, 30)
			}
			f.key(tcell.KeyRune, c.key)
			got := f.waitFor(t, c.want...)
			if len(c.lines) > 0 {
				got = f.waitLines(t, c.lines...)
			}
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
	f.key(tcell.KeyRune, '/') // back to the filter: it keeps its text, as in Jobs
	f.waitText("/ alpha")
	f.key(tcell.KeyEnter, 0)

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

package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/tui"
	"github.com/cyxwiz/central-server/domain"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/gdamore/tcell/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var (
	captureTo      = flag.String("capture", "", "TestConsoleCapture: write the dashboard of a live server (100×30) to this file")
	captureChainTo = flag.String("capture-chain", "", "TestConsoleSettlement: write the Blockchain view after a payout and a refund on the test chain (100×30) to this file")
)

// simConsole runs con on a simulation screen of w×h until the test ends.
func simConsole(t *testing.T, con *tui.Console, screen tcell.SimulationScreen, w, h int) {
	t.Helper()
	screen.SetSize(w, h)
	done := make(chan error, 1)
	go func() { done <- con.Run() }()
	t.Cleanup(func() {
		con.Stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("console: %v", err)
			}
		case <-time.After(5 * time.Second):
			var stacks strings.Builder
			pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Errorf("the console did not stop; goroutines:\n%s", stacks.String())
		}
	})
}

// waitScreen polls the console's screen until it shows every one of want.
func waitScreen(t *testing.T, con *tui.Console, screen tcell.SimulationScreen, timeout time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := con.Text(screen)
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the console does not show %q; it shows:\n%s", timeout, missing, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inProcessConsole starts the server with cfg and set, its console (the
// `tui` mode, logs included) running on a w×h simulation screen until the
// test ends.
func inProcessConsole(t *testing.T, cfg config.Config, set Settings, w, h int) (*testServer, *tui.Console, tcell.SimulationScreen) {
	t.Helper()
	logs := logbuf.New(0)
	screen := tcell.NewSimulationScreen("UTF-8")
	con, app, err := startWithConsole(context.Background(), cfg, set, slog.New(logs.Handler(slog.LevelInfo)), logs, screen)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, app: app, dir: cfg.EventStore.DataDir, iss: testIssuer()}
	if s.conn, err = grpcClient(app.GRPCAddr()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	simConsole(t, con, screen, w, h)
	return s, con, screen
}

// attachConsole runs a console attached to the REST API at restAddr with
// token on a w×h simulation screen until the test ends.
func attachConsole(t *testing.T, restAddr, token string, w, h int) (*tui.Console, tcell.SimulationScreen) {
	t.Helper()
	screen := tcell.NewSimulationScreen("UTF-8")
	con, err := attachedConsole(t.Context(), "http://"+restAddr, token, screen, nil)
	if err != nil {
		t.Fatal(err)
	}
	simConsole(t, con, screen, w, h)
	return con, screen
}

func (s *testServer) operatorToken() string {
	tok, _, err := s.iss.MintUser("ops", "", "operator", time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// TestConsoleAttached: the console attached through REST and SSE shows a
// job submitted through gRPC, follows the server through a restart, and
// shows what is submitted after it.
func TestConsoleAttached(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, Settings{})
	restAddr := s.app.RESTAddr()
	con, screen := attachConsole(t, restAddr, s.operatorToken(), 120, 30)
	waitScreen(t, con, screen, 5*time.Second, "attached to http://"+restAddr, "● live", "Active Nodes:    0 of 0")
	screen.InjectKey(tcell.KeyRune, '2', tcell.ModNone)
	waitScreen(t, con, screen, 5*time.Second, "no jobs yet")

	alice := s.userToken("alice")
	job1 := s.submit(alice, trainingJob())
	start := time.Now()
	waitScreen(t, con, screen, 5*time.Second, job1[:8], "pending", "alice", "1 jobs")
	t.Logf("a job submitted through gRPC was on the Jobs view after %s", time.Since(start).Round(time.Millisecond))

	// The server restarts on the same address: the console says it lost
	// the stream, reconnects, and shows what happens next.
	s.stop()
	waitScreen(t, con, screen, 5*time.Second, "reconnecting")
	s2 := startServer(t, dir, Settings{}, func(c *config.Config) { c.Server.RESTAddress = restAddr })
	waitScreen(t, con, screen, 10*time.Second, "● live")
	job2 := s2.submit(alice, trainingJob())
	waitScreen(t, con, screen, 5*time.Second, job2[:8], job1[:8], "2 jobs")

	// The selection stayed on job1; g goes to the newest job, Enter opens
	// its history from /api/jobs/:id/events.
	screen.InjectKey(tcell.KeyRune, 'g', tcell.ModNone)
	screen.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
	waitScreen(t, con, screen, 5*time.Second, "EVENT HISTORY", job2, "JobSubmitted")
	// The Logs view holds the server's lines (from /api/logs: those of
	// the restarted server too, which numbers its lines from 1 again) and
	// the console's own lines about the stream.
	s2.app.log.Info("operator-visible", "marker", "m-42")
	screen.InjectKey(tcell.KeyEsc, 0, tcell.ModNone)
	screen.InjectKey(tcell.KeyRune, '5', tcell.ModNone)
	waitScreen(t, con, screen, 5*time.Second, "[server] operator-visible marker=m-42", "[server] \"REST serving\" address="+restAddr,
		"[console] event stream open", "reconnecting in", "the server restarted")

	// Settings: the server's configuration from /api/config, its secret
	// masked (on a screen tall enough for every key).
	screen.SetSize(120, 70)
	con.QueueEvent(tcell.NewEventResize(120, 70))
	screen.InjectKey(tcell.KeyRune, '6', tcell.ModNone)
	got := waitScreen(t, con, screen, 5*time.Second, "GET /api/config", "server.grpc_address", "127.0.0.1:0", "jwt.secret", "server.rest_address", restAddr)
	if strings.Contains(got, testSecret) {
		t.Fatalf("the attached Settings view shows the JWT secret:\n%s", got)
	}
	for line := range strings.Lines(got) {
		if strings.Contains(line, "jwt.secret") && !strings.Contains(line, "REDACTED") {
			t.Fatalf("jwt.secret is not masked: %s", line)
		}
	}
}

// TestConsoleRefusesABadToken: a user token is not an operator's; the
// header says so.
func TestConsoleRefusesABadToken(t *testing.T) {
	s := startServer(t, t.TempDir(), Settings{})
	con, screen := attachConsole(t, s.app.RESTAddr(), s.userToken("mallory"), 200, 30)
	waitScreen(t, con, screen, 5*time.Second, "403", "--role operator")
}

// TestConsoleInProcess: `tui` mode: the console over the server's own read
// model, with the server's logs in the Logs view.
func TestConsoleInProcess(t *testing.T) {
	s, con, screen := inProcessConsole(t, testConfig(t.TempDir()), Settings{SchedulerInterval: 50 * time.Millisecond}, 100, 30)
	waitScreen(t, con, screen, 5*time.Second, "in-process", "● live", "Pending Jobs:    0", "Event store: OK", "Database:    MEMORY")

	node := startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	node.keepAlive(100 * time.Millisecond)
	jobID := s.submit(s.userToken("alice"), trainingJob())
	node.waitAssignment(5 * time.Second)
	waitScreen(t, con, screen, 5*time.Second, "Active Nodes:    1 of 1", "Running Jobs:    1", "alpha", "JobAssigned job "+jobID[:8])

	screen.InjectKey(tcell.KeyRune, '5', tcell.ModNone)
	waitScreen(t, con, screen, 5*time.Second, "gRPC serving", "REST serving")
	screen.InjectKey(tcell.KeyRune, '6', tcell.ModNone)
	got := waitScreen(t, con, screen, 5*time.Second, "server.grpc_address", "127.0.0.1:0")
	if strings.Contains(got, testSecret) {
		t.Fatalf("the settings show the JWT secret:\n%s", got)
	}
}

// TestConsoleCapture writes the dashboard of a live server with a few
// nodes and jobs, for the README: go test -run TestConsoleCapture -capture FILE.
func TestConsoleCapture(t *testing.T) {
	if *captureTo == "" {
		t.Skip("run with -capture FILE to write the dashboard capture")
	}
	s, con, screen := inProcessConsole(t, testConfig(t.TempDir()), Settings{SchedulerInterval: 50 * time.Millisecond}, 100, 30)
	var nodes []*testNode
	for _, name := range []string{"node-alpha", "node-beta", "node-gamma"} {
		n := startNode(t, s, "ops", name, pb.DeviceType_DEVICE_CUDA, 24<<30)
		n.keepAlive(200 * time.Millisecond)
		nodes = append(nodes, n)
	}
	alice := s.userToken("alice")
	finish := func(n *testNode, jobID string, ok bool) {
		if _, err := s.nodes().NotifyJobAccepted(as(n.session), &pb.JobAcceptedRequest{NodeId: n.id, JobId: jobID}); err != nil {
			t.Fatal(err)
		}
		st := pb.StatusCode_STATUS_SUCCESS
		if !ok {
			st = pb.StatusCode_STATUS_FAILED
		}
		if _, err := s.status().ReportJobResult(as(n.session), &pb.ReportJobResultRequest{NodeId: n.id, JobId: jobID, FinalStatus: st, TotalComputeTime: 1200}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		id := s.submit(alice, trainingJob())
		var on *testNode
		eventually(t, 5*time.Second, "assignment", func() bool {
			for _, n := range nodes {
				select {
				case req := <-n.assigned:
					if req.GetJob().GetJobId() == id {
						on = n
						return true
					}
				default:
				}
			}
			return false
		})
		if i < 6 {
			finish(on, id, i != 3)
		}
	}
	for range 2 {
		s.submit(alice, &pb.JobConfig{JobType: pb.JobType_JOB_TYPE_INFERENCE, RequiredDevice: pb.DeviceType_DEVICE_METAL, EstimatedMemory: 1 << 30, ModelDefinition: "llama"})
	}
	waitScreen(t, con, screen, 5*time.Second, "Completed (24h): 5", "Failed (24h):    1", "Pending Jobs:    2", "Running Jobs:    1")
	time.Sleep(500 * time.Millisecond) // let the last redraw land
	got := con.Text(screen)
	if err := os.WriteFile(*captureTo, []byte(got), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard:\n%s", got)
}

func grpcClient(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func testIssuer() *auth.Issuer { return auth.NewIssuer([]byte(testSecret), nil) }

// TestConsoleCommandErrors: the console subcommand says what it needs.
func TestConsoleCommandErrors(t *testing.T) {
	t.Setenv("CYXWIZ_TOKEN", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"console"}, "--token T (or CYXWIZ_TOKEN) is required; mint one on the server with `cyxwiz-central token --sub NAME --role operator`"},
		{[]string{"console", "--api", "ftp://host", "--token", "T"}, "want the REST API's base URL"},
		{[]string{"console", "--bogus"}, "flag provided but not defined"},
	} {
		var stdout, stderr strings.Builder
		if code := run(c.args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("run(%q) = %d, stderr %q; want 1 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// TestConsoleSettlement: on the LiteSVM test chain, through the real
// server, a paid job's payout and a cancelled job's refund show in the
// Blockchain view with their signatures and amounts, with the escrow
// wallet's address and the network: in process, and attached through
// /api/payments, /api/health and /api/config.
func TestConsoleSettlement(t *testing.T) {
	pc := newPaidChain(t) // skips loudly without the test chain; fails then under CI=true
	cfg := testConfig(t.TempDir())
	cfg.Blockchain.Network = config.NetworkLocalnet
	cfg.Blockchain.SolanaRPCURL = pc.tc.URL()
	cfg.Blockchain.PayerKeypairPath = pc.escrowPath
	cfg.Blockchain.TreasuryAddress = pc.treasury
	cfg.Blockchain.PlatformFeePercent = feePercent
	set := Settings{SchedulerInterval: 50 * time.Millisecond, CheckInterval: 50 * time.Millisecond, SettleInterval: 50 * time.Millisecond}
	s, con, screen := inProcessConsole(t, cfg, set, 200, 40)
	p := newPayer(t, pc)
	alice := s.payerToken("alice", p.address)

	// A refund: a paid job cancelled while pending (no node yet).
	refundJob := s.submit(alice, paidJob(p, pc.deposit(p, jobLamports)))
	if _, err := s.jobs().CancelJob(as(alice), &pb.CancelJobRequest{JobId: refundJob, Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}
	refund := waitPayment(t, s, refundJob, domain.PaymentStatusRefunded).SettledSignature()

	// A payout: a paid job run and completed by a node with a wallet.
	node, wallet := startWalletNode(t, s, "alpha")
	paidDep := pc.deposit(p, jobLamports)
	paid := s.submit(alice, paidJob(p, paidDep))
	runJob(t, s, node, paid)
	complete(t, s, node, paid)
	payout := waitPayment(t, s, paid, domain.PaymentStatusReleased).SettledSignature()
	if payout == "" || refund == "" {
		t.Fatalf("signatures: payout %q, refund %q", payout, refund)
	}
	fee := jobLamports * feePercent / 100
	sol := func(l uint64) string { return strconv.FormatFloat(float64(l)/lamportsPerSOL, 'f', -1, 64) }

	screen.InjectKey(tcell.KeyRune, '4', tcell.ModNone)
	got := waitScreen(t, con, screen, 10*time.Second,
		"Network   localnet", "settles at confirmed", "Solana    ok", "Escrow    "+pc.escrow, "Treasury  "+pc.treasury, "platform fee 10%",
		"PAYOUTS AND REFUNDS: 1 released · 1 refunded ",
		paid[:8]+" released", refundJob[:8]+" refunded", payout[:6]+"…"+payout[len(payout)-4:], refund[:6]+"…"+refund[len(refund)-4:],
		// The newest payment, selected, in full.
		"Job       "+paid+"  released  settled ",
		"Signature "+payout,
		"Payout    "+sol(jobLamports-fee)+" SOL to "+wallet+" (node "+node.id[:8]+") + "+sol(fee)+" SOL fee",
		"Amount    "+sol(jobLamports)+" SOL from "+p.address,
		"Deposit   "+paidDep,
	)
	if strings.Contains(got, pc.escrowPath) {
		t.Errorf("the Blockchain view shows the escrow keypair's path:\n%s", got)
	}
	if *captureChainTo != "" {
		screen.SetSize(100, 30)
		con.QueueEvent(tcell.NewEventResize(100, 30))
		got := waitScreen(t, con, screen, 5*time.Second, "Signature "+payout)
		if err := os.WriteFile(*captureChainTo, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("Blockchain view:\n%s", got)
	}
	screen.InjectKey(tcell.KeyRune, 'j', tcell.ModNone) // the refund
	waitScreen(t, con, screen, 5*time.Second, "Job       "+refundJob+"  refunded", "Signature "+refund,
		"Refund    "+sol(jobLamports)+" SOL to "+p.address, "Reason    cancelled: changed my mind")
	// At 80×24 the rows and the selected payment still show.
	screen.SetSize(80, 24)
	con.QueueEvent(tcell.NewEventResize(80, 24))
	got = waitScreen(t, con, screen, 5*time.Second, "Escrow    "+pc.escrow, paid[:8]+" released", refundJob[:8]+" refunded",
		"Job       "+refundJob, "Refund    "+sol(jobLamports)+" SOL to "+p.address, "[q] Quit")
	t.Logf("at 80×24:\n%s", got)

	// Attached: the same payments from /api/payments, Solana's state from
	// /api/health.
	acon, ascreen := attachConsole(t, s.app.RESTAddr(), s.operatorToken(), 200, 40)
	ascreen.InjectKey(tcell.KeyRune, '4', tcell.ModNone)
	waitScreen(t, acon, ascreen, 10*time.Second, "● live",
		"Network   localnet", "settles at confirmed", "Escrow    "+pc.escrow, "Treasury  "+pc.treasury, "platform fee 10%",
		"Solana    ok", "settlement(s) pending",
		"PAYOUTS AND REFUNDS: 1 released · 1 refunded ", paid[:8]+" released", refundJob[:8]+" refunded",
		"Signature "+payout, "Payout    "+sol(jobLamports-fee)+" SOL to "+wallet, "Deposit   "+paidDep)
}

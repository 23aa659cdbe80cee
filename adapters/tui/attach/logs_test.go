package attach

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/adapters/tui"
)

// restServer is the REST API over logs and cfg only (/api/logs,
// /api/config, /api/health).
func restServer(t *testing.T, iss *auth.Issuer, logs *logbuf.Buffer, cfg *config.Config, escrow string) http.Handler {
	t.Helper()
	return rest.New(rest.Deps{Auth: iss, Logs: logs, Config: cfg, EscrowAddress: escrow,
		Health: func(context.Context) map[string]rest.Component {
			return map[string]rest.Component{"eventstore": {Status: "ok"}, "solana": {Status: "ok", Detail: "0 settlement(s) pending"}}
		}}, rest.Options{Version: "v-test"}, nil).Handler()
}

// count returns how many of the source's lines are exactly text.
func count(src *Source, text string) int {
	n := 0
	for _, l := range src.Logs().Lines(slog.LevelDebug, 0) {
		if l.Text == text {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServerLogsPolled: the server's lines come into the Logs view's
// buffer from /api/logs, marked, each once, at their level and time;
// after the server restarts (its lines numbered again) its new lines
// come too.
func TestServerLogsPolled(t *testing.T) {
	iss := auth.NewIssuer([]byte("attach-test-secret-0123456789abcdef"), nil)
	tok, _, err := iss.MintUser("ops", "", rest.RoleOperator, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	logs := logbuf.New(100)
	var current atomic.Pointer[http.Handler]
	h := restServer(t, iss, logs, &cfg, "")
	current.Store(&h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) }))
	defer srv.Close()

	log := slog.New(logs.Handler(slog.LevelDebug))
	log.Debug("booting")
	log.Info("gRPC serving", "address", "127.0.0.1:50051")
	src, err := New(srv.URL, tok, Options{LogPoll: 10 * time.Millisecond, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	serving := ServerLine + `"gRPC serving" address=127.0.0.1:50051`
	waitFor(t, "the server's lines", func() bool { return count(src, serving) == 1 })
	log.Warn("slow", "ms", 900)
	waitFor(t, "a new line", func() bool { return count(src, ServerLine+"slow ms=900") == 1 })
	time.Sleep(50 * time.Millisecond) // a few more polls: nothing twice
	for _, text := range []string{ServerLine + "booting", serving, ServerLine + "slow ms=900"} {
		if n := count(src, text); n != 1 {
			t.Errorf("%q is in the buffer %d times, want once", text, n)
		}
	}
	var slow logbuf.Line
	for _, l := range src.Logs().Lines(slog.LevelDebug, 0) {
		if strings.HasSuffix(l.Text, "slow ms=900") {
			slow = l
		}
	}
	if want := logs.Lines(slog.LevelWarn, 0)[0]; slow.Level != slog.LevelWarn || !slow.Time.Equal(want.Time) {
		t.Errorf("server line %+v, want level WARN at %s", slow, want.Time)
	}

	// The server restarts: a fresh buffer, numbered from 1 again.
	logs2 := logbuf.New(100)
	h2 := restServer(t, iss, logs2, &cfg, "")
	current.Store(&h2)
	slog.New(logs2.Handler(slog.LevelDebug)).Info("restarted")
	defer func() {
		if t.Failed() {
			for _, l := range src.Logs().Lines(slog.LevelDebug, 0) {
				t.Log(l.Text)
			}
		}
	}()
	waitFor(t, "the restarted server's line", func() bool { return count(src, ServerLine+"restarted") == 1 })
	if count(src, ConsoleLine+"the server restarted; its log lines start again") != 1 {
		t.Error("the console does not say the server restarted")
	}
}

// TestConfigFromServer: Settings lists the server's configuration from
// /api/config (its secret masked) and the Blockchain view its network and
// escrow wallet.
func TestConfigFromServer(t *testing.T) {
	iss := auth.NewIssuer([]byte("attach-test-secret-0123456789abcdef"), nil)
	tok, _, _ := iss.MintUser("ops", "", rest.RoleAdmin, time.Hour)
	cfg := config.Default()
	cfg.Server.GRPCAddress = "10.0.0.7:50051"
	cfg.Server.CORSOrigins = config.NewList("https://a.example", "https://b.example")
	cfg.JWT.Secret = "never-shown-0123456789abcdef0123456789"
	cfg.Blockchain.Network = config.NetworkDevnet
	cfg.Blockchain.TreasuryAddress = "Treasury1111"
	cfg.Blockchain.PlatformFeePercent = 7
	cfg.Blockchain.SolanaRPCURL = "https://rpc.example.com/?api-key=hidden-key"
	srv := httptest.NewServer(restServer(t, iss, logbuf.New(10), &cfg, "Escrow1111"))
	defer srv.Close()
	src, err := New(srv.URL, tok, Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := src.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range set.Items {
		got[it.Key] = it.Value
	}
	for k, want := range map[string]string{
		"server.grpc_address": "10.0.0.7:50051", "server.cors_origins": "[https://a.example https://b.example]",
		"jwt.secret": config.Mask, "scheduler.max_jobs_per_node": strconv.Itoa(cfg.Scheduler.MaxJobsPerNode), "blockchain.escrow_address": "Escrow1111",
		"blockchain.solana_rpc_url": "https://rpc.example.com/?api-key=REDACTED",
		"server.version":            "v-test", "console.api": srv.URL, "console.token": config.Mask,
	} {
		if got[k] != want {
			t.Errorf("setting %s = %q, want %q", k, got[k], want)
		}
	}
	if len(set.Items) != len(config.Keys())+4 || set.Items[0].Key != config.Keys()[0] || !strings.Contains(set.Note, "/api/config") {
		t.Errorf("%d items (first %v), note %q", len(set.Items), set.Items[0], set.Note)
	}
	for _, it := range set.Items {
		if strings.Contains(it.Value, "never-shown") || strings.Contains(it.Value, "hidden-key") {
			t.Errorf("%s shows a secret: %s", it.Key, it.Value)
		}
	}
	ch, err := src.Chain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := tui.Chain{Enabled: true, Network: "devnet", RPC: "https://rpc.example.com/?api-key=REDACTED", Escrow: "Escrow1111",
		Treasury: "Treasury1111", FeePercent: 7, Confirmation: cfg.Blockchain.Confirmation, Status: "ok", Detail: "0 settlement(s) pending"}
	if ch != want {
		t.Errorf("chain %+v\nwant  %+v", ch, want)
	}

	// Settlement off.
	cfg.Blockchain.Network = config.NetworkDisabled
	if ch, _ := src.Chain(context.Background()); ch.Enabled || ch.Network != "disabled" {
		t.Errorf("settlement off: %+v", ch)
	}
}

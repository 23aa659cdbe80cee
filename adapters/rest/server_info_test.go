package rest_test

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/rest"
)

func seqsOf(l rest.LogListJSON) []uint64 {
	out := []uint64{}
	for _, line := range l.Lines {
		out = append(out, line.Seq)
	}
	return out
}

// TestLogs: /api/logs serves the buffered lines oldest first, at or above
// ?level= (default info), after ?after=, with the buffer's log_id; a
// poller that passes last_seq back gets each line once.
func TestLogs(t *testing.T) {
	x := newEnv(t)
	var empty rest.LogListJSON
	a := x.get("/api/logs", http.StatusOK, &empty)
	if len(empty.Lines) != 0 || empty.LastSeq != 0 || empty.LogID == "" || !strings.Contains(string(a.body), `"lines":[]`) {
		t.Fatalf("empty buffer: %s", a.body)
	}

	log := slog.New(x.logs.Handler(slog.LevelDebug)).With("component", "grpc")
	log.Debug("d1")                       // 1
	log.Info("job submitted", "job", "j") // 2
	log.Warn("w1")                        // 3
	log.Error("e1", "err", "boom")        // 4
	for _, c := range []struct {
		query   string
		want    []uint64
		lastSeq uint64
	}{
		{"", []uint64{2, 3, 4}, 4},
		{"?level=debug", []uint64{1, 2, 3, 4}, 4},
		{"?level=info", []uint64{2, 3, 4}, 4},
		{"?level=warn", []uint64{3, 4}, 4},
		{"?level=error", []uint64{4}, 4},
		{"?level=error&after=4", []uint64{}, 4},
		{"?after=2", []uint64{3, 4}, 4},
		{"?level=debug&limit=2", []uint64{1, 2}, 2}, // a full page: continue after its last line
		{"?level=debug&after=2&limit=2", []uint64{3, 4}, 4},
		{"?level=error&limit=1", []uint64{4}, 4},
		{"?after=0&limit=1000", []uint64{2, 3, 4}, 4},
		{"?after=99", []uint64{}, 4},
	} {
		var got rest.LogListJSON
		x.get("/api/logs"+c.query, http.StatusOK, &got)
		if !slices.Equal(seqsOf(got), c.want) || got.LastSeq != c.lastSeq || got.LogID != x.logs.ID() {
			t.Errorf("/api/logs%s: seqs %v last_seq %d; want %v and %d", c.query, seqsOf(got), got.LastSeq, c.want, c.lastSeq)
		}
	}
	var all rest.LogListJSON
	x.get("/api/logs?level=debug", http.StatusOK, &all)
	want := []struct{ level, text string }{
		{"debug", "d1 component=grpc"},
		{"info", `"job submitted" component=grpc job=j`},
		{"warn", "w1 component=grpc"},
		{"error", "e1 component=grpc err=boom"},
	}
	for i, w := range want {
		l := all.Lines[i]
		if l.Level != w.level || l.Text != w.text || time.Since(l.Time) > time.Minute || l.Time.Location() != time.UTC {
			t.Errorf("line %d: %+v; want %s %q, a recent UTC time", i, l, w.level, w.text)
		}
	}

	// Polling: each line once, new ones as they come.
	after, polled := uint64(0), []uint64{}
	poll := func() {
		var page rest.LogListJSON
		x.get("/api/logs?level=debug&limit=3&after="+strconv.FormatUint(after, 10), http.StatusOK, &page)
		polled = append(polled, seqsOf(page)...)
		after = page.LastSeq
	}
	poll()
	poll()
	log.Info("later") // 5
	poll()
	poll()
	if !slices.Equal(polled, []uint64{1, 2, 3, 4, 5}) || after != 5 {
		t.Errorf("polled %v up to %d; want each line once, up to 5", polled, after)
	}
}

// TestConfig: /api/config is the effective configuration by section and
// key, secrets masked, with the escrow address when settlement is on and
// the version.
func TestConfig(t *testing.T) {
	x := newEnv(t, func(d *rest.Deps, _ *rest.Options) {
		d.Config.Blockchain.Network = config.NetworkDevnet
		d.EscrowAddress = "Escr0wAddre55Escr0wAddre55Escr0wAddre55xyz"
	})
	var got map[string]any
	a := x.get("/api/config", http.StatusOK, &got)
	for _, s := range testCfgSecrets {
		if strings.Contains(string(a.body), s) {
			t.Fatalf("/api/config shows a secret (%s): %s", s, a.body)
		}
	}
	section := func(name string) map[string]any {
		m, ok := got[name].(map[string]any)
		if !ok {
			t.Fatalf("no section %s in %s", name, a.body)
		}
		return m
	}
	for _, c := range []struct {
		sec, key string
		want     any
	}{
		{"server", "grpc_address", "127.0.0.1:50099"},
		{"jwt", "secret", config.Mask},
		{"database", "url", "postgresql://cyxwiz:REDACTED@db:5432/cyxwiz?sslmode=disable"},
		{"blockchain", "solana_rpc_url", "https://rpc.example.com/?api-key=REDACTED"},
		{"blockchain", "network", "devnet"},
		{"eventstore", "esdb_url", "esdb://admin:REDACTED@es:2113?tls=false"},
		{"scheduler", "max_jobs_per_node", float64(x.cfg.Scheduler.MaxJobsPerNode)},
	} {
		if v := section(c.sec)[c.key]; v != c.want {
			t.Errorf("%s.%s = %#v, want %#v", c.sec, c.key, v, c.want)
		}
	}
	if l, ok := section("server")["cors_origins"].([]any); !ok || len(l) != 0 {
		t.Errorf("server.cors_origins = %#v, want []", section("server")["cors_origins"])
	}
	n := 0
	for _, sec := range []string{"server", "database", "redis", "blockchain", "scheduler", "jwt", "eventstore", "limits"} {
		n += len(section(sec))
	}
	if n != len(config.Keys()) {
		t.Errorf("%d keys served, want all %d", n, len(config.Keys()))
	}
	if got["escrow_address"] != "Escr0wAddre55Escr0wAddre55Escr0wAddre55xyz" || got["version"] != "test" {
		t.Errorf("escrow_address %v, version %v", got["escrow_address"], got["version"])
	}
	if x.cfg.JWT.Secret != testCfgSecrets[0] {
		t.Error("serving the configuration changed it")
	}

	// Settlement off: no escrow address.
	y := newEnv(t, func(d *rest.Deps, _ *rest.Options) { d.EscrowAddress = "stale" })
	var off map[string]any
	y.get("/api/config", http.StatusOK, &off)
	if _, has := off["escrow_address"]; has {
		t.Errorf("escrow_address with settlement off: %v", off)
	}
}

// TestLogsAndConfigUnavailable: a server built without them answers 503.
func TestLogsAndConfigUnavailable(t *testing.T) {
	x := newEnv(t, func(d *rest.Deps, _ *rest.Options) { d.Logs, d.Config = nil, nil })
	for _, path := range []string{"/api/logs", "/api/config"} {
		a := x.do(http.MethodGet, path, x.token, nil)
		if a.status != http.StatusServiceUnavailable || a.err(t).Error.Code != rest.CodeUnavailable {
			t.Errorf("GET %s = %d %s; want 503 unavailable", path, a.status, a.body)
		}
	}
}

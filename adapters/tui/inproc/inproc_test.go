package inproc

import (
	"context"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/tui"
	"github.com/cyxwiz/central-server/projections"
	projmem "github.com/cyxwiz/central-server/projections/memory"
)

// TestSettingsMaskSecrets: every key is listed; secrets never are.
func TestSettingsMaskSecrets(t *testing.T) {
	cfg := config.Default()
	cfg.JWT.Secret = "s3cret-signing-key"
	cfg.Database.URL = "postgresql://cyxwiz:pa55word@db:5432/cyxwiz"
	cfg.Redis.URL = "redis://:redispass@cache:6379"
	cfg.Blockchain.SolanaRPCURL = "https://rpc.example.com/?api-key=KEY123"
	cfg.Blockchain.PayerKeypairPath = "/etc/cyxwiz/payer.json"
	cfg.Server.CORSOrigins = config.NewList("https://a.example", "https://b.example")
	got := map[string]string{}
	for _, s := range Settings(cfg) {
		got[s.Key] = s.Value
	}
	if len(got) != len(config.Keys()) {
		t.Errorf("%d settings, want every one of the %d keys", len(got), len(config.Keys()))
	}
	for _, c := range []struct{ key, want string }{
		{"jwt.secret", config.Mask},
		{"database.url", "postgresql://cyxwiz:" + config.Mask + "@db:5432/cyxwiz"},
		{"redis.url", "redis://:" + config.Mask + "@cache:6379"},
		{"blockchain.solana_rpc_url", "https://rpc.example.com/?api-key=" + config.Mask},
		{"blockchain.payer_keypair_path", "/etc/cyxwiz/payer.json"}, // a path, not a key
		{"server.cors_origins", "[https://a.example https://b.example]"},
		{"scheduler.max_jobs_per_node", "5"},
	} {
		if got[c.key] != c.want {
			t.Errorf("%s = %q, want %q", c.key, got[c.key], c.want)
		}
	}
	for k, v := range got {
		for _, secret := range []string{"s3cret", "pa55word", "redispass", "KEY123"} {
			if strings.Contains(v, secret) {
				t.Errorf("%s shows the secret %q", k, v)
			}
		}
	}
}

func TestJobQueryErrors(t *testing.T) {
	m := projmem.New(projmem.Config{})
	s := New(Deps{Jobs: m, Nodes: m, Stats: m, Activity: m})
	for _, q := range []tui.JobQuery{{Status: "finished"}, {Type: "mining"}} {
		if _, err := s.Jobs(context.Background(), q); err == nil {
			t.Errorf("Jobs(%+v) accepted an unknown filter", q)
		}
	}
	if _, _, err := s.Activity(context.Background(), 10, "x"); err == nil {
		t.Error("Activity accepted a bad cursor")
	}
	s.Observe(nil) // nothing applied: no signal
	select {
	case <-s.Changes():
		t.Error("an empty batch signalled a change")
	default:
	}
	s.Observe([]projections.Envelope{{Position: 3}})
	s.Observe([]projections.Envelope{{Position: 4}}) // never blocks
	if c := s.Conn(); c.Position != 4 || !c.Live {
		t.Errorf("Conn %+v", c)
	}
}

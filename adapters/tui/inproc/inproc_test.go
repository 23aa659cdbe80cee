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

// TestChain: with settlement on, the escrow wallet is its address (never
// the keypair's path), with the network, treasury, fee, confirmation
// level and Solana's health; off, it says disabled.
func TestChain(t *testing.T) {
	m := projmem.New(projmem.Config{})
	cfg := config.Default()
	cfg.Blockchain.Network = config.NetworkDevnet
	cfg.Blockchain.SolanaRPCURL = "https://rpc.example.com/?api-key=KEY123"
	cfg.Blockchain.PayerKeypairPath = "/etc/cyxwiz/escrow.json"
	cfg.Blockchain.TreasuryAddress = "Treasury1111111111111111111111111111111111"
	cfg.Blockchain.PlatformFeePercent = 7
	health := func(context.Context) []tui.Component {
		return []tui.Component{{Name: "solana", Status: "degraded", Detail: "1 settlement(s) waiting: timeout"}}
	}
	s := New(Deps{Jobs: m, Nodes: m, Stats: m, Activity: m, Config: cfg, Health: health, EscrowAddress: "Escrow11111111111111111111111111111111111111"})
	c, err := s.Chain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := tui.Chain{Enabled: true, Network: "devnet", RPC: "https://rpc.example.com/?api-key=" + config.Mask,
		Escrow: "Escrow11111111111111111111111111111111111111", Treasury: "Treasury1111111111111111111111111111111111",
		FeePercent: 7, Confirmation: config.ConfirmationConfirmed, Status: "degraded", Detail: "1 settlement(s) waiting: timeout"}
	if c != want {
		t.Errorf("Chain\n got %+v\nwant %+v", c, want)
	}

	s = New(Deps{Jobs: m, Nodes: m, Stats: m, Activity: m, Config: config.Default(),
		Health: func(context.Context) []tui.Component { return []tui.Component{{Name: "solana", Status: "disabled"}} }})
	if c, _ := s.Chain(context.Background()); c.Enabled || c.Network != config.NetworkDisabled || c.Status != "disabled" || c.Escrow != "" {
		t.Errorf("disabled: Chain %+v", c)
	}
}

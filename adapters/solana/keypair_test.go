package solana_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	chain "github.com/cyxwiz/central-server/adapters/solana"
)

func TestKeypairRoundTrip(t *testing.T) {
	key, err := chain.NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sub", "escrow.json")
	if err := chain.WriteKeypair(path, key); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("keypair file mode = %v, want 0600", info.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	var nums []int
	if err := json.Unmarshal(data, &nums); err != nil || len(nums) != 64 {
		t.Fatalf("file is not the Solana CLI format (JSON array of 64 bytes): %s", data)
	}
	got, err := chain.LoadKeypair(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.PublicKey().Equals(key.PublicKey()) || string(got) != string(key) {
		t.Fatalf("loaded %s, wrote %s", got.PublicKey(), key.PublicKey())
	}
}

func TestParseKeypairRefuses(t *testing.T) {
	key, _ := chain.NewKeypair()
	good, _ := chain.MarshalKeypair(key)
	var nums []int
	_ = json.Unmarshal(good, &nums)
	tampered := append([]int(nil), nums...)
	tampered[40] ^= 1 // public half no longer matches the seed
	enc := func(v []int) string { b, _ := json.Marshal(v); return string(b) }
	outOfRange := append([]int(nil), nums...)
	outOfRange[0] = 256

	for _, tc := range []struct {
		name, data, want string
	}{
		{"not json", "hello", "not a JSON array"},
		{"too short", enc(nums[:32]), "want 64 bytes"},
		{"out of range", enc(outOfRange), "out of range"},
		{"mismatched public key", enc(tampered), "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := chain.ParseKeypair([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	key, _ := chain.NewKeypair()
	for _, tc := range []struct {
		name string
		cfg  chain.Config
		want string
	}{
		{"no url", chain.Config{Keypair: key}, "RPC URL"},
		{"no keypair", chain.Config{RPCURL: "http://127.0.0.1:1"}, "keypair"},
		{"missing keypair file", chain.Config{RPCURL: "http://127.0.0.1:1", KeypairPath: filepath.Join(t.TempDir(), "nope.json")}, "no such file"},
		{"bad commitment", chain.Config{RPCURL: "http://127.0.0.1:1", Keypair: key, Commitment: "rooted"}, "commitment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := chain.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestValidAddress(t *testing.T) {
	key, _ := chain.NewKeypair()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{key.PublicKey().String(), true},
		{"11111111111111111111111111111111", true},
		{"", false},
		{"0OIl", false},
		{"abc", false},
		{key.PublicKey().String() + "x", false},
	} {
		if err := chain.ValidAddress(tc.addr); (err == nil) != tc.ok {
			t.Errorf("ValidAddress(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

package auth

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoadOrCreateSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested") // does not exist yet
	first, created, err := LoadOrCreateSecret(dir)
	if err != nil || !created {
		t.Fatalf("first call = %v, created %v", err, created)
	}
	if len(first) != 64 {
		t.Fatalf("secret is %d bytes, want 64 hex characters", len(first))
	}
	if _, err := hex.DecodeString(string(first)); err != nil {
		t.Fatalf("secret is not hex: %v", err)
	}

	path := filepath.Join(dir, SecretFileName)
	tests := []struct {
		path  string
		check func(os.FileMode) bool
		want  string
	}{
		{path, func(m os.FileMode) bool { return m == 0o600 }, "0600"},
		{dir, func(m os.FileMode) bool { return m&0o077 == 0 }, "no group or other access"},
	}
	for _, tt := range tests {
		info, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if m := info.Mode().Perm(); !tt.check(m) {
			t.Errorf("%s has mode %v, want %s", tt.path, m, tt.want)
		}
	}

	again, created, err := LoadOrCreateSecret(dir)
	if err != nil || created {
		t.Fatalf("second call = %v, created %v", err, created)
	}
	if string(again) != string(first) {
		t.Fatal("second call returned a different secret")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s (temp file left behind?)", len(entries), SecretFileName)
	}

	// A token minted with the secret verifies with the re-read secret.
	tok, _, err := NewIssuer(first, nil).MintUser("alice", "", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewIssuer(again, nil).Verify(tok); err != nil {
		t.Fatalf("Verify with re-read secret = %v", err)
	}
}

func TestLoadOrCreateSecretExistingFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
		wantErr string
	}{
		{"operator-provided, trailing newline trimmed", strings.Repeat("k", 40) + "\n", strings.Repeat("k", 40), ""},
		{"too short", "short\n", "", "fewer than 32"},
		{"empty", "", "", "delete it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, SecretFileName), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, created, err := LoadOrCreateSecret(dir)
			if created {
				t.Error("created a new secret over an existing file")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("LoadOrCreateSecret = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, _, err := LoadOrCreateSecret(""); err == nil {
		t.Error("empty data dir accepted")
	}
}

// TestSecretFileLoosePermissions: a secret other users may read is refused.
func TestSecretFileLoosePermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SecretFileName)
	if err := os.WriteFile(path, []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateSecret(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable secret: err = %v, want a refusal naming chmod 600", err)
	}
}

func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	secrets := make([]string, n)
	var created int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, c, err := LoadOrCreateSecret(dir)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			secrets[i] = string(s)
			if c {
				created++
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Errorf("%d callers created the secret, want 1", created)
	}
	for i := range secrets {
		if secrets[i] != secrets[0] {
			t.Fatalf("callers disagree on the secret: %q vs %q", secrets[i], secrets[0])
		}
	}
}

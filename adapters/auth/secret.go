package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretFileName is the file in the data directory holding the generated secret.
const SecretFileName = "jwt_secret"

// MinSecretBytes is the shortest secret accepted from the secret file.
const MinSecretBytes = 32

// LoadOrCreateSecret returns the HS256 secret kept in <dataDir>/jwt_secret,
// creating it on first use: 32 random bytes, hex-encoded (64 characters),
// written atomically with mode 0600 (dataDir is created 0700 if missing).
// The secret is the file's text itself, trimmed of surrounding whitespace,
// used as-is as the key, just like jwt.secret in config.toml, so tools that
// read the file can mint tokens with it directly. created reports whether
// this call wrote the file.
func LoadOrCreateSecret(dataDir string) (secret []byte, created bool, err error) {
	if dataDir == "" {
		return nil, false, errors.New("auth: jwt secret: no data directory given")
	}
	path := filepath.Join(dataDir, SecretFileName)
	if s, err := readSecret(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("auth: jwt secret: create data directory: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, fmt.Errorf("auth: jwt secret: %w", err)
	}
	secret = []byte(hex.EncodeToString(raw))

	tmp, err := os.CreateTemp(dataDir, "."+SecretFileName+"-*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("auth: jwt secret: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once linked or renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("auth: jwt secret: %w", err)
	}
	if _, err := tmp.Write(append(secret, '\n')); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("auth: jwt secret: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("auth: jwt secret: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("auth: jwt secret: %w", err)
	}

	// Link, not rename, so that when two processes race to create the secret
	// both end up with the one that landed first. Where hard links are not
	// supported, fall back to rename.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			s, err := readSecret(path)
			return s, false, err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, false, fmt.Errorf("auth: jwt secret: %w", err)
		}
	}
	syncDir(dataDir)
	return secret, true, nil
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: jwt secret: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth: jwt secret file %s has mode %s: other users may read the key that signs every token; "+
			"run `chmod 600 %s` (and consider the secret leaked: delete the file to have a new one generated)", path, fi.Mode().Perm(), path)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("auth: jwt secret file %s holds %d bytes, fewer than %d; "+
			"delete it to have a new one generated (tokens signed with the old one stop working)", path, len(b), MinSecretBytes)
	}
	return b, nil
}

// syncDir makes a new directory entry durable; failure is harmless enough
// (the file itself was synced) to ignore.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

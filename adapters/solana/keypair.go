package solana

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	solanago "github.com/gagliardetto/solana-go"
)

// LoadKeypair reads a keypair file in the Solana CLI format: a JSON array of
// 64 numbers, the ed25519 seed followed by the public key.
func LoadKeypair(path string) (solanago.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keypair: %w", err)
	}
	key, err := ParseKeypair(data)
	if err != nil {
		return nil, fmt.Errorf("keypair %s: %w", path, err)
	}
	return key, nil
}

// ParseKeypair decodes a keypair in the Solana CLI JSON format and checks
// that its public half matches its seed.
func ParseKeypair(data []byte) (solanago.PrivateKey, error) {
	var nums []int
	if err := json.Unmarshal(data, &nums); err != nil {
		return nil, fmt.Errorf("not a JSON array of bytes: %w", err)
	}
	if len(nums) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("want %d bytes, got %d", ed25519.PrivateKeySize, len(nums))
	}
	raw := make([]byte, len(nums))
	for i, n := range nums {
		if n < 0 || n > 255 {
			return nil, fmt.Errorf("byte %d out of range: %d", i, n)
		}
		raw[i] = byte(n)
	}
	derived := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
	if !bytes.Equal(derived, raw) {
		return nil, fmt.Errorf("public key does not match the secret key")
	}
	return solanago.PrivateKey(raw), nil
}

// MarshalKeypair encodes key in the Solana CLI JSON format.
func MarshalKeypair(key solanago.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("keypair: want %d bytes, got %d", ed25519.PrivateKeySize, len(key))
	}
	nums := make([]int, len(key))
	for i, b := range key {
		nums[i] = int(b)
	}
	return json.Marshal(nums)
}

// WriteKeypair writes key to path in the Solana CLI JSON format, readable by
// its owner only, creating the parent directory when needed.
func WriteKeypair(path string, key solanago.PrivateKey) error {
	data, err := MarshalKeypair(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keypair: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("keypair: %w", err)
	}
	return nil
}

// NewKeypair generates a fresh keypair.
func NewKeypair() (solanago.PrivateKey, error) {
	return solanago.NewRandomPrivateKey()
}

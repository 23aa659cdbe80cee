package domain

import (
	"errors"
	"fmt"
	"strings"
)

// MaxAddressBytes bounds an address before it is decoded: a 32-byte key
// is at most 44 base58 characters.
const MaxAddressBytes = 64

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// CheckAddress is the one check of a Solana account address's form: base58
// that decodes to exactly 32 bytes, the length of an ed25519 public key.
// It does not check that the key is on the curve: a program-derived
// address (off the curve) can receive payments too. The error says what is
// wrong, for a person.
func CheckAddress(address string) error {
	if address == "" {
		return errors.New("empty")
	}
	if len(address) > MaxAddressBytes {
		return fmt.Errorf("%d characters; a Solana address has 32 to 44", len(address))
	}
	b, err := decodeBase58(address)
	if err != nil {
		return err
	}
	if len(b) != 32 {
		return fmt.Errorf("decodes to %d bytes; a Solana address (an ed25519 public key) is 32", len(b))
	}
	return nil
}

// decodeBase58 decodes Bitcoin-alphabet base58 (Solana's); inputs are
// short (the caller bounds them), so the quadratic loop is fine.
func decodeBase58(s string) ([]byte, error) {
	var out []byte // big-endian, without the leading zeros
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("character %q at %d is not base58 (0, O, I and l are not in the alphabet)", s[i], i)
		}
		carry := d
		for j := len(out) - 1; j >= 0; j-- {
			carry += int(out[j]) * 58
			out[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			out = append([]byte{byte(carry)}, out...)
			carry >>= 8
		}
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	return append(make([]byte, zeros), out...), nil
}

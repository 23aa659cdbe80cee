// Package uuid parses, formats and generates the UUIDs that identify
// events. It is deliberately tiny so that the eventstore packages depend on
// the standard library only.
package uuid

import (
	"crypto/rand"
	"errors"
)

// UUID is a 16-byte universally unique identifier.
type UUID [16]byte

// ErrSyntax is returned by Parse for text that is not a canonical UUID.
var ErrSyntax = errors.New("not a UUID in 8-4-4-4-12 hex form")

// dashes are the offsets of the '-' separators in the canonical form.
var dashes = [4]int{8, 13, 18, 23}

// Parse reads the canonical 36-character form
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, in either case.
func Parse(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 {
		return u, ErrSyntax
	}
	for _, d := range dashes {
		if s[d] != '-' {
			return u, ErrSyntax
		}
	}
	j := 0
	for i := 0; i < 36; {
		if s[i] == '-' {
			i++
			continue
		}
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return u, ErrSyntax
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, nil
}

// String returns the canonical lower-case form.
func (u UUID) String() string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(b[:])
}

// New returns a random (version 4) UUID.
func New() UUID {
	var u UUID
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// NewString returns New().String().
func NewString() string { return New().String() }

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

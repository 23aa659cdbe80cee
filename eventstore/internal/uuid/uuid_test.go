package uuid

import (
	"strings"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	for range 100 {
		u := New()
		s := u.String()
		if s[14] != '4' {
			t.Fatalf("%s: version nibble is not 4", s)
		}
		got, err := Parse(s)
		if err != nil || got != u {
			t.Fatalf("Parse(%q) = %v, %v; want %v", s, got, err, u)
		}
		got, err = Parse(strings.ToUpper(s))
		if err != nil || got != u {
			t.Fatalf("Parse(upper %q) = %v, %v", s, got, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"not-a-uuid",
		"123e4567-e89b-12d3-a456-42661417400",   // short
		"123e4567-e89b-12d3-a456-4266141740000", // long
		"123e4567xe89b-12d3-a456-426614174000",  // separator
		"123e4567-e89b-12d3-a456-42661417400g",  // hex
		"{23e4567-e89b-12d3-a456-426614174000}",
		"123e4567-e89b-12d3-a4-56426614174000",
	} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("123e4567-e89b-12d3-a456-426614174000")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(u.String(), s) {
			t.Fatalf("Parse(%q).String() = %q", s, u.String())
		}
	})
}

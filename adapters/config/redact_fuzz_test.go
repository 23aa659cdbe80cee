package config

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedactURL: redaction never panics, and what it returns shows no
// key-like path segment and no password.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"https://solana-mainnet.g.alchemy.com/v2/Xk9aB3dE7fG1hJ2kL4mN6pQ8",
		"postgresql://u:hunter2@db:5432/x?sslmode=disable", "https://rpc.example.com/?api-key=k", "http://[::1]:8899/a/b", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := redactURL(raw)
		if out == Mask || out == "" {
			return
		}
		u, err := url.Parse(out)
		if err != nil {
			return
		}
		if p, ok := u.User.Password(); ok && p != Mask {
			t.Fatalf("password %q left in %q", p, out)
		}
		for seg := range strings.SplitSeq(u.Path, "/") {
			if secretSegment(seg) {
				t.Fatalf("key-like segment %q left in %q", seg, out)
			}
		}
	})
}

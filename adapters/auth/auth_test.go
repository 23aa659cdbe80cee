package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef-test")
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newIssuer(opts ...Option) (*Issuer, *clock) {
	c := &clock{t: t0}
	return NewIssuer(secret, c.now, opts...), c
}

// b64 is base64url without padding, as JWT uses.
func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// handMade builds a token from header and claims, HMAC-SHA256-signed with key
// when key is not nil, else with signature sig as given.
func handMade(header, claims map[string]any, key []byte, sig string) string {
	s := b64(header) + "." + b64(claims)
	if key != nil {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		sig = base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	return s + "." + sig
}

func exp(d time.Duration) int64 { return t0.Add(d).Unix() }

func TestRoundTrips(t *testing.T) {
	iss, _ := newIssuer()
	tests := []struct {
		name string
		mint func() (string, time.Time, error)
		want Principal
	}{
		{"user with wallet and role",
			func() (string, time.Time, error) { return iss.MintUser("alice", "WaLLet111", "admin", time.Hour) },
			Principal{Kind: KindUser, Subject: "alice", Wallet: "WaLLet111", Role: "admin", ExpiresAt: t0.Add(time.Hour)}},
		{"bare user",
			func() (string, time.Time, error) { return iss.MintUser("bob", "", "", time.Minute) },
			Principal{Kind: KindUser, Subject: "bob", ExpiresAt: t0.Add(time.Minute)}},
		{"node session",
			func() (string, time.Time, error) { return iss.MintNodeSession("node-1", "alice", 24*time.Hour) },
			Principal{Kind: KindNode, Subject: "alice", NodeID: "node-1", ExpiresAt: t0.Add(24 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, expAt, err := tt.mint()
			if err != nil {
				t.Fatal(err)
			}
			if !expAt.Equal(tt.want.ExpiresAt) {
				t.Errorf("expiry = %v, want %v", expAt, tt.want.ExpiresAt)
			}
			got, err := iss.Verify(tok)
			if err != nil {
				t.Fatalf("Verify = %v", err)
			}
			got.ExpiresAt, tt.want.ExpiresAt = got.ExpiresAt.UTC(), tt.want.ExpiresAt.UTC()
			if got != tt.want {
				t.Errorf("Verify = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("p2p", func(t *testing.T) {
		tok, expAt, err := iss.MintP2P("job-9", "node-1", "alice", 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !expAt.Equal(t0.Add(5 * time.Minute)) {
			t.Errorf("expiry = %v", expAt)
		}
		job, node, user, err := iss.VerifyP2P(tok)
		if err != nil || job != "job-9" || node != "node-1" || user != "alice" {
			t.Fatalf("VerifyP2P = %q %q %q %v", job, node, user, err)
		}
	})
}

func TestVerifyRefuses(t *testing.T) {
	iss, _ := newIssuer()
	p2p, _, _ := iss.MintP2P("job-9", "node-1", "alice", time.Hour)
	expired, _, _ := NewIssuer(secret, func() time.Time { return t0.Add(-2 * time.Hour) }).MintUser("alice", "", "", time.Hour)
	otherKey, _, _ := NewIssuer([]byte("another-secret-another-secret-xxxx"), func() time.Time { return t0 }).MintUser("alice", "", "", time.Hour)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"sub": "alice", "exp": exp(time.Hour)}).SignedString(secret)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs256, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "alice", "exp": exp(time.Hour)}).SignedString(rsaKey)
	hs := map[string]any{"alg": "HS256", "typ": "JWT"}

	tests := []struct {
		name    string
		token   string
		kind    error
		message string // substring of the error a person reads
	}{
		{"empty", "", ErrMissingToken, "authorization: Bearer"},
		{"expired", expired, ErrExpired, "token expired at 2026-03-01T11:00:00Z; mint a new one with `cyxwiz-central token --sub NAME`"},
		{"wrong signature", otherKey, ErrInvalidToken, "signature does not match"},
		{"alg none, no signature",
			handMade(map[string]any{"alg": "none", "typ": "JWT"}, map[string]any{"sub": "alice", "exp": exp(time.Hour)}, nil, ""),
			ErrInvalidToken, `alg "none"`},
		{"alg none, HMAC signature attached",
			handMade(map[string]any{"alg": "none"}, map[string]any{"sub": "alice", "exp": exp(time.Hour)}, secret, ""),
			ErrInvalidToken, `alg "none"`},
		{"alg None spelled oddly",
			handMade(map[string]any{"alg": "nOnE"}, map[string]any{"sub": "alice", "exp": exp(time.Hour)}, nil, ""),
			ErrInvalidToken, "HS256 only"},
		{"HS512", hs512, ErrInvalidToken, `alg "HS512"`},
		{"RS256", rs256, ErrInvalidToken, `alg "RS256"`},
		{"RS256 header over an HMAC signature",
			handMade(map[string]any{"alg": "RS256"}, map[string]any{"sub": "alice", "exp": exp(time.Hour)}, secret, ""),
			ErrInvalidToken, `alg "RS256"`},
		{"missing exp", handMade(hs, map[string]any{"sub": "alice"}, secret, ""), ErrInvalidToken, `no "exp" claim`},
		{"missing sub", handMade(hs, map[string]any{"exp": exp(time.Hour)}, secret, ""), ErrInvalidToken, `no "sub" claim`},
		{"empty sub", handMade(hs, map[string]any{"sub": "", "exp": exp(time.Hour)}, secret, ""), ErrInvalidToken, `no "sub" claim`},
		{"node session without node_id",
			handMade(hs, map[string]any{"sub": "alice", "typ": "node_session", "exp": exp(time.Hour)}, secret, ""),
			ErrInvalidToken, "node_id"},
		{"p2p token", p2p, ErrInvalidToken, "peer-to-peer token for compute node node-1"},
		{"p2p typ without audience",
			handMade(hs, map[string]any{"sub": "alice", "typ": "p2p", "exp": exp(time.Hour)}, secret, ""),
			ErrInvalidToken, "peer-to-peer"},
		{"other audience", handMade(hs, map[string]any{"sub": "alice", "aud": "cyxwiz-node", "exp": exp(time.Hour)}, secret, ""),
			ErrInvalidToken, `audience "cyxwiz-node"`},
		{"unknown typ", handMade(hs, map[string]any{"sub": "alice", "typ": "admin", "exp": exp(time.Hour)}, secret, ""),
			ErrInvalidToken, `unknown token type "admin"`},
		{"malformed", "not.a.jwt", ErrInvalidToken, "malformed"},
		{"two parts", "abc.def", ErrInvalidToken, "malformed"},
		{"exp as string", handMade(hs, map[string]any{"sub": "alice", "exp": "tomorrow"}, secret, ""), ErrInvalidToken, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := iss.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", p)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("Verify = %v; want errors.Is %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("Verify error\n  %s\ndoes not contain\n  %s", err, tt.message)
			}
			if p != (Principal{}) {
				t.Errorf("Verify returned a principal with its error: %+v", p)
			}
		})
	}
}

func TestExpiryAndLeeway(t *testing.T) {
	tests := []struct {
		name    string
		leeway  time.Duration
		advance time.Duration
		wantErr error
	}{
		{"just before exp", 0, time.Hour - time.Second, nil},
		{"at exp", 0, time.Hour, ErrExpired},
		{"after exp", 0, time.Hour + time.Second, ErrExpired},
		{"after exp within leeway", 30 * time.Second, time.Hour + 20*time.Second, nil},
		{"after exp beyond leeway", 30 * time.Second, time.Hour + 31*time.Second, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, clk := newIssuer(WithLeeway(tt.leeway))
			user, _, err := iss.MintUser("alice", "", "", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			node, _, err := iss.MintNodeSession("node-1", "alice", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			p2p, _, err := iss.MintP2P("job", "node-1", "alice", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			clk.t = t0.Add(tt.advance)
			if _, err := iss.Verify(user); !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Errorf("user: Verify = %v, want %v", err, tt.wantErr)
			}
			_, err = iss.Verify(node)
			if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Errorf("node: Verify = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "register the node again") {
				t.Errorf("node session expiry message %q does not say what to do", err)
			}
			if _, _, _, err := iss.VerifyP2P(p2p); !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Errorf("p2p: VerifyP2P = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyP2PRefuses(t *testing.T) {
	iss, _ := newIssuer()
	user, _, _ := iss.MintUser("alice", "", "", time.Hour)
	node, _, _ := iss.MintNodeSession("node-1", "alice", time.Hour)
	other, _, _ := NewIssuer([]byte("another-secret-another-secret-xxxx"), func() time.Time { return t0 }).MintP2P("j", "n", "u", time.Hour)
	tests := []struct {
		name  string
		token string
		kind  error
	}{
		{"user token", user, ErrInvalidToken},
		{"node session", node, ErrInvalidToken},
		{"other secret", other, ErrInvalidToken},
		{"no job id", handMade(map[string]any{"alg": "HS256"},
			map[string]any{"sub": "u", "typ": "p2p", "aud": "cyxwiz-node", "node_id": "n", "exp": exp(time.Hour)}, secret, ""),
			ErrInvalidToken},
		{"empty", " ", ErrMissingToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := iss.VerifyP2P(tt.token); !errors.Is(err, tt.kind) {
				t.Errorf("VerifyP2P = %v, want %v", err, tt.kind)
			}
		})
	}
}

func TestMintRefuses(t *testing.T) {
	iss, _ := newIssuer()
	noSecret := NewIssuer(nil, nil)
	tests := []struct {
		name string
		mint func() (string, time.Time, error)
	}{
		{"empty sub", func() (string, time.Time, error) { return iss.MintUser("", "", "", time.Hour) }},
		{"zero ttl", func() (string, time.Time, error) { return iss.MintUser("alice", "", "", 0) }},
		{"negative ttl", func() (string, time.Time, error) { return iss.MintNodeSession("n", "alice", -time.Second) }},
		{"node without owner", func() (string, time.Time, error) { return iss.MintNodeSession("n", "", time.Hour) }},
		{"p2p without job", func() (string, time.Time, error) { return iss.MintP2P("", "n", "u", time.Hour) }},
		{"no secret", func() (string, time.Time, error) { return noSecret.MintUser("alice", "", "", time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, _, err := tt.mint(); err == nil {
				t.Fatalf("minted %q; want an error", tok)
			}
		})
	}
	tok, _, _ := iss.MintUser("alice", "", "", time.Hour)
	if _, err := noSecret.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify with no secret = %v", err)
	}
}

func TestFromBearer(t *testing.T) {
	tests := []struct {
		header  string
		want    string
		wantErr error
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", nil},
		{"bearer abc.def.ghi", "abc.def.ghi", nil},
		{"BEARER   abc.def.ghi  ", "abc.def.ghi", nil},
		{"", "", ErrMissingToken},
		{"   ", "", ErrMissingToken},
		{"Bearer", "", ErrMissingToken},
		{"Bearer   ", "", ErrMissingToken},
		{"Basic dXNlcjpwYXNz", "", ErrInvalidToken},
		{"abc.def.ghi", "", ErrInvalidToken},
		{"Bearer abc def", "", ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := FromBearer(tt.header)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("FromBearer(%q) = %q, %v; want %q, %v", tt.header, got, err, tt.want, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "abc.def.ghi") {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := PrincipalFrom(ctx); ok {
		t.Fatal("empty context has a principal")
	}
	p := Principal{Kind: KindNode, Subject: "alice", NodeID: "n1"}
	got, ok := PrincipalFrom(WithPrincipal(ctx, p))
	if !ok || got != p {
		t.Fatalf("PrincipalFrom = %+v, %v", got, ok)
	}
}

func TestActsForNode(t *testing.T) {
	tests := []struct {
		name string
		p    Principal
		want bool
	}{
		{"node's own session", Principal{Kind: KindNode, Subject: "alice", NodeID: "n1"}, true},
		{"another node's session", Principal{Kind: KindNode, Subject: "alice", NodeID: "n2"}, false},
		{"session naming another owner", Principal{Kind: KindNode, Subject: "bob", NodeID: "n1"}, false},
		{"owner's user token", Principal{Kind: KindUser, Subject: "alice"}, true},
		{"another user", Principal{Kind: KindUser, Subject: "bob"}, false},
		{"zero principal", Principal{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.ActsForNode("n1", "alice"); got != tt.want {
				t.Errorf("ActsForNode = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestP2PTokenIsStablePerAssignment(t *testing.T) {
	clock := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	iss := NewIssuer(secret, func() time.Time { return clock }, WithP2PTTL(time.Hour))
	assigned := clock.Add(-time.Minute)
	a, expA, err := iss.P2PToken("job-1", "node-1", "alice", assigned)
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Minute)
	b, expB, err := iss.P2PToken("job-1", "node-1", "alice", assigned)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || !expA.Equal(expB) || !expA.Equal(assigned.Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("tokens differ or wrong expiry: %v %v", expA, expB)
	}
	other, _, _ := iss.P2PToken("job-1", "node-1", "alice", assigned.Add(time.Second))
	if other == a {
		t.Fatal("a new assignment must get a new token")
	}
	job, node, user, err := iss.VerifyP2P(a)
	if err != nil || job != "job-1" || node != "node-1" || user != "alice" {
		t.Fatalf("VerifyP2P = %q %q %q %v", job, node, user, err)
	}
}

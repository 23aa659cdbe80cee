// Package auth mints and verifies the server's JWTs (HS256 only, exp
// required): user tokens, node session tokens (from RegisterNode) and
// peer-to-peer tokens a client presents to its assigned node. The central
// server accepts the first two; a p2p token is refused by Verify.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token types (the "typ" claim) and audiences.
const (
	TypeUser        = "user"         // also assumed when "typ" is absent
	TypeNodeSession = "node_session" // RegisterNode's session token
	TypeP2P         = "p2p"          // client → node; never accepted by the central server

	AudienceCentral = "cyxwiz-central"
	AudienceNode    = "cyxwiz-node"

	// IssuerName is the "iss" claim of tokens minted here (not required on verify).
	IssuerName = "cyxwiz-central"
)

// MintCommand is the command that mints a development user token.
const MintCommand = "cyxwiz-central token --sub NAME"

// MintHint tells a person how to get a fresh user token; it ends error messages.
const MintHint = "mint a new one with `" + MintCommand + "`"

// Errors returned by Verify, VerifyP2P and FromBearer, matched with errors.Is.
// All map to gRPC UNAUTHENTICATED / HTTP 401. The error values returned
// carry a message saying what is wrong and what to do.
var (
	ErrMissingToken = errors.New("missing token")
	ErrExpired      = errors.New("token expired")
	ErrInvalidToken = errors.New("invalid token")
)

// Error is an authentication failure: Kind is one of ErrMissingToken,
// ErrExpired or ErrInvalidToken; Msg says what a person can do about it.
type Error struct {
	Kind error
	Msg  string
}

// Error returns the message meant for the person holding the token.
func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is match Kind.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Kind says who a Principal is.
type Kind int

// Principal kinds.
const (
	KindUser Kind = iota + 1 // a person or script, identified by Subject
	KindNode                 // a compute node's session: NodeID, owned by Subject
)

// String returns "user" or "node".
func (k Kind) String() string {
	switch k {
	case KindUser:
		return "user"
	case KindNode:
		return "node"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Principal is the verified caller.
type Principal struct {
	Kind      Kind
	Subject   string // user id; for a node session, the node's owner
	NodeID    string // node sessions only
	Wallet    string // user tokens: the optional wallet_address claim
	Role      string // user tokens: the optional role claim
	ExpiresAt time.Time
}

// ActsForNode reports whether p may make node calls (heartbeat, progress,
// results) for the node nodeID owned by owner: that node's own session, or
// its owner's user token.
func (p Principal) ActsForNode(nodeID, owner string) bool {
	switch p.Kind {
	case KindNode:
		return nodeID != "" && p.NodeID == nodeID && p.Subject == owner
	case KindUser:
		return owner != "" && p.Subject == owner
	}
	return false
}

// claims is the JWT body of every token kind.
type claims struct {
	jwt.RegisteredClaims
	Type   string `json:"typ,omitempty"`
	Wallet string `json:"wallet_address,omitempty"`
	Role   string `json:"role,omitempty"`
	NodeID string `json:"node_id,omitempty"`
	JobID  string `json:"job_id,omitempty"`
}

// Issuer mints and verifies tokens with one HS256 secret.
type Issuer struct {
	secret []byte
	now    func() time.Time
	leeway time.Duration
	p2pTTL time.Duration
}

// Option configures an Issuer.
type Option func(*Issuer)

// WithP2PTTL sets the lifetime of P2P tokens minted by P2PToken (default 1h).
func WithP2PTTL(d time.Duration) Option { return func(i *Issuer) { i.p2pTTL = d } }

// WithLeeway tolerates clock skew of d when checking exp (default 0).
func WithLeeway(d time.Duration) Option { return func(i *Issuer) { i.leeway = d } }

// NewIssuer returns an Issuer signing with secret (use at least 32 bytes;
// an empty secret makes every call fail). now is the clock; nil means
// time.Now.
func NewIssuer(secret []byte, now func() time.Time, opts ...Option) *Issuer {
	if now == nil {
		now = time.Now
	}
	i := &Issuer{secret: slices.Clone(secret), now: now, p2pTTL: time.Hour}
	for _, o := range opts {
		o(i)
	}
	return i
}

// MintUser mints a user token for sub; wallet and role are optional.
func (i *Issuer) MintUser(sub, wallet, role string, ttl time.Duration) (string, time.Time, error) {
	if sub == "" {
		return "", time.Time{}, errors.New("auth: mint user token: empty subject")
	}
	return i.mint(claims{Type: TypeUser, Wallet: wallet, Role: role}, sub, AudienceCentral, ttl)
}

// MintNodeSession mints the session token RegisterNode returns to node
// nodeID, owned by the user owner.
func (i *Issuer) MintNodeSession(nodeID, owner string, ttl time.Duration) (string, time.Time, error) {
	if nodeID == "" || owner == "" {
		return "", time.Time{}, errors.New("auth: mint node session: node id and owner are required")
	}
	return i.mint(claims{Type: TypeNodeSession, NodeID: nodeID}, owner, AudienceCentral, ttl)
}

// MintP2P mints the token a client (userSub) presents to node nodeID to
// reach job jobID. The central server's Verify refuses it.
func (i *Issuer) MintP2P(jobID, nodeID, userSub string, ttl time.Duration) (string, time.Time, error) {
	if jobID == "" || nodeID == "" || userSub == "" {
		return "", time.Time{}, errors.New("auth: mint p2p token: job id, node id and user are required")
	}
	return i.mint(claims{Type: TypeP2P, NodeID: nodeID, JobID: jobID}, userSub, AudienceNode, ttl)
}

// P2PToken mints the P2P token of one assignment, issued at assignedAt, so
// that every call for the same assignment yields the very same token: the
// one pushed to the node in AssignJob and the one its client gets from
// GetJobStatus. It implements commands.P2PTokens.
func (i *Issuer) P2PToken(jobID, nodeID, userSub string, assignedAt time.Time) (string, time.Time, error) {
	if jobID == "" || nodeID == "" || userSub == "" {
		return "", time.Time{}, errors.New("auth: mint p2p token: job id, node id and user are required")
	}
	return i.mintAt(claims{Type: TypeP2P, NodeID: nodeID, JobID: jobID}, userSub, AudienceNode, i.p2pTTL, assignedAt)
}

func (i *Issuer) mint(c claims, sub, aud string, ttl time.Duration) (string, time.Time, error) {
	return i.mintAt(c, sub, aud, ttl, i.now())
}

func (i *Issuer) mintAt(c claims, sub, aud string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	if len(i.secret) == 0 {
		return "", time.Time{}, errors.New("auth: no signing secret configured")
	}
	if ttl <= 0 {
		return "", time.Time{}, fmt.Errorf("auth: token lifetime must be positive, got %v", ttl)
	}
	exp := now.Add(ttl).Truncate(time.Second) // JWT times are whole seconds
	c.RegisteredClaims = jwt.RegisteredClaims{
		Issuer:    IssuerName,
		Subject:   sub,
		Audience:  jwt.ClaimStrings{aud},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(i.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return s, exp, nil
}

// Verify checks a token presented to the central server and returns its
// principal: a user token (typ absent or "user") or a node session token.
// P2P tokens and tokens for another audience are refused.
func (i *Issuer) Verify(token string) (Principal, error) {
	c, err := i.parse(token)
	if err != nil {
		return Principal{}, err
	}
	if c.Type == TypeP2P {
		return Principal{}, fail(ErrInvalidToken,
			"this is a peer-to-peer token for compute node %s, not for the central server; "+
				"send a user token (`%s`) or the node's session token", c.NodeID, MintCommand)
	}
	if len(c.Audience) > 0 && !slices.Contains(c.Audience, AudienceCentral) {
		return Principal{}, fail(ErrInvalidToken, "token is for audience %q, not the central server (%q); %s",
			strings.Join(c.Audience, ","), AudienceCentral, MintHint)
	}
	p := Principal{Subject: c.Subject, ExpiresAt: c.ExpiresAt.Time}
	switch c.Type {
	case "", TypeUser:
		if c.Subject == "" {
			return Principal{}, fail(ErrInvalidToken, `token has no "sub" claim (the user id); %s`, MintHint)
		}
		p.Kind, p.Wallet, p.Role = KindUser, c.Wallet, c.Role
	case TypeNodeSession:
		if c.Subject == "" || c.NodeID == "" {
			return Principal{}, fail(ErrInvalidToken,
				`node session token lacks "sub" (owner) or "node_id"; register the node again to get a new session token`)
		}
		p.Kind, p.NodeID = KindNode, c.NodeID
	default:
		return Principal{}, fail(ErrInvalidToken, "unknown token type %q; %s", c.Type, MintHint)
	}
	return p, nil
}

// VerifyP2P checks a peer-to-peer token (as a node would) and returns the
// job, node and user it was minted for.
func (i *Issuer) VerifyP2P(token string) (jobID, nodeID, userSub string, err error) {
	c, err := i.parse(token)
	if err != nil {
		return "", "", "", err
	}
	if c.Type != TypeP2P || !slices.Contains(c.Audience, AudienceNode) {
		return "", "", "", fail(ErrInvalidToken,
			"not a peer-to-peer token (typ %q, audience %q); ask the central server for the job's node assignment",
			c.Type, strings.Join(c.Audience, ","))
	}
	if c.JobID == "" || c.NodeID == "" || c.Subject == "" {
		return "", "", "", fail(ErrInvalidToken, `peer-to-peer token lacks "job_id", "node_id" or "sub"`)
	}
	return c.JobID, c.NodeID, c.Subject, nil
}

// parse checks signature, algorithm (HS256 only) and exp, and turns jwt's
// errors into ours.
func (i *Issuer) parse(token string) (*claims, error) {
	if strings.TrimSpace(token) == "" {
		return nil, fail(ErrMissingToken,
			"no token: send the header `authorization: Bearer <JWT>`; %s", MintHint)
	}
	if len(i.secret) == 0 {
		return nil, fail(ErrInvalidToken, "the server has no signing secret configured; tokens cannot be checked")
	}
	c := &claims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(i.leeway),
		jwt.WithTimeFunc(i.now),
	)
	tok, err := parser.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return i.secret, nil })
	if err == nil {
		return c, nil
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		why := strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": ")
		return nil, fail(ErrInvalidToken, "token is malformed (%s; want a JWT: three base64url parts joined by dots); %s", why, MintHint)
	case tok != nil && tok.Method != nil && tok.Method.Alg() != jwt.SigningMethodHS256.Alg(),
		errors.Is(err, jwt.ErrTokenUnverifiable):
		alg, _ := tokHeader(tok, "alg")
		return nil, fail(ErrInvalidToken, "token is signed with alg %q; this server accepts HS256 only; %s", alg, MintHint)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, fail(ErrInvalidToken,
			"token signature does not match this server's secret (jwt.secret, or jwt_secret in the data directory); %s", MintHint)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, fail(ErrInvalidToken, `token has no "exp" claim; tokens must expire; %s`, MintHint)
	case errors.Is(err, jwt.ErrTokenExpired):
		// The signature was checked before exp, so the claims can be trusted.
		when := "unknown time"
		if c.ExpiresAt != nil {
			when = c.ExpiresAt.UTC().Format(time.RFC3339)
		}
		what := MintHint
		switch c.Type {
		case TypeNodeSession:
			what = "register the node again (RegisterNode) to get a new session token"
		case TypeP2P:
			what = "ask the central server for the job's assignment again"
		}
		return nil, fail(ErrExpired, "token expired at %s; %s", when, what)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, fail(ErrInvalidToken, "token is not valid yet (nbf/iat in the future); check the clocks, or %s", MintHint)
	default:
		return nil, fail(ErrInvalidToken, "token rejected: %v; %s", err, MintHint)
	}
}

func tokHeader(tok *jwt.Token, name string) (string, bool) {
	if tok == nil || tok.Header == nil {
		return "", false
	}
	s, ok := tok.Header[name].(string)
	return s, ok
}

// FromBearer extracts the token from an "authorization" header value
// "Bearer <jwt>" (scheme case-insensitive).
func FromBearer(header string) (string, error) {
	h := strings.TrimSpace(header)
	if h == "" {
		return "", fail(ErrMissingToken, "no token: send the header `authorization: Bearer <JWT>`; %s", MintHint)
	}
	f := strings.Fields(h)
	switch {
	case !strings.EqualFold(f[0], "Bearer"):
		if len(f) == 1 {
			// Do not echo what may be a bare token.
			return "", fail(ErrInvalidToken, "authorization header must be `Bearer <JWT>`; the `Bearer` scheme is missing")
		}
		return "", fail(ErrInvalidToken, "authorization header must be `Bearer <JWT>`, got scheme %q", f[0])
	case len(f) == 1:
		return "", fail(ErrMissingToken, "authorization header has `Bearer` but no token; %s", MintHint)
	case len(f) > 2:
		return "", fail(ErrInvalidToken, "authorization header must be `Bearer <JWT>` with no spaces in the token")
	}
	return f[1], nil
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// PrincipalFrom returns the principal WithPrincipal stored in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

package config

import (
	"log/slog"
	"net/url"
	"strings"
)

// Mask replaces secrets in Redacted() and in log output.
const Mask = "REDACTED"

// Redacted returns a copy safe to log or show on the console: jwt.secret is
// masked, and so are passwords, credential-like query parameters (api-key,
// token, password, …) and key-like path segments in every URL.
func (c Config) Redacted() Config {
	if c.JWT.Secret != "" {
		c.JWT.Secret = Mask
	}
	c.Database.URL = redactURL(c.Database.URL)
	c.Redis.URL = redactURL(c.Redis.URL)
	c.Blockchain.SolanaRPCURL = redactURL(c.Blockchain.SolanaRPCURL)
	c.EventStore.ESDBURL = redactURL(c.EventStore.ESDBURL)
	c.EventStore.PostgresURL = redactURL(c.EventStore.PostgresURL)
	return c
}

// LogValue implements slog.LogValuer: the redacted configuration, one group
// per section, so that slog.Any("config", cfg) never leaks a secret.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	var groups []slog.Attr
	for _, sec := range keys.sections {
		var attrs []slog.Attr
		for _, f := range keys.fields {
			if f.section == sec {
				attrs = append(attrs, slog.Any(f.name, f.value(&r).Interface()))
			}
		}
		groups = append(groups, slog.Attr{Key: sec, Value: slog.GroupValue(attrs...)})
	}
	return slog.GroupValue(groups...)
}

// redactURL masks the password and credential-like query parameters of a
// URL; a value that does not parse is masked whole.
func redactURL(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Mask
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Mask)
	}
	if u.Path != "" {
		segs := strings.Split(u.Path, "/")
		changed := false
		for i, seg := range segs {
			if secretSegment(seg) || (i > 0 && secretParam(segs[i-1]) && seg != "") {
				segs[i] = Mask
				changed = true
			}
		}
		if changed {
			u.Path, u.RawPath = strings.Join(segs, "/"), ""
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if secretParam(k) {
				q[k] = []string{Mask}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// secretSegment reports whether a URL path segment looks like an API key
// (providers put them there: https://host/v2/<key>): 20 or more
// characters of letters, digits, '-' and '_', with both letters and digits.
func secretSegment(seg string) bool {
	if len(seg) < 20 {
		return false
	}
	letters, digits := false, false
	for _, r := range seg {
		switch {
		case r >= '0' && r <= '9':
			digits = true
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			letters = true
		case r == '-' || r == '_':
		default:
			return false
		}
	}
	return letters && digits
}

func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"key", "token", "secret", "pass", "auth", "credential", "sig"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Map returns the redacted configuration (Redacted) by section and key,
// named as in config.toml: {"server": {"grpc_address": "…", …}, …}. Values
// are strings, ints and float64s, and a list is a []string (never nil).
func (c Config) Map() map[string]map[string]any {
	r := c.Redacted()
	out := make(map[string]map[string]any, len(keys.sections))
	for _, sec := range keys.sections {
		out[sec] = map[string]any{}
	}
	for _, f := range keys.fields {
		v := f.value(&r).Interface()
		if l, ok := v.(List); ok {
			v = append([]string{}, l.Items()...)
		}
		out[f.section][f.name] = v
	}
	return out
}

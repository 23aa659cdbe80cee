package main

import (
	"log/slog"
	"os"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/ratelimit"
)

// rateRules are the per-principal request rates of [limits].
func rateRules(l config.Limits) ratelimit.Rules {
	return ratelimit.Rules{
		User:    ratelimit.Rule{PerSecond: l.UserRequestsPerSecond, Burst: l.UserBurst},
		Node:    ratelimit.Rule{PerSecond: l.NodeRequestsPerSecond, Burst: l.NodeBurst},
		IP:      ratelimit.Rule{PerSecond: l.IPRequestsPerSecond, Burst: l.IPBurst},
		MaxKeys: l.MaxTrackedPrincipals,
	}
}

// warnLoose warns when other users may read or write path (the data
// directory, the payer keypair): the server keeps secrets there.
func warnLoose(log *slog.Logger, what, path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn(what+" is open to other users of this machine; restrict it with chmod "+map[bool]string{true: "700", false: "600"}[fi.IsDir()],
		"path", path, "mode", fi.Mode().Perm().String())
}

package esdb

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// clientLogger routes the client's log lines to log. Its info lines
// (discovery attempts) are logged at debug, its errors as warnings: they
// are connection trouble that this adapter handles (resubscribing,
// reconnecting) or reports to its caller as errors. Lines about calls this
// adapter cancelled itself (closing a subscription or the store) are
// demoted to debug: they are not failures.
func clientLogger(log *slog.Logger) esdb.LoggingFunc {
	log = log.With("component", "esdb-client")
	return func(level esdb.LogLevel, format string, args ...any) {
		lvl := slog.LevelDebug // its info lines narrate discovery; the store logs the connection itself
		if level == esdb.LogWarn || level == esdb.LogError {
			lvl = slog.LevelWarn
		}
		ctx := context.Background()
		if !log.Enabled(ctx, lvl) { // demotion only lowers the level
			return
		}
		msg := fmt.Sprintf(format, args...)
		if lvl > slog.LevelDebug && strings.Contains(msg, "code = Canceled") {
			lvl = slog.LevelDebug
		}
		log.Log(ctx, lvl, msg)
	}
}

package esdb

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// clientLogger routes the client's log lines to log. The client's errors
// are logged as warnings: they are connection trouble that this adapter
// handles (resubscribing) or reports to its caller as errors. Lines about
// calls this adapter cancelled itself (closing a subscription or the
// store) are demoted to debug: they are not failures.
func clientLogger(log *slog.Logger) esdb.LoggingFunc {
	log = log.With("component", "esdb-client")
	return func(level esdb.LogLevel, format string, args ...any) {
		lvl := slog.LevelInfo
		switch level {
		case esdb.LogDebug:
			lvl = slog.LevelDebug
		case esdb.LogWarn, esdb.LogError:
			lvl = slog.LevelWarn
		}
		ctx := context.Background()
		if !log.Enabled(ctx, lvl) && !log.Enabled(ctx, slog.LevelDebug) {
			return
		}
		msg := fmt.Sprintf(format, args...)
		if lvl > slog.LevelDebug && strings.Contains(msg, "code = Canceled") {
			lvl = slog.LevelDebug
		}
		log.Log(ctx, lvl, msg)
	}
}

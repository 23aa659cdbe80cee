package esdb

import (
	"log/slog"
	"time"
)

// Option configures a Store.
type Option func(*options)

type options struct {
	log            *slog.Logger
	connectTimeout time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	strict         bool
	readBatch      int
	namespace      string
}

func defaultOptions() options {
	return options{
		log:            slog.New(slog.DiscardHandler),
		connectTimeout: 15 * time.Second,
		backoffMin:     100 * time.Millisecond,
		backoffMax:     5 * time.Second,
		readBatch:      512,
	}
}

// WithLogger sets the logger of the store and of the EventStoreDB client
// (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// WithConnectTimeout bounds Open's first contact with the server (default
// 15s).
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.connectTimeout = d
		}
	}
}

// WithResubscribeBackoff sets the first and the longest pause before a
// dropped subscription resubscribes, and before a client that gave up on
// the server is replaced (default 100ms doubling to 5s).
func WithResubscribeBackoff(first, longest time.Duration) Option {
	return func(o *options) {
		if first > 0 {
			o.backoffMin = first
		}
		if longest >= o.backoffMin {
			o.backoffMax = longest
		}
	}
}

// WithStrictIdempotency makes every append read its stream first, so that
// event IDs recorded anywhere in the stream are recognised whatever the
// expected revision (see the package doc). It costs a stream read per
// append.
func WithStrictIdempotency() Option { return func(o *options) { o.strict = true } }

// WithReadBatch sets how many events one read of $all asks for (default
// 512).
func WithReadBatch(n int) Option {
	return func(o *options) {
		if n >= 2 {
			o.readBatch = n
		}
	}
}

// WithNamespace prefixes every stream name with prefix on the server and
// limits ReadAll and SubscribeAll to the streams with that prefix (the
// subscription filters on it server-side), so that several stores can
// share one EventStoreDB database, as the conformance suite does against a
// real server. Stream names in the port's API stay unprefixed.
func WithNamespace(prefix string) Option { return func(o *options) { o.namespace = prefix } }

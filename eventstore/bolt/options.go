package bolt

import "time"

// DefaultMaxBatch is the default soft limit on events per transaction.
const DefaultMaxBatch = 8192

type options struct {
	noSync      bool
	maxBatch    int
	clock       func() time.Time
	lockTimeout time.Duration
}

func defaultOptions() options {
	return options{maxBatch: DefaultMaxBatch, clock: time.Now, lockTimeout: 5 * time.Second}
}

// Option configures Open.
type Option func(*options)

// WithNoSync turns off fsync: a crash of the machine (not of the process)
// may then lose acknowledged appends or corrupt the file. For tests and
// benchmarks that explicitly ask for it only.
func WithNoSync() Option { return func(o *options) { o.noSync = true } }

// WithMaxBatch sets the soft limit on the number of events committed in
// one transaction (default DefaultMaxBatch). A single larger append is
// still committed whole, in a transaction of its own.
func WithMaxBatch(events int) Option {
	return func(o *options) {
		if events > 0 {
			o.maxBatch = events
		}
	}
}

// WithClock sets the clock that stamps recorded events (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithLockTimeout bounds the wait for the file lock held by another
// process that has the store open (default 5s; 0 waits forever).
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

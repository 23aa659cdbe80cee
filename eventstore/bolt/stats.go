package bolt

import "sync/atomic"

// Stats counts the writer's work since Open.
type Stats struct {
	Commits uint64 // transactions committed, each synced to disk unless NoSync
	Appends uint64 // appends acknowledged, retries and refusals included
	Events  uint64 // events recorded
}

// counters are updated by the writer and read by Stats.
type counters struct {
	commits, appends, events atomic.Uint64
}

// Stats returns the counters; events per commit is the group-commit gain.
func (s *Store) Stats() Stats {
	return Stats{
		Commits: s.counters.commits.Load(),
		Appends: s.counters.appends.Load(),
		Events:  s.counters.events.Load(),
	}
}

package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// busyTick is how soon the tracker looks again while a candidate waits for
// running transactions that may not notify when they end.
const busyTick = 10 * time.Millisecond

// minTickGap spaces ticks under load, when every commit asks for one:
// each reads pg_locks, which briefly takes every lock-manager partition.
const minTickGap = 2 * time.Millisecond

// trackLoop advances the horizon when woken (a local commit, a
// notification, a reader waiting) and on a timer, never trusting that a
// notification came or came in order.
func (s *Store) trackLoop() {
	timer := time.NewTimer(s.opts.Poll)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.horizon.wakeC:
		case <-timer.C:
		}
		lastTick := time.Now()
		err := s.horizon.tick(s.ctx)
		switch {
		case err != nil && s.ctx.Err() != nil:
			return
		case err != nil && !failing:
			s.log.Warn("postgres event store: delivery horizon not advancing", "err", describe(err))
			failing = true
		case err == nil && failing:
			s.log.Info("postgres event store: delivery horizon advancing again")
			failing = false
		}
		next := s.opts.Poll
		if st := s.horizon.stats(time.Now()); st.Waiting > 0 {
			next = busyTick
		}
		if failing {
			next = 200 * time.Millisecond
		}
		if gap := minTickGap - time.Since(lastTick); gap > 0 {
			select {
			case <-time.After(gap):
			case <-s.ctx.Done():
				return
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// listenLoop wakes the tracker on every notification of the schema's
// channel, reconnecting after a failure (and waking the tracker then, for
// what it may have missed).
func (s *Store) listenLoop() {
	pause := 100 * time.Millisecond
	for s.ctx.Err() == nil {
		err := s.listen()
		if s.ctx.Err() != nil {
			return
		}
		s.log.Warn("postgres event store: LISTEN connection lost; polling until it is back", "err", describe(err))
		select {
		case <-time.After(pause):
		case <-s.ctx.Done():
			return
		}
		pause = min(2*pause, 5*time.Second)
	}
}

func (s *Store) listen() error {
	conn, err := pgx.ConnectConfig(s.ctx, s.connCfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(s.ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	s.horizon.wake()
	for {
		n, err := conn.WaitForNotification(s.ctx)
		if err != nil {
			return err
		}
		if n.Payload != s.self {
			s.horizon.wake()
		}
	}
}

// announceGap spaces announcements: a NOTIFY is a transaction of its own
// that takes a cluster-wide lock, too dear for every commit of a busy
// log; other processes learn of a commit at most this much later.
const announceGap = 5 * time.Millisecond

// announceLoop notifies other processes of local commits, outside the
// appends' transactions: a NOTIFY inside them would serialise their
// commits on PostgreSQL's notification queue lock. Announcements
// coalesce; one per burst is enough since a woken tracker reads the
// state, not the message.
func (s *Store) announceLoop() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.notify:
		}
		if _, err := s.pool.Exec(s.ctx, "SELECT pg_notify($1, $2)", s.channel, s.self); err != nil && s.ctx.Err() == nil {
			s.log.Debug("postgres event store: notify failed; other processes will poll", "err", err)
		}
		select {
		case <-time.After(announceGap):
		case <-s.ctx.Done():
			return
		}
	}
}

// Stats returns how far delivery trails the appends.
func (s *Store) Stats() HorizonStats { return s.horizon.stats(time.Now()) }

// WriteStats returns the transactions the writers committed and the
// appends they carried since Open: appends per commit is the batching
// gain.
func (s *Store) WriteStats() (commits, appends uint64) { return s.commits.Load(), s.appends.Load() }

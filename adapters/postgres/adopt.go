package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrRebuildBehind is returned by Adopt when the rebuilt tables have not
// reached the live model's checkpoint after settling.
var ErrRebuildBehind = errors.New("postgres read model: the rebuild is behind the live read model")

// Adopt swaps a rebuild in while the server serves: fresh, a model built
// aside in its own schema (by a second runner replaying the log from
// position 0), takes the place of m's tables, and m goes on from there
// with its pool, its watchers and its runner.
//
// Under m's apply lock, so no batch lands in between, settle is called
// with m's checkpoint and must return once fresh has applied at least that
// far and nothing applies to it any more (stop its runner). Then, in one
// transaction, m's schema is renamed to retired and fresh's schema takes
// its name; m's connections are replaced (a cached plan must not keep
// reading the old tables) and its checkpoint and mirror are read back from
// the adopted tables. m's runner resumes where it was: batches the rebuild
// already holds are skipped by the checkpoint. fresh is closed either way.
// The caller drops the retired schema when it no longer wants it.
func (m *Model) Adopt(ctx context.Context, fresh *Model, settle func(ctx context.Context, live uint64) error) (retired string, err error) {
	defer fresh.Close()
	if m.schema == "" || fresh.schema == "" || m.schema == fresh.schema {
		return "", fmt.Errorf("postgres read model: adopt needs two named schemas (database.schema), have %q and %q", m.schema, fresh.schema)
	}
	if m.opts.Name != fresh.opts.Name {
		return "", fmt.Errorf("postgres read model: adopt %q into %q: not the same projection", fresh.opts.Name, m.opts.Name)
	}
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	m.visMu.Lock()
	defer m.visMu.Unlock()

	live := m.Checkpoint()
	if err := settle(ctx, live); err != nil {
		return "", fmt.Errorf("postgres read model: settle the rebuild: %w", err)
	}
	if got := fresh.Checkpoint(); got < live {
		return "", fmt.Errorf("%w: at %d, the live one at %d", ErrRebuildBehind, got, live)
	}
	fresh.Close() // its connections name a schema that is about to be renamed

	retired = fmt.Sprintf("%s_retired_%d", m.schema, time.Now().UnixNano())
	if len(retired) > 63 {
		retired = fmt.Sprintf("retired_%d", time.Now().UnixNano())
	}
	// A synchronous commit: it also makes the rebuild's asynchronous
	// commits durable, since the WAL is flushed in order.
	err = pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{m.schema}.Sanitize()+" RENAME TO "+pgx.Identifier{retired}.Sanitize()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{fresh.schema}.Sanitize()+" RENAME TO "+pgx.Identifier{m.schema}.Sanitize())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("postgres read model: swap schemas: %w", err)
	}
	m.pool.Reset()
	if err := m.load(ctx); err != nil {
		// The tables are swapped but not read back: no batch may apply
		// against the old mirror.
		m.mu.Lock()
		m.ready = false
		m.mu.Unlock()
		return retired, fmt.Errorf("postgres read model: read back the adopted tables: %w", err)
	}
	m.log.Info("postgres read model: adopted a rebuild", "schema", m.schema, "checkpoint", m.Checkpoint(), "was", live, "retired", retired)
	return retired, nil
}

// DropSchema drops schema and everything in it, through m's pool.
func (m *Model) DropSchema(ctx context.Context, schema string) error {
	if schema == "" || schema == m.schema {
		return fmt.Errorf("postgres read model: will not drop schema %q", schema)
	}
	_, err := m.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

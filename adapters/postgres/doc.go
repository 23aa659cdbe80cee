// Package postgres is the PostgreSQL read model (pgx/v5, pgxpool): jobs,
// nodes and their reservations, node metric samples, hourly network
// statistics, the activity log and payments, as tables a person can query,
// built by the same pure folds as the in-memory model (projections) and
// checked by the same suite (projections/readmodeltest).
//
// # Schema
//
// The tables are created by migrations embedded in the binary
// (migrations/*.sql) and applied by goose at Open, under an advisory lock
// of the schema, so concurrent starts migrate once and a second run is a
// no-op. Options.Schema puts every table in a schema of its own (created
// if absent), which is how tests and `replay` build side by side and
// compare with Diff.
//
// # Exactly once
//
// Apply is one transaction per batch: it locks the projector's row of
// checkpoints, skips the envelopes at or below the stored position, reads
// the batch's jobs (one query), folds the events in Go, writes every
// changed row with one INSERT … SELECT FROM unnest(…) per table (jobs,
// job_counts, nodes, node_reservations, metric_samples, activity,
// hourly_stats), all pipelined in one round trip, then updates the
// checkpoint and commits. A crash before the commit leaves nothing of the
// batch; the runner resumes after the stored checkpoint, so nothing is
// counted twice.
//
// # Reads
//
// Job reads and lists are SQL with keyset pagination (the page tokens of
// projections) and totals from job_counts, maintained per batch, so a
// total is a sum of a few rows. Metrics, statistics, activity and payments
// are SQL too. Every value reaches PostgreSQL as a bound parameter.
//
// Nodes and the open jobs (the queue and the jobs on nodes) are mirrored
// in memory: loaded at Open, changed only after a batch commits. The
// scheduler reads the queue, the candidates, the assignments and the
// reservations several times a second and each call must be cheap and
// consistent; the node table is small (10,000 nodes is a few MB), and
// ListNodes/FindNodes must filter and rank exactly as the memory model
// does, with the pure filters and orders of projections. A query never
// mixes a half-applied batch: SQL reads see committed transactions, the
// mirror changes under a write lock right after the commit.
//
// Times are stored as timestamptz, whole microseconds in UTC. Folded
// views are cut to microseconds after every event, so the mirror, the
// watchers and the tables agree, and a replay gives the same rows whatever
// the batch boundaries; below a microsecond the model may differ from the
// memory model (the suite's times are whole milliseconds).
package postgres

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
// compare with Diff. Dump lists every row in the same canonical order.
//
// # Exactly once
//
// Apply is one transaction per batch: it locks the projector's row of
// checkpoints, skips the envelopes at or below the stored position, reads
// the batch's jobs (one query, id = ANY($1)), folds the events in Go with
// projections.ApplyJob, ApplyNode, StatsDelta and ActivityOf, then writes
// every change with one INSERT … SELECT FROM unnest(…) or UPDATE … FROM
// unnest(…) per table — new jobs and nodes whole, existing ones without
// their (immutable, large) spec — plus the checkpoint, all pipelined in one
// round trip, and commits. A crash before the commit leaves nothing of the
// batch; the runner resumes after the stored checkpoint, so nothing is
// counted twice. A second process projecting into the same schema is
// noticed (the checkpoint moved) and the mirror reloaded; a checkpoint
// that went back (a restored backup) stops Apply with ErrCheckpointBehind.
//
// # Reads
//
// Job reads and lists are SQL, with keyset pagination on the submission
// position (the page tokens of projections, so a token means the same in
// either model) and totals summed from job_counts, which Apply maintains
// per (owner, type, status): a total costs a few rows, not a count of
// every job. Metrics, statistics, activity and payments are SQL too.
// Every value a caller gives is a bound parameter; statements are built
// from constant fragments only.
//
// Nodes and the open jobs (the queue and the jobs on nodes) are mirrored
// in memory: loaded at Open, changed only after a batch commits. The
// scheduler reads the queue, the candidates, the assignments and the
// reservations several times a second and each call must be cheap; the
// node table is small (10,000 nodes is a few MB), and ListNodes/FindNodes
// must filter and rank exactly as the memory model does, with the pure
// filters and orders of projections, which SQL would only imitate. A query
// never sees half a batch: SQL reads see committed transactions, the mirror
// changes under a write lock right after the commit.
//
// # Fidelity
//
// Floats are stored as float8 (bit for bit), maps and specs as jsonb.
// Times are timestamptz, whole microseconds in UTC: folded views are cut
// to microseconds after every event, so the mirror, the watchers and the
// tables agree, and a replay gives the same rows whatever the batch
// boundaries. PostgreSQL cannot store U+0000 in text or jsonb; such a
// character (which the log's JSON can carry) is stored as U+FFFD. These
// are the only ways the model can differ from the memory model, whose
// retention (metric samples, activity lines) is also shorter: the tables
// keep everything.
package postgres

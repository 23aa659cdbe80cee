// Package postgres is the event log in PostgreSQL: several server
// processes can append to one log and subscribe to it.
//
// # Schema
//
// The tables live in a schema of their own (Options.Schema, default
// "eventlog"), created and migrated at Open by the goose migrations
// embedded here, under an advisory lock so servers starting together
// migrate once. events holds one row per event: position (global, from the
// sequence positions), stream, revision, id, type, the payload as json
// (data; a payload that is not JSON goes to data_raw), the metadata
// columns correlation_id, causation_id and actor, recorded, and xid, the
// transaction that wrote it (pg_current_xact_id()). An auditor can read it
// all with SQL:
//
//	SELECT position, stream, revision, type, data->>'job_id', actor, recorded
//	  FROM eventlog.events WHERE stream = 'job-…' ORDER BY revision;
//
// # Appends
//
// append_events (a PL/pgSQL function) takes the stream's lock (a
// transaction-level advisory lock keyed by the schema and the stream
// name's hash), reads the stream's last revision, looks the append's event
// ids up in the stream (all found in order: a retry, answered with the
// original result; some: ErrDuplicateEventID), checks the expected
// revision, takes one position per event from the sequence and inserts
// the events. The lock serialises appends to one stream only (two names
// whose hashes collide share one; UNIQUE (stream, revision) backs it up);
// appends to different streams run in parallel, and positions come from a
// sequence rather than a counter row, which would serialise every append
// in the log. A first version locked a row per stream in a streams table:
// that cost two more row writes per append, for nothing the events table
// does not already know.
//
// Appends are queued to Options.Writers writer goroutines. A writer takes
// every queued append (up to MaxBatch) and sends their calls as one
// pipeline, which PostgreSQL runs as one implicit transaction: one commit,
// one WAL flush, for all of them (group commit), while each append gets
// its own result (a wrong expected revision fails that append alone). The
// batch's streams are locked in name order, so batches of different
// writers and processes cannot deadlock. Append returns only after the
// commit; a connection lost during the commit leaves the outcome unknown,
// and the error says to retry with the same event ids, which is
// idempotent.
//
// # Delivery: no event is ever skipped
//
// A position is taken from the sequence before its transaction commits,
// so transactions commit out of position order: A takes 10, B takes 11
// and commits, A commits later. A subscriber that delivered 11 and moved
// its checkpoint past 10 would never see A's event. Subscriptions and
// ReadAll therefore deliver only positions up to the horizon H: the
// greatest position such that every event that will ever commit with a
// position <= H has already committed and is visible. Positions of
// rolled-back appends are holes; positions are strictly increasing, not
// dense.
//
// The horizon is computed from what PostgreSQL says about the
// transactions writing the log, never from timing. Two facts make it
// sound:
//
//  1. append_events takes ROW EXCLUSIVE on events (LOCK TABLE) before it
//     takes any position, and PostgreSQL holds it until the transaction
//     ends. Readers, pg_dump included, take only ACCESS SHARE.
//  2. The sequence has CACHE 1, so pg_sequence_last_value(positions) = L
//     means every position handed out so far is <= L and every later one
//     is > L.
//
// A tick of the tracker runs two statements, in order: (1) read L; (2)
// list W, the virtual transaction ids holding ROW EXCLUSIVE on events
// (pg_locks, fast-path locks included). Any transaction holding a
// position <= L took it before (1), so took the lock before (1) (fact 1):
// at (2) it had ended or it is in W. The tick records the candidate (L,
// W). A later tick whose list W' shares no id with W resolves it: every
// transaction that held a position <= L has ended, committed (PostgreSQL
// releases a transaction's locks only after its commit is visible, so a
// statement that starts now sees its events) or rolled back (its positions
// stay empty), so H := L. A virtual transaction id is not
// reused by a later transaction (its local part counts up per backend),
// so an id absent from W' is a transaction that ended. H never moves
// backwards, and a later candidate resolving implies the earlier ones
// have: what of theirs still ran at the later listing is in its list.
//
// Reads for delivery are "position > cursor AND position <= H ORDER BY
// position", in statements that start after H was established, so each
// position a subscriber passes is final: nothing can appear below its
// checkpoint later. SubscribeAll and ReadAll first wait until H covers
// every position handed out when they were called, so CaughtUp means
// "everything acknowledged before the call has been delivered" and a
// ReadAll right after an append sees it.
//
// Only transactions writing this log are waited for, not the rest of the
// cluster. A first version used pg_current_snapshot() instead: it waited
// for every transaction of the cluster with an id, and it had to take an
// id of its own per tick, because running ids at or above the snapshot's
// xmax are not listed in it (TestOutOfOrderCommit caught the version that
// missed this). An append transaction left open delays delivery, it never
// drops an event: the delay is visible in Stats().Waiting and, in the
// server, as the metrics cyxwiz_eventstore_delivery_wait_seconds and
// cyxwiz_eventstore_undelivered_positions. Anything else that writes
// events must take the same lock before taking a position; only
// append_events does.
//
// # Waking up
//
// The tracker ticks when a local append commits, when a NOTIFY arrives on
// the schema's channel (every process notifies after its commits, outside
// the appends' transactions: a NOTIFY inside them would serialise their
// commits on the notification queue's lock), when a reader waits, every
// 10ms while a candidate waits, and every Options.Poll otherwise. A
// notification's content and order are never used (but for a store
// ignoring its own); a lost one costs at most Poll. Announcements are
// spaced 5ms apart, ticks 2ms apart. The LISTEN connection reconnects after a failure.
//
// # Failures
//
// Reads of a subscription retry lost connections until PostgreSQL is back
// and continue from their cursor; appends fail with an error while it is
// down. Errors at Open say whether the server was unreachable, refused the
// credentials, or lacked a privilege.
package postgres

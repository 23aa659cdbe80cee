// Package esdb is the EventStoreDB adapter of the eventstore port, on
// github.com/EventStore/EventStore-Client-Go/v4. It passes the conformance
// suite in eventstore/storetest (against a real server when
// CYXWIZ_TEST_ESDB_URL is set, and always against the in-process contract
// fake of its tests).
//
// # Mapping
//
// Streams, event types and event IDs map one to one. Stream names and
// event types starting with "$" are refused (ErrInvalidEvent): they are
// EventStoreDB's system namespace, and SubscribeAll drops them.
//
// The payload is sent as application/json when it is valid JSON (or
// empty), else as application/octet-stream. The port's Metadata travels as
// the event's custom metadata, JSON with EventStoreDB's conventional keys:
//
//	{"$correlationId": "...", "$causationId": "...", "actor": "..."}
//
// so the server's $by_correlation_id projection understands it.
//
// # Positions
//
// The port's global position is a uint64; EventStoreDB's is a pair
// (commit, prepare) of transaction-log byte offsets. For every event
// written through the gRPC API (no explicit TCP transactions, which the
// gRPC API cannot make and EventStoreDB 24 no longer has) the two are
// equal, so the port's Position is the commit position, and position p
// maps back to (p, p). Positions are therefore sparse (strictly
// increasing, not dense) and identical to what the server's UI and other
// clients show. An event whose commit and prepare positions differ, or a
// read that returns no position (servers before 22.6 omit it on stream
// reads), fails with ErrUnsupportedPosition rather than being misplaced.
//
// AppendResult.Position is the position of the last event appended. For
// several events (the response reports the write's transaction position)
// and for an append the server recognised as a retry (no position in the
// response) the adapter reads the last event back. For a single event it
// takes the response's position, once the store's first single-event
// append has confirmed, by reading its event back, that the server reports
// the event's own position (else it keeps reading back, and warns).
//
// # Expected revisions and event IDs
//
// Exact, NoStream and StreamExists are sent to the server as they are; the
// server's wrong-expected-version answer becomes an
// *eventstore.WrongExpectedRevisionError carrying the stream's actual
// revision as the server reported it. EventStoreDB deduplicates a retried
// append that carries the same event IDs and the same expected revision.
// The port asks for more: a retry is recognised whatever its expected
// revision, and an append only some of whose IDs are recorded fails with
// eventstore.ErrDuplicateEventID. So when the server answers wrong
// expected version, the adapter reads the stream (backwards, stopping once
// every ID is found) and returns the original result for a retry,
// ErrDuplicateEventID for a partial one, and the typed error otherwise.
//
// Any is never sent to the server (whose idempotency for Any is only best
// effort): the adapter reads the stream, dedupes, and appends with the
// exact revision it saw, looping on a conflict. WithStrictIdempotency does
// the same for every append. Without it there is one documented
// difference from the embedded store: an append whose expected revision
// the server accepts is not checked for IDs recorded earlier in the
// stream, outside the revisions its expectation designates, and the server
// records such events again. The write side never does this (it loads the
// stream and appends fresh IDs at the revision it read).
//
// # Subscriptions
//
// SubscribeAll is a catch-up subscription to $all from the given position
// (exclusive) with a server-side filter that drops system event types
// ("^[^$]", or the namespace's stream prefix with WithNamespace); events
// of "$" streams or types that still arrive are dropped client-side. The
// subscription checkpoints the position of the last event it handled;
// when the server drops it (restart, leader change, network), it
// resubscribes from that checkpoint with exponential backoff and drops
// anything at or before it, so the port's no-gap, no-duplicate guarantee
// holds across drops. Server checkpoints (sent while the filter skips
// events) are logged and used for caught-up detection, not for resuming.
//
// Caught-up: the server's caught-up message (EventStoreDB 23.10 and later)
// or, for older servers, the first event or server checkpoint past the
// head of $all read when SubscribeAll was called, whichever comes first;
// CaughtUp is delivered once.
//
// # Connection
//
// Open fails with ErrUnreachable unless the server answers the client's
// handshake and a read of $all within the connect timeout (15s). The v4
// client gives up for good after a failed node discovery, and calls queued
// behind that discovery then block forever; the adapter runs each client
// call in a goroutine of its own, replaces a client that gave up (a prober
// notices it within a second), and releases the calls still waiting on it
// with ErrConnectionLost. Appends and reads fail while the server is down;
// subscriptions keep resubscribing. Close waits up to 10s for the calls in
// flight.
//
// # Logging
//
// The client's own log lines (it prints to stderr by default) are routed
// to the store's *slog.Logger with component=esdb-client: its info lines
// (discovery attempts) at debug, its warnings and errors as warnings,
// and lines caused by this adapter cancelling its own calls at debug. The
// store logs its own lines with component=esdb.
package esdb

// Package eventstore is the event log port: append to a stream with an
// expected revision, read a stream, subscribe to every event from a global
// position. Adapters (embedded bbolt, memory, EventStoreDB) live in
// sub-packages and all pass the conformance suite in eventstore/storetest.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Metadata travels with every event: who caused it and why.
type Metadata struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Actor         string `json:"actor,omitempty"`
}

// EventData is an event to append. ID must be a UUID, unique within its
// stream; a retried append with the same IDs to the same stream records
// nothing twice.
type EventData struct {
	ID       string
	Type     string
	Data     []byte // JSON payload
	Metadata Metadata
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	ID       string // the UUID in canonical lower-case form
	Type     string
	Stream   string
	Revision uint64 // 0-based position within its stream
	Position uint64 // 1-based global position; strictly increasing across the store
	Recorded time.Time
	Data     []byte
	Metadata Metadata
}

// ExpectedRevision is the optimistic-concurrency condition of an append.
type ExpectedRevision struct {
	kind     expectKind
	revision uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// Any appends whatever the stream's state.
func Any() ExpectedRevision { return ExpectedRevision{kind: expectAny} }

// NoStream appends only if the stream has no event yet.
func NoStream() ExpectedRevision { return ExpectedRevision{kind: expectNoStream} }

// StreamExists appends only if the stream has at least one event.
func StreamExists() ExpectedRevision { return ExpectedRevision{kind: expectStreamExists} }

// Exact appends only if the stream's last event has revision r.
func Exact(r uint64) ExpectedRevision { return ExpectedRevision{kind: expectExact, revision: r} }

// Revision returns the exact revision and true, or false for the other kinds.
func (e ExpectedRevision) Revision() (uint64, bool) { return e.revision, e.kind == expectExact }

// IsAny, IsNoStream and IsStreamExists report the condition's kind.
func (e ExpectedRevision) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedRevision) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectStreamExists }

// Matches reports whether a stream whose last revision is last (exists=false
// for a stream with no events) satisfies the condition.
func (e ExpectedRevision) Matches(last uint64, exists bool) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectStreamExists:
		return exists
	case expectExact:
		return exists && last == e.revision
	default:
		return true
	}
}

func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("revision %d", e.revision)
	default:
		return "any"
	}
}

// ExpectedFor returns the condition that the stream is exactly as it was
// after reading: NoStream for an empty stream, else Exact(last).
func ExpectedFor(last uint64, exists bool) ExpectedRevision {
	if !exists {
		return NoStream()
	}
	return Exact(last)
}

// AppendResult tells where an append landed.
type AppendResult struct {
	NextRevision uint64 // revision of the last event appended
	Position     uint64 // global position of the last event appended
}

// Errors every store returns, so callers can use errors.Is.
var (
	ErrWrongExpectedRevision = errors.New("wrong expected revision")
	ErrStreamNotFound        = errors.New("stream not found")
	ErrClosed                = errors.New("event store closed")
	ErrInvalidEvent          = errors.New("invalid event")
	// ErrDuplicateEventID: some, but not all, of an append's event IDs are
	// already recorded in its stream, or in another order, so the append
	// is neither new nor a retry of an earlier one.
	ErrDuplicateEventID = errors.New("event id already recorded")
)

// WrongExpectedRevisionError is the typed concurrency error of an append.
type WrongExpectedRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	Actual   uint64 // last revision of the stream; meaningless if !Exists
	Exists   bool
}

func (e *WrongExpectedRevisionError) Error() string {
	actual := "no stream"
	if e.Exists {
		actual = fmt.Sprintf("revision %d", e.Actual)
	}
	return fmt.Sprintf("append to %q: expected %s, stream is at %s", e.Stream, e.Expected, actual)
}

func (e *WrongExpectedRevisionError) Is(target error) bool { return target == ErrWrongExpectedRevision }

// Message is what a subscription delivers: an event, or the signal that
// the subscription has caught up with the log and is now live.
type Message struct {
	Event    *RecordedEvent // nil for the caught-up signal
	CaughtUp bool
}

// Subscription delivers messages on C until Close or an error; Err tells
// which error ended it (nil after Close).
type Subscription interface {
	C() <-chan Message
	Err() error
	Close() error
}

// Store is the event log port.
type Store interface {
	// Append appends events atomically to stream if expected matches. It
	// returns only once the events are durable. Appending events whose IDs
	// are already recorded, in order, in that stream returns the original
	// result and records nothing, whatever expected is; an append only
	// some of whose IDs are recorded there fails with ErrDuplicateEventID.
	// Event IDs are scoped to their stream, as in EventStoreDB.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)
	// ReadStream returns up to max events (max<=0: all) of stream from
	// revision from on, in order; ErrStreamNotFound if it has none.
	ReadStream(ctx context.Context, stream string, from uint64, max int) ([]RecordedEvent, error)
	// ReadAll returns up to max events (max<=0: all) with a global
	// position greater than after, in position order; an empty slice when
	// there are none. It is the fast path for replays.
	ReadAll(ctx context.Context, after uint64, max int) ([]RecordedEvent, error)
	// SubscribeAll delivers every event with a global position greater
	// than after, in order, then a CaughtUp message, then live events, with
	// no gap or duplicate at the switch. after=0 means from the start.
	SubscribeAll(ctx context.Context, after uint64) (Subscription, error)
	// Close flushes and releases the store; calls after it, Close
	// included, return ErrClosed.
	Close() error
}

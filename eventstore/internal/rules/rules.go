// Package rules holds the append semantics every store shares: validation
// of an append, the expected-revision check and idempotent retries.
package rules

import (
	"fmt"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

// MaxStreamLen bounds a stream name in bytes, so that index keys built
// from it stay small.
const MaxStreamLen = 1024

// Validate checks an append and returns the parsed event IDs. Every
// failure wraps eventstore.ErrInvalidEvent.
func Validate(stream string, events []eventstore.EventData) ([]uuid.UUID, error) {
	switch {
	case stream == "":
		return nil, fmt.Errorf("%w: empty stream name", eventstore.ErrInvalidEvent)
	case len(stream) > MaxStreamLen:
		return nil, fmt.Errorf("%w: stream name longer than %d bytes", eventstore.ErrInvalidEvent, MaxStreamLen)
	case len(events) == 0:
		return nil, fmt.Errorf("%w: append to %q has no events", eventstore.ErrInvalidEvent, stream)
	}
	ids := make([]uuid.UUID, len(events))
	var seen map[uuid.UUID]struct{}
	if len(events) > 1 {
		seen = make(map[uuid.UUID]struct{}, len(events))
	}
	for i, e := range events {
		id, err := uuid.Parse(e.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: event %d of %q: id %q: %v", eventstore.ErrInvalidEvent, i, stream, e.ID, err)
		}
		if e.Type == "" {
			return nil, fmt.Errorf("%w: event %d (%s) of %q: empty type", eventstore.ErrInvalidEvent, i, id, stream)
		}
		if seen != nil {
			if _, dup := seen[id]; dup {
				return nil, fmt.Errorf("%w: event id %s appears twice in one append to %q", eventstore.ErrInvalidEvent, id, stream)
			}
			seen[id] = struct{}{}
		}
		ids[i] = id
	}
	return ids, nil
}

// CheckExpected returns a *eventstore.WrongExpectedRevisionError unless a
// stream whose last revision is last (exists=false: no events) satisfies
// expected.
func CheckExpected(stream string, expected eventstore.ExpectedRevision, last uint64, exists bool) error {
	if expected.Matches(last, exists) {
		return nil
	}
	return &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: last, Exists: exists}
}

// Location is where an event is recorded.
type Location struct {
	Stream   string
	Revision uint64
	Position uint64
}

// LookupFunc reports where the ID of the append's i-th event is recorded
// in the append's stream, if it is.
type LookupFunc func(i int) (loc Location, found bool, err error)

// Dedupe decides whether an append to stream with the given event IDs is a
// retry. Event IDs are scoped to their stream. It returns retry=false when
// none of the IDs is recorded in stream (a new append), and retry=true with
// the original result when all of them are recorded there in order and
// without gaps. Anything in between wraps eventstore.ErrDuplicateEventID.
func Dedupe(stream string, ids []uuid.UUID, lookup LookupFunc) (res eventstore.AppendResult, retry bool, err error) {
	var first Location
	for i, id := range ids {
		loc, found, err := lookup(i)
		if err != nil {
			return eventstore.AppendResult{}, false, err
		}
		if i == 0 {
			if !found {
				retry = false
			} else {
				retry, first = true, loc
			}
		}
		switch {
		case !retry && found:
			return eventstore.AppendResult{}, false, fmt.Errorf("%w: append to %q: event %s is new but event %s is already recorded in %q at revision %d",
				eventstore.ErrDuplicateEventID, stream, ids[0], id, loc.Stream, loc.Revision)
		case retry && !found:
			return eventstore.AppendResult{}, false, fmt.Errorf("%w: append to %q: event %s is already recorded but event %s is not",
				eventstore.ErrDuplicateEventID, stream, ids[0], id)
		case retry && (loc.Stream != stream || loc.Revision != first.Revision+uint64(i)):
			return eventstore.AppendResult{}, false, fmt.Errorf("%w: append to %q: event %s is already recorded in %q at revision %d, not as event %d of this append",
				eventstore.ErrDuplicateEventID, stream, id, loc.Stream, loc.Revision, i)
		}
		if retry {
			res = eventstore.AppendResult{NextRevision: loc.Revision, Position: loc.Position}
		}
	}
	return res, retry, nil
}

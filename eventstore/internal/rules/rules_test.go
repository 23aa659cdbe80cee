package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

func ev(id string) eventstore.EventData { return eventstore.EventData{ID: id, Type: "T"} }

func TestValidate(t *testing.T) {
	id1, id2 := uuid.NewString(), uuid.NewString()
	ok := []eventstore.EventData{ev(id1), ev(strings.ToUpper(id2))}
	ids, err := Validate("s", ok)
	if err != nil {
		t.Fatal(err)
	}
	if ids[0].String() != id1 || ids[1].String() != id2 {
		t.Fatalf("ids = %v", ids)
	}
	bad := map[string]struct {
		stream string
		events []eventstore.EventData
	}{
		"empty stream":  {"", ok},
		"long stream":   {strings.Repeat("x", MaxStreamLen+1), ok},
		"no events":     {"s", nil},
		"bad id":        {"s", []eventstore.EventData{ev("nope")}},
		"empty type":    {"s", []eventstore.EventData{{ID: id1}}},
		"duplicate ids": {"s", []eventstore.EventData{ev(id1), ev(strings.ToUpper(id1))}},
	}
	for name, c := range bad {
		if _, err := Validate(c.stream, c.events); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", name, err)
		}
	}
}

func TestDedupe(t *testing.T) {
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	recorded := map[uuid.UUID]Location{
		a: {"s", 3, 10},
		b: {"s", 4, 12},
		c: {"s", 6, 13},
	}
	dedupe := func(stream string, ids []uuid.UUID) (eventstore.AppendResult, bool, error) {
		return Dedupe(stream, ids, func(i int) (Location, bool, error) {
			l, ok := recorded[ids[i]]
			return l, ok, nil
		})
	}
	res, retry, err := dedupe("s", []uuid.UUID{a, b})
	if err != nil || !retry || res != (eventstore.AppendResult{NextRevision: 4, Position: 12}) {
		t.Fatalf("full retry: %v %v %v", res, retry, err)
	}
	if _, retry, err := dedupe("s", []uuid.UUID{uuid.New(), uuid.New()}); err != nil || retry {
		t.Fatalf("new append: %v %v", retry, err)
	}
	for name, ids := range map[string][]uuid.UUID{
		"new then old":  {uuid.New(), a},
		"old then new":  {a, uuid.New()},
		"out of order":  {b, a},
		"gap":           {a, c},
		"skipped first": {b, c},
	} {
		res, retry, err := dedupe("s", ids)
		if !errors.Is(err, eventstore.ErrDuplicateEventID) || retry || res != (eventstore.AppendResult{}) {
			t.Errorf("%s: %+v, %v, %v; want ErrDuplicateEventID and no result", name, res, retry, err)
		}
	}
}

func TestCheckExpected(t *testing.T) {
	if err := CheckExpected("s", eventstore.Exact(2), 2, true); err != nil {
		t.Fatal(err)
	}
	err := CheckExpected("s", eventstore.NoStream(), 2, true)
	var w *eventstore.WrongExpectedRevisionError
	if !errors.As(err, &w) || !errors.Is(err, eventstore.ErrWrongExpectedRevision) || w.Actual != 2 || !w.Exists {
		t.Fatalf("err = %#v", err)
	}
}

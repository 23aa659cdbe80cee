package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

func testAppendAndRead(t *testing.T, s *suite) {
	st := s.open(t)
	first := newEvents("OrderPlaced", 3)
	first[1].ID = strings.ToUpper(first[1].ID) // recorded in canonical lower case
	first[2].Data = nil                        // an empty payload is allowed
	res := mustAppend(t, st, "order-1", eventstore.NoStream(), first...)
	if res.NextRevision != 2 || res.Position == 0 {
		t.Fatalf("first append: %+v, want NextRevision 2 and a position", res)
	}
	got := checkStream(t, st, "order-1", first)
	if got[2].Position != res.Position {
		t.Fatalf("result position %d, last event at %d", res.Position, got[2].Position)
	}
	if len(got[2].Data) != 0 {
		t.Fatalf("empty payload read back as %q", got[2].Data)
	}

	second := newEvents("OrderShipped", 2)
	res2 := mustAppend(t, st, "order-1", eventstore.Exact(2), second...)
	if res2.NextRevision != 4 || res2.Position <= res.Position {
		t.Fatalf("second append: %+v after %+v", res2, res)
	}
	got = checkStream(t, st, "order-1", append(first, second...))
	if got[4].Position != res2.Position {
		t.Fatalf("result position %d, last event at %d", res2.Position, got[4].Position)
	}
	mustAppend(t, st, "order-2", eventstore.Any(), newEvent("OrderPlaced", 0))
	checkStream(t, st, "order-1", append(first, second...))
}

func testReadFromRevisionAndMax(t *testing.T, s *suite) {
	st := s.open(t)
	events := newEvents("Counted", 10)
	mustAppend(t, st, "counter", eventstore.NoStream(), events...)
	mustAppend(t, st, "other", eventstore.NoStream(), newEvents("Other", 3)...)
	cases := []struct {
		from      uint64
		max       int
		wantFirst uint64
		wantLen   int
	}{
		{0, 0, 0, 10},
		{0, -1, 0, 10},
		{3, 4, 3, 4},
		{8, 0, 8, 2},
		{8, 5, 8, 2},
		{9, 1, 9, 1},
		{0, 1, 0, 1},
		{10, 0, 0, 0},
		{1000, 3, 0, 0},
	}
	for _, c := range cases {
		got := mustReadStream(t, st, "counter", c.from, c.max)
		if len(got) != c.wantLen {
			t.Fatalf("ReadStream(from %d, max %d): %d events, want %d", c.from, c.max, len(got), c.wantLen)
		}
		if got == nil {
			t.Fatalf("ReadStream(from %d, max %d): nil slice, want empty", c.from, c.max)
		}
		for i, e := range got {
			rev := c.wantFirst + uint64(i)
			checkEvent(t, e, events[rev], "counter", rev)
		}
	}
}

func testReadAll(t *testing.T, s *suite) {
	st := s.open(t)
	if got := mustReadAll(t, st, 0, 0); len(got) != 0 || got == nil {
		t.Fatalf("empty store: ReadAll = %v, want an empty slice", got)
	}
	a, b := newEvents("A", 4), newEvents("B", 3)
	mustAppend(t, st, "a", eventstore.NoStream(), a[:2]...)
	mustAppend(t, st, "b", eventstore.NoStream(), b...)
	mustAppend(t, st, "a", eventstore.Exact(1), a[2:]...)
	all := mustReadAll(t, st, 0, 0)
	want := []struct {
		e      eventstore.EventData
		stream string
		rev    uint64
	}{{a[0], "a", 0}, {a[1], "a", 1}, {b[0], "b", 0}, {b[1], "b", 1}, {b[2], "b", 2}, {a[2], "a", 2}, {a[3], "a", 3}}
	if len(all) != len(want) {
		t.Fatalf("ReadAll: %d events, want %d", len(all), len(want))
	}
	for i, w := range want {
		checkEvent(t, all[i], w.e, w.stream, w.rev)
		if i > 0 && all[i].Position <= all[i-1].Position {
			t.Fatalf("ReadAll: position %d after %d", all[i].Position, all[i-1].Position)
		}
	}
	page := mustReadAll(t, st, all[1].Position, 3)
	if len(page) != 3 || page[0].ID != all[2].ID || page[2].ID != all[4].ID {
		t.Fatalf("ReadAll(after %d, 3) = %d events starting %v", all[1].Position, len(page), page)
	}
	if got := mustReadAll(t, st, all[len(all)-1].Position, 0); len(got) != 0 {
		t.Fatalf("ReadAll after the head: %d events", len(got))
	}
	if got := mustReadAll(t, st, ^uint64(0), 0); len(got) != 0 {
		t.Fatalf("ReadAll after max uint64: %d events", len(got))
	}
}

func testStreamNotFound(t *testing.T, s *suite) {
	st := s.open(t)
	mustAppend(t, st, "present", eventstore.NoStream(), newEvent("E", 0))
	for _, stream := range []string{"absent", "presen", "present-", "Present"} {
		_, err := st.ReadStream(t.Context(), stream, 0, 0)
		if !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("ReadStream(%q): %v, want ErrStreamNotFound", stream, err)
		}
	}
}

func testWrongExpectedRevision(t *testing.T, s *suite) {
	st := s.open(t)
	mustAppend(t, st, "existing", eventstore.NoStream(), newEvents("E", 2)...) // at revision 1
	cases := []struct {
		stream   string
		expected eventstore.ExpectedRevision
		ok       bool
	}{
		{"existing", eventstore.NoStream(), false},
		{"existing", eventstore.Exact(0), false},
		{"existing", eventstore.Exact(2), false},
		{"existing", eventstore.Exact(1), true},
		{"existing", eventstore.StreamExists(), true},
		{"existing", eventstore.Any(), true},
		{"missing-1", eventstore.StreamExists(), false},
		{"missing-2", eventstore.Exact(0), false},
		{"missing-3", eventstore.NoStream(), true},
		{"missing-4", eventstore.Any(), true},
	}
	for _, c := range cases {
		before, err := st.ReadStream(t.Context(), c.stream, 0, 0)
		if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatal(err)
		}
		e := newEvent("E", 0)
		res, err := st.Append(t.Context(), c.stream, c.expected, e)
		if c.ok {
			if err != nil {
				t.Fatalf("Append(%q, %s): %v", c.stream, c.expected, err)
			}
			if res.NextRevision != uint64(len(before)) {
				t.Fatalf("Append(%q, %s): NextRevision %d, want %d", c.stream, c.expected, res.NextRevision, len(before))
			}
			continue
		}
		var wrong *eventstore.WrongExpectedRevisionError
		if !errors.As(err, &wrong) || !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			t.Fatalf("Append(%q, %s): %v, want a *WrongExpectedRevisionError", c.stream, c.expected, err)
		}
		exists := len(before) > 0
		if wrong.Stream != c.stream || wrong.Expected != c.expected || wrong.Exists != exists ||
			(exists && wrong.Actual != uint64(len(before))-1) {
			t.Fatalf("Append(%q, %s): %+v; stream has %d events", c.stream, c.expected, wrong, len(before))
		}
		after, _ := st.ReadStream(t.Context(), c.stream, 0, 0)
		if len(after) != len(before) {
			t.Fatalf("failed append to %q recorded %d events", c.stream, len(after)-len(before))
		}
	}
}

func testInvalidEvents(t *testing.T, s *suite) {
	st := s.open(t)
	good := newEvent("E", 0)
	dup := newEvent("E", 1)
	cases := map[string]struct {
		stream string
		events []eventstore.EventData
	}{
		"empty stream":       {"", []eventstore.EventData{good}},
		"no events":          {"s", nil},
		"id not a uuid":      {"s", []eventstore.EventData{good, {ID: "evt-1", Type: "E"}}},
		"empty id":           {"s", []eventstore.EventData{{Type: "E"}}},
		"empty type":         {"s", []eventstore.EventData{{ID: uuid.NewString()}}},
		"id twice in append": {"s", []eventstore.EventData{dup, good, dup}},
	}
	for name, c := range cases {
		_, err := st.Append(t.Context(), c.stream, eventstore.Any(), c.events...)
		if !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Fatalf("%s: Append: %v, want ErrInvalidEvent", name, err)
		}
	}
	if all := mustReadAll(t, st, 0, 0); len(all) != 0 {
		t.Fatalf("invalid appends recorded %d events", len(all))
	}
}

func testLargeAppend(t *testing.T, s *suite) {
	st := s.open(t)
	const n = 10_000
	events := newEvents("Bulk", n)
	res := mustAppend(t, st, "bulk", eventstore.NoStream(), events...)
	if res.NextRevision != n-1 {
		t.Fatalf("NextRevision %d, want %d", res.NextRevision, n-1)
	}
	got := checkStream(t, st, "bulk", events)
	if got[n-1].Position != res.Position {
		t.Fatalf("result position %d, last event at %d", res.Position, got[n-1].Position)
	}
	part := mustReadStream(t, st, "bulk", 5000, 10)
	for i, e := range part {
		checkEvent(t, e, events[5000+i], "bulk", uint64(5000+i))
	}
	// Page through the log.
	var after uint64
	count := 0
	for {
		page := mustReadAll(t, st, after, 1000)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			checkEvent(t, e, events[count], "bulk", uint64(count))
			count++
		}
		after = page[len(page)-1].Position
	}
	if count != n {
		t.Fatalf("paged ReadAll saw %d events, want %d", count, n)
	}
}

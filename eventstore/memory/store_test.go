package memory_test

import (
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/memory"
	"github.com/cyxwiz/central-server/eventstore/storetest"
	"github.com/google/uuid"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) eventstore.Store { return memory.New() }, nil)
}

func TestClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 42, time.FixedZone("X", 3600))
	st := memory.New(memory.WithClock(func() time.Time { return at }))
	defer st.Close()
	if _, err := st.Append(t.Context(), "s", eventstore.NoStream(), eventstore.EventData{ID: uuid.NewString(), Type: "E"}); err != nil {
		t.Fatal(err)
	}
	events, err := st.ReadStream(t.Context(), "s", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := events[0].Recorded; !got.Equal(at) || got.Location() != time.UTC {
		t.Fatalf("Recorded = %v, want %v in UTC", got, at)
	}
}

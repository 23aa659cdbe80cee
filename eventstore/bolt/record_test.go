package bolt

import (
	"fmt"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

func TestRecordRoundTrip(t *testing.T) {
	id := uuid.New()
	e := eventstore.EventData{
		Type:     "JobSubmitted.v2",
		Data:     []byte(`{"job_id":"j"}`),
		Metadata: eventstore.Metadata{CorrelationID: "c", CausationID: "", Actor: "ünïcode"},
	}
	rec := make([]byte, recordLen("job-1", &e))
	encodeRecord(rec, id, "job-1", &e)
	at := fixedTime()
	stamp(rec, 7, at)
	got, err := decodeRecord(42, rec)
	if err != nil {
		t.Fatal(err)
	}
	want := eventstore.RecordedEvent{ID: id.String(), Type: e.Type, Stream: "job-1", Revision: 7, Position: 42, Recorded: at, Data: e.Data, Metadata: e.Metadata}
	if fmt.Sprint(got) != fmt.Sprint(want) || !got.Recorded.Equal(at) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
	stream, rev, err := recordLocation(42, rec)
	if err != nil || stream != "job-1" || rev != 7 {
		t.Fatalf("recordLocation = %q, %d, %v", stream, rev, err)
	}
}

// FuzzDecodeRecord: a corrupt record is an error, never a panic.
func FuzzDecodeRecord(f *testing.F) {
	e := eventstore.EventData{Type: "T", Data: []byte(`{}`), Metadata: eventstore.Metadata{Actor: "a"}}
	rec := make([]byte, recordLen("s", &e))
	encodeRecord(rec, uuid.New(), "s", &e)
	f.Add(rec)
	f.Add([]byte{recordV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeRecord(1, b)
		_, _, _ = recordLocation(1, b)
	})
}

func fixedTime() time.Time { return time.Date(2026, 5, 4, 3, 2, 1, 123456789, time.UTC) }

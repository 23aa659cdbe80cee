package commands

import (
	"slices"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

func TestDepartures(t *testing.T) {
	d := NewDepartures()
	for _, ev := range []any{
		domain.JobRequeued{JobID: "j1", PreviousNode: "a"},
		domain.JobRequeued{JobID: "j1", PreviousNode: "b"},
		domain.JobRequeued{JobID: "j1", PreviousNode: "a"}, // again: kept once
		domain.JobRequeued{JobID: "j2", PreviousNode: ""},  // never placed: nothing to avoid
		domain.JobRequeued{JobID: "j3", PreviousNode: "c"},
		domain.JobRequeued{JobID: "j4", PreviousNode: "c"},
		domain.JobRequeued{JobID: "j5", PreviousNode: "c"},
		domain.JobRequeued{JobID: "j6", PreviousNode: "c"},
		domain.JobCompleted{JobID: "j3"},
		domain.JobFailed{JobID: "j4"},
		domain.JobCancelled{JobID: "j5"},
		domain.JobDeleted{JobID: "j6"},
		domain.JobSubmitted{JobID: "j7"},
	} {
		d.Observe(ev)
	}
	for job, want := range map[string][]string{"j1": {"a", "b"}, "j2": nil, "j3": nil, "j4": nil, "j5": nil, "j6": nil, "j7": nil} {
		if got := d.Nodes(job); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", job, got, want)
		}
	}
	if d.Len() != 1 {
		t.Fatalf("remembers %d jobs, want 1 (ended jobs are forgotten)", d.Len())
	}
	var none *Departures
	if none.Nodes("j1") != nil {
		t.Fatal("a nil Departures avoids nothing")
	}
}

package projections_test

import (
	"sync"
	"testing"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

func update(pos uint64, status domain.JobStatus) projections.JobUpdate {
	return projections.JobUpdate{Job: projections.JobView{ID: "j", Status: status, Position: pos}}
}

func TestHubOverflowKeepsNewest(t *testing.T) {
	tests := []struct {
		name      string
		buffer    int
		published int
		want      []uint64 // positions received
	}{
		{"fits", 4, 3, []uint64{1, 2, 3, 4}},
		{"overflows by one", 4, 4, []uint64{2, 3, 4, 5}},
		{"overflows a lot", 3, 100, []uint64{99, 100, 101}},
		{"buffer of one", 1, 10, []uint64{11}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := projections.NewHub(tc.buffer)
			c, cancel := h.Watch("j", nil)
			defer cancel()
			for i := range tc.published {
				h.Publish(update(uint64(i+1), domain.JobStatusRunning))
			}
			h.Publish(update(uint64(tc.published+1), domain.JobStatusFailed))
			var got []uint64
			for u := range c {
				got = append(got, u.Job.Position)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
			if dropped := h.Dropped(); dropped != uint64(tc.published+1-len(tc.want)) {
				t.Fatalf("dropped %d", dropped)
			}
			if h.Watching("j") {
				t.Fatal("a closed watcher is still registered")
			}
		})
	}
}

func TestHubSkipsWhatTheSnapshotHad(t *testing.T) {
	h := projections.NewHub(8)
	c, cancel := h.Watch("j", &projections.JobView{ID: "j", Position: 5})
	defer cancel()
	for _, p := range []uint64{4, 5, 6} {
		h.Publish(update(p, domain.JobStatusRunning))
	}
	h.Publish(update(7, domain.JobStatusCompleted))
	var got []uint64
	for u := range c {
		got = append(got, u.Job.Position)
	}
	if len(got) != 3 || got[0] != 5 || got[1] != 6 || got[2] != 7 {
		t.Fatalf("got %v, want [5 6 7]", got)
	}
}

func TestHubConcurrentReaders(t *testing.T) {
	h := projections.NewHub(2)
	var wg sync.WaitGroup
	for range 8 {
		c, cancel := h.Watch("j", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			var last uint64
			for u := range c {
				if u.Job.Position <= last {
					t.Errorf("position %d after %d", u.Job.Position, last)
				}
				last = u.Job.Position
			}
			if last != 1001 {
				t.Errorf("last position %d, want the terminal 1001", last)
			}
		}()
	}
	for i := range 1000 {
		h.Publish(update(uint64(i+1), domain.JobStatusRunning))
	}
	h.Publish(update(1001, domain.JobStatusCancelled))
	wg.Wait()
}

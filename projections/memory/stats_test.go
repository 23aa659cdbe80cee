package memory_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// TestActivityRetention checks the bounded activity log: the newest
// MaxActivity lines are kept, whatever the batches, and paging over the
// ring's wrap-around stays in order.
func TestActivityRetention(t *testing.T) {
	tests := []struct {
		name       string
		keep, jobs int
		batch      int
	}{
		{"under the limit", 50, 10, 3},
		{"exactly the limit", 20, 20, 7},
		{"wrapped many times, one event a batch", 7, 100, 1},
		{"wrapped, batches larger than the ring", 16, 300, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := memory.New(memory.Config{MaxActivity: tc.keep})
			h := readmodeltest.NewHistory()
			var envs []projections.Envelope
			var lines []uint64 // positions of the lines, oldest first
			for i := range tc.jobs {
				e := h.Envelope(domain.JobSubmitted{JobID: fmt.Sprintf("j%d", i), Owner: "o", At: readmodeltest.T0})
				envs = append(envs, e, h.Envelope(domain.NodeMetricsSampled{NodeID: "n", At: readmodeltest.T0}))
				lines = append(lines, e.Position)
			}
			for i := 0; i < len(envs); i += tc.batch {
				b := envs[i:min(i+tc.batch, len(envs))]
				if err := m.Apply(context.Background(), b, b[len(b)-1].Position); err != nil {
					t.Fatal(err)
				}
			}
			kept := lines[max(0, len(lines)-tc.keep):]
			slices.Reverse(kept)
			var got []uint64
			var before uint64
			for {
				page, err := m.RecentActivity(context.Background(), 3, before)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, a := range page {
					got = append(got, a.Position)
				}
				before = page[len(page)-1].Position
			}
			if !slices.Equal(got, kept) {
				t.Fatalf("kept %v\nwant %v", got, kept)
			}
		})
	}
}

// TestActivityMatchesActivityOf checks the lines of the ring, which keeps
// trimmed envelopes and writes lines when they are read, against
// projections.ActivityOf of the whole events, over a realistic history.
func TestActivityMatchesActivityOf(t *testing.T) {
	envs := readmodeltest.Realistic(20_000, 50, 3)
	for i := range envs {
		envs[i].Metadata.Actor = fmt.Sprintf("actor-%d", i%7)
		if s, ok := envs[i].Event.(domain.JobSubmitted); ok && i%3 == 0 {
			s.Spec.InitialData = []byte("weights")
			envs[i].Event = s
		}
	}
	var want []projections.Activity // newest first
	for i := len(envs) - 1; i >= 0; i-- {
		if a, ok := projections.ActivityOf(envs[i]); ok {
			want = append(want, a)
		}
	}
	for _, keep := range []int{100, 5000, 1_000_000} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			m := memory.New(memory.Config{MaxActivity: keep})
			for i := 0; i < len(envs); i += 512 {
				b := envs[i:min(i+512, len(envs))]
				if err := m.Apply(context.Background(), b, b[len(b)-1].Position); err != nil {
					t.Fatal(err)
				}
			}
			var got []projections.Activity
			var before uint64
			for {
				page, err := m.RecentActivity(context.Background(), projections.MaxPageSize, before)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				before = page[len(page)-1].Position
			}
			w := want[:min(keep, len(want))]
			if len(got) != len(w) {
				t.Fatalf("%d lines, want %d", len(got), len(w))
			}
			for i := range got {
				if got[i] != w[i] {
					t.Fatalf("line %d:\n got %+v\nwant %+v", i, got[i], w[i])
				}
			}
		})
	}
}

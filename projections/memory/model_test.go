package memory_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"

	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

func TestReadModel(t *testing.T) {
	readmodeltest.Run(t, func(t *testing.T) readmodeltest.ReadModelUnderTest {
		return memory.New(memory.Config{})
	})
}

func TestMetricRetention(t *testing.T) {
	tests := []struct {
		name     string
		keep     int
		samples  []int // minutes, in log order
		wantMins []int
	}{
		{"under the limit", 5, []int{1, 2, 3}, []int{1, 2, 3}},
		{"oldest dropped", 3, []int{1, 2, 3, 4, 5, 6, 7}, []int{5, 6, 7}},
		{"late sample sorted in", 4, []int{1, 2, 4, 3, 5}, []int{2, 3, 4, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := memory.New(memory.Config{MaxMetricPoints: tc.keep})
			h := readmodeltest.NewHistory()
			envs := h.Envelopes(domain.NodeRegistered{NodeID: "n", Owner: "o", At: readmodeltest.T0})
			for _, min := range tc.samples {
				envs = append(envs, h.Envelope(domain.NodeMetricsSampled{NodeID: "n",
					Sample: domain.MetricSample{CPUUsage: float64(min)}, At: readmodeltest.At(time.Duration(min) * time.Minute)}))
			}
			for _, e := range envs { // one at a time, as a live runner would
				if err := m.Apply(context.Background(), []projections.Envelope{e}, e.Position); err != nil {
					t.Fatal(err)
				}
			}
			pts, err := m.NodeMetrics(context.Background(), "n", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, p := range pts {
				got = append(got, int(p.Sample.CPUUsage))
			}
			if !slices.Equal(got, tc.wantMins) {
				t.Fatalf("kept %v, want %v", got, tc.wantMins)
			}
		})
	}
}

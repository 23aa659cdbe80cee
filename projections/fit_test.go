package projections_test

import (
	"testing"

	"github.com/cyxwiz/central-server/projections"
)

func TestFitBytes(t *testing.T) {
	cases := []struct {
		name   string
		sizes  []int
		budget int
		want   int
	}{
		{"empty", nil, 10, 0},
		{"all fit", []int{3, 3, 3}, 9, 3},
		{"stops before the budget", []int{3, 3, 3}, 8, 2},
		{"one oversized record still moves the page on", []int{50, 1}, 10, 1},
		{"an oversized record after others waits for the next page", []int{1, 50}, 10, 1},
	}
	for _, c := range cases {
		if got := projections.FitBytes(len(c.sizes), c.budget, func(i int) int { return c.sizes[i] }); got != c.want {
			t.Errorf("%s: FitBytes = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestTrimJobsToken: a trimmed page's token resumes right after its last job.
func TestTrimJobsToken(t *testing.T) {
	f := projections.JobFilter{Owner: "alice"}
	jobs := []projections.JobView{{ID: "c", SubmittedPosition: 30}, {ID: "b", SubmittedPosition: 20}, {ID: "a", SubmittedPosition: 10}}
	kept, next := projections.TrimJobs(f, jobs, "", 2)
	if len(kept) != 2 || next == "" {
		t.Fatalf("kept %d, next %q", len(kept), next)
	}
	f.PageToken = next
	after, err := projections.DecodeJobToken(f)
	if err != nil || after != 20 {
		t.Fatalf("token resumes after %d (%v), want 20", after, err)
	}
	if _, n := projections.TrimJobs(f, jobs, "keep", 3); n != "keep" {
		t.Fatalf("an untrimmed page changed its token to %q", n)
	}
}

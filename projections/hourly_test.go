package projections_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

func TestHourOf(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		in, want time.Time
	}{
		{t0, time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)},
		{time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC), time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)},
		{time.Date(2025, 3, 14, 15, 59, 59, 999_999_999, time.UTC), time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)},
		// 21:10 in India is 15:40 UTC: the hour is UTC's, not the zone's.
		{time.Date(2025, 3, 14, 21, 10, 0, 0, ist), time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		got := projections.HourOf(tc.in)
		if !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("HourOf(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestStatsDelta(t *testing.T) {
	hour := projections.HourOf(t0)
	ms := func(n int64) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	pending := &projections.JobView{ID: "j", Status: domain.JobStatusPending}
	assigned := &projections.JobView{ID: "j", Status: domain.JobStatusAssigned, AssignedAt: ms(0)}
	running := &projections.JobView{ID: "j", Status: domain.JobStatusRunning, AssignedAt: ms(0), StartedAt: ms(1000)}
	done := &projections.JobView{ID: "j", Status: domain.JobStatusCompleted, AssignedAt: ms(0), StartedAt: ms(1000)}
	completed := func(at time.Time) domain.Event { return domain.JobCompleted{JobID: "j", At: at} }
	tests := []struct {
		name     string
		before   *projections.JobView
		event    domain.Event
		recorded time.Time
		want     projections.HourCounts
		ok       bool
	}{
		{"a submission", nil, domain.JobSubmitted{JobID: "j"}, t0, projections.HourCounts{Submitted: 1}, true},
		{"a second submission", pending, domain.JobSubmitted{JobID: "j"}, t0, projections.HourCounts{}, false},
		{"completed after its start", running, completed(ms(61_000)), t0,
			projections.HourCounts{Completed: 1, Timed: 1, DurationMs: 60_000}, true},
		{"completed, never started: from its assignment", assigned, completed(ms(5_000)), t0,
			projections.HourCounts{Completed: 1, Timed: 1, DurationMs: 5_000}, true},
		{"completed, never assigned: untimed", pending, completed(ms(5_000)), t0, projections.HourCounts{Completed: 1}, true},
		{"completed without a time: untimed", running, completed(time.Time{}), t0, projections.HourCounts{Completed: 1}, true},
		{"completed before its start: 0 ms", running, completed(ms(500)), t0,
			projections.HourCounts{Completed: 1, Timed: 1}, true},
		{"completed twice", done, completed(ms(9_000)), t0, projections.HourCounts{}, false},
		{"completed, unknown job", nil, completed(ms(9_000)), t0, projections.HourCounts{}, false},
		{"failed", running, domain.JobFailed{JobID: "j"}, t0, projections.HourCounts{Failed: 1}, true},
		{"failed when finished", done, domain.JobFailed{JobID: "j"}, t0, projections.HourCounts{}, false},
		{"cancelled", pending, domain.JobCancelled{JobID: "j"}, t0, projections.HourCounts{Cancelled: 1}, true},
		{"cancelled when finished", done, domain.JobCancelled{JobID: "j"}, t0, projections.HourCounts{}, false},
		{"cancelled, unknown job", nil, domain.JobCancelled{JobID: "j"}, t0, projections.HourCounts{}, false},
		{"a start counts nothing", assigned, domain.JobStarted{JobID: "j"}, t0, projections.HourCounts{}, false},
		{"a node event counts nothing", nil, domain.NodeWentOnline{NodeID: "n"}, t0, projections.HourCounts{}, false},
		{"no recorded time", nil, domain.JobSubmitted{JobID: "j"}, time.Time{}, projections.HourCounts{}, false},
	}
	for _, tc := range tests {
		h, d, ok := projections.StatsDelta(tc.before, projections.Envelope{Event: tc.event, Recorded: tc.recorded, Position: 1})
		if ok != tc.ok || d != tc.want || (ok && !h.Equal(hour)) {
			t.Errorf("%s: StatsDelta = %s, %+v, %v; want %s, %+v, %v", tc.name, h, d, ok, hour, tc.want, tc.ok)
		}
	}
}

// TestStatsDeltaMilliseconds: durations come from times cut to whole
// milliseconds, so a model that stores microseconds (PostgreSQL) gets the
// same figure as one that keeps nanoseconds.
func TestStatsDeltaMilliseconds(t *testing.T) {
	start := t0.Add(999_999 * time.Nanosecond) // 0.999999 ms: 0 ms
	end := t0.Add(2*time.Second + 1_000_001*time.Nanosecond)
	for _, v := range []*projections.JobView{
		{Status: domain.JobStatusRunning, StartedAt: start},
		{Status: domain.JobStatusRunning, StartedAt: start.Truncate(time.Microsecond)},
	} {
		for _, at := range []time.Time{end, end.Truncate(time.Microsecond)} {
			_, d, _ := projections.StatsDelta(v, projections.Envelope{Event: domain.JobCompleted{At: at}, Recorded: t0})
			if d.DurationMs != 2001 {
				t.Errorf("started %s, completed %s: %d ms, want 2001", v.StartedAt, at, d.DurationMs)
			}
		}
	}
}

func TestHourCounts(t *testing.T) {
	var c projections.HourCounts
	c.Add(projections.HourCounts{Submitted: 2, Completed: 1, Timed: 1, DurationMs: 100})
	c.Add(projections.HourCounts{Completed: 1}) // untimed
	c.Add(projections.HourCounts{Completed: 1, Failed: 1, Cancelled: 3, Timed: 1, DurationMs: 201})
	want := projections.HourStats{Hour: t0, Submitted: 2, Completed: 3, Failed: 1, Cancelled: 3, AvgDurationMs: 150.5}
	if got := c.Stats(t0); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
	if got := (projections.HourCounts{Completed: 4}).Stats(t0); got.AvgDurationMs != 0 {
		t.Fatalf("untimed completions average %v, want 0", got.AvgDurationMs)
	}
}

func TestStatsHours(t *testing.T) {
	h := projections.HourOf(t0)
	got, err := projections.StatsHours(h.Add(-90*time.Minute), h.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{h.Add(-time.Hour), h}
	if len(got) != len(want) || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
		t.Fatalf("StatsHours = %v, want %v", got, want)
	}
	if got, err := projections.StatsHours(h.Add(time.Minute), h.Add(time.Hour)); err != nil || len(got) != 0 || got == nil {
		t.Fatalf("a range inside an hour after its start = %v, %v; want an empty list", got, err)
	}
	if _, err := projections.StatsHours(time.Unix(0, 0), time.Unix(1<<62, 0)); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("a range of millennia: err %v, want ErrInvalidArgument", err)
	}
}

func TestStatsWindow(t *testing.T) {
	now := time.Date(2025, 3, 14, 15, 30, 0, 0, time.UTC)
	from, to := projections.StatsWindow(now.In(time.FixedZone("X", -7*3600)))
	if wantFrom, wantTo := time.Date(2025, 3, 13, 16, 0, 0, 0, time.UTC), time.Date(2025, 3, 14, 16, 0, 0, 0, time.UTC); !from.Equal(wantFrom) || !to.Equal(wantTo) {
		t.Fatalf("StatsWindow(%s) = %s, %s; want %s, %s", now, from, to, wantFrom, wantTo)
	}
	hours, err := projections.StatsHours(from, to)
	if err != nil || len(hours) != projections.StatsWindowHours {
		t.Fatalf("the window has %d hours (err %v), want %d", len(hours), err, projections.StatsWindowHours)
	}
	var s projections.NetworkStats
	s.JobsCompleted24h = 99
	s.SetHourly([]projections.HourStats{{Completed: 2, Failed: 1}, {}, {Completed: 3, Submitted: 7}})
	if s.JobsCompleted24h != 5 || s.JobsFailed24h != 1 || len(s.Hourly) != 3 {
		t.Fatalf("SetHourly: %+v", s)
	}
}

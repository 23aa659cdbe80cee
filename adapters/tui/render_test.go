package tui

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestBars(t *testing.T) {
	cases := []struct {
		name   string
		values []int
		width  int
		top    int
		want   string
	}{
		{"empty minutes are dots", []int{0, 0, 0}, 3, 0, "···"},
		{"scaled to the top", []int{0, 1, 2, 4, 8}, 5, 8, "·▁▂▄█"},
		{"own top", []int{1, 2}, 2, 0, "▄█"},
		{"merged when narrow", []int{1, 1, 1, 1, 2, 2}, 3, 4, "▄▄█"},
		{"zero width", []int{1}, 0, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Bars(c.values, c.width, c.top); got != c.want {
				t.Errorf("Bars(%v, %d, %d) = %q, want %q", c.values, c.width, c.top, got, c.want)
			}
		})
	}
}

func TestSparkline(t *testing.T) {
	if got := Sparkline([]float64{0, 0.5, 1, 0.25}, 3, 1); got != "▄█▂" {
		t.Errorf("Sparkline = %q, want the newest 3 samples ▄█▂", got)
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{12 * time.Second, "12s"}, {3*time.Minute + 4*time.Second, "3m 4s"},
		{3*time.Hour + 42*time.Minute, "3h 42m"}, {50 * time.Hour, "2d 2h"},
	} {
		if got := duration(c.d); got != c.want {
			t.Errorf("duration(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestOverall(t *testing.T) {
	for _, c := range []struct {
		comps []Component
		want  string
	}{
		{[]Component{{Name: "eventstore", Status: "ok"}, {Name: "solana", Status: "disabled"}}, "healthy"},
		{[]Component{{Name: "eventstore", Status: "ok"}, {Name: "redis", Status: "down"}}, "degraded"},
		{[]Component{{Name: "database", Status: "degraded"}}, "degraded"},
		{[]Component{{Name: "database", Status: "down"}, {Name: "redis", Status: "ok"}}, "unhealthy"},
	} {
		if got := Overall(c.comps); got != c.want {
			t.Errorf("Overall(%v) = %s, want %s", c.comps, got, c.want)
		}
	}
}

func TestThroughputCount(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 30, 0, time.UTC)
	var tp Throughput
	for _, c := range []struct {
		ago   time.Duration
		event string
		older bool
	}{
		{0, "JobSubmitted", false},
		{10 * time.Second, "JobSubmitted", false},
		{59 * time.Second, "JobCompleted", false},
		{61 * time.Second, "JobFailed", false},
		{59*time.Minute + 59*time.Second, "JobSubmitted", false},
		{time.Hour, "JobSubmitted", true},
		{0, "NodeRegistered", false},
	} {
		if older := tp.Count(Activity{At: now.Add(-c.ago), Event: c.event}, now); older != c.older {
			t.Errorf("Count(%s ago) older = %v, want %v", c.ago, older, c.older)
		}
	}
	if tp.Submitted[59] != 2 || tp.Completed[59] != 1 || tp.Failed[58] != 1 || tp.Submitted[0] != 1 {
		t.Errorf("buckets: submitted %v, completed %v, failed %v", tp.Submitted, tp.Completed, tp.Failed)
	}
	if s, c, f := tp.Totals(); s != 3 || c != 1 || f != 1 {
		t.Errorf("totals %d %d %d, want 3 1 1", s, c, f)
	}
}

// fakeActivity is a Source whose activity log is lines (oldest first);
// it counts the lines it returns.
type fakeActivity struct {
	Source
	lines []Activity
	read  int
}

func (f *fakeActivity) Activity(_ context.Context, limit int, cursor string) ([]Activity, string, error) {
	end := len(f.lines)
	if cursor != "" {
		fmt.Sscan(cursor, &end)
	}
	var out []Activity
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, f.lines[i])
	}
	f.read += len(out)
	next := ""
	if n := end - len(out); n > 0 {
		next = fmt.Sprint(n)
	}
	return out, next, nil
}

func (f *fakeActivity) add(at time.Time, event string, n int) {
	for range n {
		f.lines = append(f.lines, Activity{Position: uint64(len(f.lines) + 1), At: at, Event: event})
	}
}

// TestHourLog: the first refresh reads the hour; later ones read only
// the new lines; lines age out; a shorter log (another server) resets.
func TestHourLog(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	src := &fakeActivity{}
	src.add(now.Add(-2*time.Hour), "JobSubmitted", 50) // too old to count
	src.add(now.Add(-30*time.Minute), "JobSubmitted", 30)
	src.add(now.Add(-30*time.Minute), "NodeRegistered", 5)
	src.add(now.Add(-time.Minute), "JobCompleted", 20)
	var h HourLog
	tp, recent, err := h.Update(context.Background(), src, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s, c, f := tp.Totals(); s != 30 || c != 20 || f != 0 || tp.Partial {
		t.Fatalf("first: %d %d %d partial %v, want 30 20 0", s, c, f, tp.Partial)
	}
	if len(recent) != 10 || recent[0].Position != 105 {
		t.Fatalf("recent: %d lines from %d", len(recent), recent[0].Position)
	}

	src.read = 0
	src.add(now, "JobFailed", 3)
	tp, _, _ = h.Update(context.Background(), src, now, 10)
	if s, c, f := tp.Totals(); s != 30 || c != 20 || f != 3 {
		t.Fatalf("second: %d %d %d, want 30 20 3", s, c, f)
	}
	if src.read != 10 {
		t.Errorf("the second refresh read %d lines; want one page of 10 (3 new)", src.read)
	}

	later := now.Add(45 * time.Minute) // the submissions age out
	tp, _, _ = h.Update(context.Background(), src, later, 10)
	if s, c, f := tp.Totals(); s != 0 || c != 20 || f != 3 {
		t.Fatalf("later: %d %d %d, want 0 20 3", s, c, f)
	}

	fresh := &fakeActivity{}
	fresh.add(later, "JobSubmitted", 2)
	tp, _, _ = h.Update(context.Background(), fresh, later, 10)
	if s, c, f := tp.Totals(); s != 2 || c != 0 || f != 0 {
		t.Fatalf("another server: %d %d %d, want 2 0 0", s, c, f)
	}

	busy := &fakeActivity{}
	busy.add(now, "JobSubmitted", 6000)
	var hb HourLog
	tp, _, _ = hb.Update(context.Background(), busy, now, 10)
	if s, _, _ := tp.Totals(); !tp.Partial || s != 10+4*throughputPage {
		t.Fatalf("busy hour: %d submitted, partial %v; want %d and partial", s, tp.Partial, 10+4*throughputPage)
	}
}

package readmodeltest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// H0 is the start of T0's hour: the stats scenarios count hours from it.
var H0 = projections.HourOf(T0)

// hm returns H0 + hours + minutes.
func hm(hours, minutes int) time.Time {
	return H0.Add(time.Duration(hours)*time.Hour + time.Duration(minutes)*time.Minute)
}

// jobLog builds the envelopes of a stats scenario: every event is recorded
// at its own At, except where a test says otherwise.
type jobLog struct {
	h    *History
	envs []projections.Envelope
}

func newJobLog() *jobLog { return &jobLog{h: NewHistory()} }

func (l *jobLog) at(recorded time.Time, e domain.Event) {
	l.envs = append(l.envs, l.h.EnvelopeAt(recorded, e))
}

func (l *jobLog) node(t time.Time, id string) {
	l.at(t, domain.NodeRegistered{NodeID: id, Owner: "op", Spec: NodeSpec(id, "eu-west", 1, GPU(24*GiB)),
		Reputation: domain.InitialReputation, At: t})
}

func (l *jobLog) submit(t time.Time, id string) {
	l.at(t, domain.JobSubmitted{JobID: id, Owner: "stats", Spec: JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceCUDA, GiB), At: t})
}

func (l *jobLog) assign(t time.Time, id string, attempt int) {
	l.at(t, domain.JobAssigned{JobID: id, NodeID: "n1", Attempt: attempt, At: t})
}

func (l *jobLog) start(t time.Time, id string) {
	l.at(t, domain.JobStarted{JobID: id, NodeID: "n1", At: t})
}

func (l *jobLog) complete(t time.Time, id string) {
	l.at(t, domain.JobCompleted{JobID: id, NodeID: "n1", Result: domain.JobResult{ComputeTimeMs: 1}, At: t})
}

func (l *jobLog) fail(t time.Time, id string) {
	l.at(t, domain.JobFailed{JobID: id, NodeID: "n1", Reason: "out of memory", At: t})
}

func (l *jobLog) cancel(t time.Time, id string) {
	l.at(t, domain.JobCancelled{JobID: id, By: "stats", Reason: "not needed", At: t})
}

// hourlyHistory spans five hours from H0; hourlyWant is what it counts.
func hourlyHistory() []projections.Envelope {
	l := newJobLog()
	l.node(hm(0, 0), "n1")
	l.at(hm(0, 0), domain.NodeWentOnline{NodeID: "n1", At: hm(0, 0)})
	// Hour 0: six submissions, the last in its final millisecond.
	for i, id := range []string{"j1", "j2", "j3", "j4", "j7"} {
		l.submit(hm(0, 5+i), id)
	}
	l.assign(hm(0, 10), "j1", 1)
	l.start(hm(0, 12), "j1")
	l.assign(hm(0, 20), "j7", 1)
	l.start(hm(0, 25), "j7")
	l.at(hm(0, 40), domain.JobRequeued{JobID: "j7", PreviousNode: "n1", Reason: "node went offline", Requeues: 1, At: hm(0, 40)})
	l.submit(hm(1, 0).Add(-time.Millisecond), "j8")
	// Hour 1: three completions (60, 10 and 30 minutes), one cancellation,
	// and a failure of a job nobody submitted, which counts nothing.
	l.assign(hm(1, 0), "j2", 1) // never starts: timed from its assignment
	l.assign(hm(1, 10), "j7", 2)
	l.complete(hm(1, 12), "j1") // started 0:12 → 60 min
	l.complete(hm(1, 20), "j7") // requeued, reassigned 1:10, never restarted → 10 min
	l.complete(hm(1, 30), "j2") // assigned 1:00 → 30 min
	l.cancel(hm(1, 40), "j3")
	l.fail(hm(1, 45), "ghost")
	// Hour 2: nothing. Hour 3: one of each, and events that must not count
	// a finished job twice.
	l.assign(hm(3, 5), "j4", 1)
	l.start(hm(3, 6), "j4")
	l.fail(hm(3, 7), "j4")
	l.submit(hm(3, 10), "j5")
	l.assign(hm(3, 11), "j5", 1)
	l.start(hm(3, 20).Add(250*time.Millisecond), "j5")
	l.cancel(hm(3, 30), "j8")
	l.complete(hm(3, 50).Add(750*time.Millisecond), "j5") // 30 min 0.5 s
	l.complete(hm(3, 55), "j5")                           // a repeat: the job is finished
	l.cancel(hm(3, 56), "j5")                             // likewise
	l.at(hm(3, 57), domain.JobDeleted{JobID: "j1", By: "stats", At: hm(3, 57)})
	// Hour 4: a submission stamped 3:59:59.900 by the server but recorded
	// at 4:00:00.100 counts in hour 4: hours go by the recorded time.
	l.at(hm(4, 0).Add(100*time.Millisecond), domain.JobSubmitted{JobID: "j6", Owner: "stats",
		Spec: JobSpec(domain.JobTypeInference, domain.PriorityLow, domain.DeviceAny, 0), At: hm(4, 0).Add(-100 * time.Millisecond)})
	return l.envs
}

func hourlyWant() []projections.HourStats {
	return []projections.HourStats{
		{Hour: hm(0, 0), Submitted: 6},
		{Hour: hm(1, 0), Completed: 3, Cancelled: 1, AvgDurationMs: 2_000_000},
		{Hour: hm(2, 0)},
		{Hour: hm(3, 0), Submitted: 1, Completed: 1, Failed: 1, Cancelled: 1, AvgDurationMs: 1_800_500},
		{Hour: hm(4, 0), Submitted: 1},
	}
}

// diffHours compares hourly stats exactly; hours must be in UTC.
func diffHours(t *testing.T, what string, got, want []projections.HourStats) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d hours, want %d:\n got %+v\nwant %+v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i].Hour.Location() != time.UTC {
			t.Fatalf("%s: hour %d is in %s, want UTC", what, i, got[i].Hour.Location())
		}
		g, w := got[i], want[i]
		g.Hour, w.Hour = normTime(g.Hour), normTime(w.Hour)
		if g != w {
			t.Fatalf("%s: hour %d:\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}

func testHourlyStats(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	envs := hourlyHistory()
	t.Run("one batch", func(t *testing.T) {
		m := newModel(t)
		apply(t, m, envs...)
		got, err := m.HourlyStats(ctx(t), hm(0, 0), hm(5, 0))
		if err != nil {
			t.Fatal(err)
		}
		diffHours(t, "HourlyStats", got, hourlyWant())
	})
	t.Run("batches of every size, then the whole log again", func(t *testing.T) {
		m := newModel(t)
		applyInBatches(t, m, envs)
		apply(t, m, envs...) // below the checkpoint: counts nothing twice
		got, err := m.HourlyStats(ctx(t), hm(0, 0), hm(5, 0))
		if err != nil {
			t.Fatal(err)
		}
		diffHours(t, "HourlyStats", got, hourlyWant())
	})
}

func testHourlyStatsRanges(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	apply(t, m, hourlyHistory()...)
	all := hourlyWant()
	ist := time.FixedZone("IST", 5*3600+1800) // a half-hour offset
	tests := []struct {
		name     string
		from, to time.Time
		want     []projections.HourStats
	}{
		{"the whole history", hm(0, 0), hm(5, 0), all},
		{"empty hours before it", hm(-2, 0), hm(1, 0), []projections.HourStats{{Hour: hm(-2, 0)}, {Hour: hm(-1, 0)}, all[0]}},
		{"from inside an hour starts at the next", hm(0, 30), hm(2, 0), all[1:2]},
		{"to is exclusive", hm(1, 0), hm(3, 0), all[1:3]},
		{"a millisecond of an hour holds its start", hm(3, 0), hm(3, 0).Add(time.Millisecond), all[3:4]},
		{"an empty range", hm(1, 0), hm(1, 0), nil},
		{"bounds in another zone", hm(0, 0).In(ist), hm(2, 0).In(ist), all[0:2]},
		{"after the history", hm(10, 0), hm(12, 0), []projections.HourStats{{Hour: hm(10, 0)}, {Hour: hm(11, 0)}}},
	}
	for _, tc := range tests {
		got, err := m.HourlyStats(ctx(t), tc.from, tc.to)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		diffHours(t, tc.name, got, tc.want)
	}
	longest, err := m.HourlyStats(ctx(t), hm(0, 0), hm(projections.MaxStatsHours, 0))
	if err != nil || len(longest) != projections.MaxStatsHours {
		t.Fatalf("the longest range: %d hours, err %v; want %d", len(longest), err, projections.MaxStatsHours)
	}
	diffHours(t, "the longest range", longest[:5], all)
	bad := []struct {
		name     string
		from, to time.Time
	}{
		{"to before from", hm(5, 0), hm(0, 0)},
		{"no from", time.Time{}, hm(1, 0)},
		{"no to", hm(0, 0), time.Time{}},
		{"too long", hm(0, 0), hm(projections.MaxStatsHours+1, 0)},
		{"far too long", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), hm(0, 0)},
	}
	for _, tc := range bad {
		if got, err := m.HourlyStats(ctx(t), tc.from, tc.to); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%s: %d hours, err %v; want an error wrapping ErrInvalidArgument", tc.name, len(got), err)
		}
	}
}

// networkHistory: five nodes, three of them online (one banned); jobs
// pending, on nodes and finished, some more than a day before networkNow.
func networkHistory() []projections.Envelope {
	l := newJobLog()
	for _, id := range []string{"n1", "n2", "n3", "n4", "n5"} {
		l.node(hm(0, 0), id)
	}
	online := func(t time.Time, id string) { l.at(t, domain.NodeWentOnline{NodeID: id, At: t}) }
	offline := func(t time.Time, id string) {
		l.at(t, domain.NodeWentOffline{NodeID: id, Reason: "lease expired", At: t})
	}
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		online(hm(0, 0), id)
	}
	offline(hm(1, 0), "n3")
	offline(hm(2, 0), "n2")
	online(hm(3, 0), "n2")
	online(hm(4, 0), "n1")                                                                      // already online: counted once
	offline(hm(4, 30), "n5")                                                                    // never online
	l.at(hm(5, 0), domain.NodeBanned{NodeID: "n4", Reason: "abuse", By: "admin", At: hm(5, 0)}) // banned, still online

	// More than 24 hours before networkNow.
	l.submit(hm(1, 0), "old1")
	l.submit(hm(1, 0), "old2")
	l.assign(hm(1, 0), "old1", 1)
	l.assign(hm(1, 0), "old2", 1)
	l.start(hm(1, 10), "old1")
	l.complete(hm(2, 0), "old1")
	l.fail(hm(5, 0), "old2")
	// Within the day.
	l.submit(hm(6, 0), "c1")
	l.assign(hm(6, 0), "c1", 1)
	l.start(hm(6, 30), "c1")
	l.complete(hm(7, 30), "c1") // 23 hours before now
	l.submit(hm(19, 0), "c3")
	l.assign(hm(19, 0), "c3", 1)
	l.complete(hm(20, 0), "c3")
	l.at(hm(21, 0), domain.JobDeleted{JobID: "c3", By: "stats", At: hm(21, 0)}) // still completed that day
	l.submit(hm(27, 0), "x1")
	l.cancel(hm(28, 0), "x1")
	l.submit(hm(28, 0), "f1")
	l.assign(hm(28, 10), "f1", 1)
	l.fail(hm(29, 0), "f1")
	l.submit(hm(29, 10), "p1")
	l.submit(hm(29, 20), "p2")
	l.assign(hm(29, 25), "p2", 1)
	l.at(hm(29, 26), domain.JobRejected{JobID: "p2", NodeID: "n1", Reason: "busy", At: hm(29, 26)})
	l.at(hm(29, 26), domain.JobRequeued{JobID: "p2", PreviousNode: "n1", Reason: "rejected", Requeues: 1, At: hm(29, 26)})
	l.submit(hm(29, 30), "r1")
	l.assign(hm(29, 35), "r1", 1)
	l.submit(hm(29, 40), "r2")
	l.assign(hm(29, 45), "r2", 1)
	l.start(hm(29, 50), "r2")
	l.submit(hm(30, 0), "c2")
	l.assign(hm(30, 1), "c2", 1)
	l.start(hm(30, 2), "c2")
	l.complete(hm(30, 10), "c2") // 20 minutes before now
	return l.envs
}

// networkNow is the time testNetworkStats asks at: its window is the hours
// 7 to 30 after H0.
var networkNow = hm(30, 30)

func testNetworkStats(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	applyInBatches(t, m, networkHistory())

	window := func(first int, set map[int]projections.HourStats) []projections.HourStats {
		out := make([]projections.HourStats, projections.StatsWindowHours)
		for i := range out {
			h := first + i
			out[i] = set[h]
			out[i].Hour = hm(h, 0)
		}
		return out
	}
	counts := projections.NetworkStats{NodesTotal: 5, NodesOnline: 3, JobsTotal: 10, JobsPending: 2, JobsRunning: 2}
	now := counts
	now.JobsCompleted24h, now.JobsFailed24h = 3, 1
	now.Hourly = window(7, map[int]projections.HourStats{
		7:  {Completed: 1, AvgDurationMs: 3_600_000},
		19: {Submitted: 1},
		20: {Completed: 1, AvgDurationMs: 3_600_000},
		27: {Submitted: 1},
		28: {Submitted: 1, Cancelled: 1},
		29: {Submitted: 4, Failed: 1},
		30: {Submitted: 1, Completed: 1, AvgDurationMs: 480_000},
	})
	earlier := counts // counts are always the current ones
	earlier.JobsCompleted24h, earlier.JobsFailed24h = 2, 1
	earlier.Hourly = window(-16, map[int]projections.HourStats{
		1: {Submitted: 2},
		2: {Completed: 1, AvgDurationMs: 3_000_000},
		5: {Failed: 1},
		6: {Submitted: 1},
		7: {Completed: 1, AvgDurationMs: 3_600_000},
	})
	later := counts
	later.Hourly = window(32, nil)
	tests := []struct {
		name string
		at   time.Time
		want projections.NetworkStats
	}{
		{"now", networkNow, now},
		{"now, in another zone", networkNow.In(time.FixedZone("PST", -8*3600)), now},
		{"now is the hour's last millisecond", hm(31, 0).Add(-time.Millisecond), now},
		{"a day later, everything is older than 24 hours", hm(55, 0), later},
		{"earlier, the window holds what was recent then", hm(7, 45), earlier},
	}
	for _, tc := range tests {
		got, err := m.NetworkStats(ctx(t), tc.at)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		diffHours(t, tc.name+": Hourly", got.Hourly, tc.want.Hourly)
		got.Hourly, tc.want.Hourly = nil, nil
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func testEmptyModel(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	s, err := m.NetworkStats(ctx(t), networkNow)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]projections.HourStats, projections.StatsWindowHours)
	for i := range want {
		want[i].Hour = hm(7+i, 0)
	}
	diffHours(t, "NetworkStats.Hourly", s.Hourly, want)
	if s.Hourly = nil; !reflect.DeepEqual(s, projections.NetworkStats{}) {
		t.Fatalf("NetworkStats of an empty model = %+v", s)
	}
	if hours, err := m.HourlyStats(ctx(t), hm(0, 0), hm(2, 0)); err != nil || len(hours) != 2 {
		t.Fatalf("HourlyStats of an empty model: %d hours, err %v; want 2", len(hours), err)
	}
	if a, err := m.RecentActivity(ctx(t), 10, 0); err != nil || len(a) != 0 {
		t.Fatalf("RecentActivity of an empty model: %d lines, err %v; want none", len(a), err)
	}
}

// activityHistory returns a short history with actors, and the lines its
// activity log holds, oldest first.
func activityHistory() ([]projections.Envelope, []projections.Activity) {
	h := NewHistory()
	var envs []projections.Envelope
	var want []projections.Activity
	// add records e by actor; job and node are what its line is about,
	// and out says the log leaves it out.
	add := func(actor string, e domain.Event, job, node string, out bool) {
		env := h.Envelope(e)
		env.Metadata.Actor = actor
		envs = append(envs, env)
		if !out {
			want = append(want, projections.Activity{Position: env.Position, At: env.Recorded, Event: e.EventName(),
				Stream: env.Stream, JobID: job, NodeID: node, Actor: actor, Summary: projections.Describe(e)})
		}
	}
	sample := domain.NodeMetricsSampled{NodeID: "n1", Sample: domain.MetricSample{CPUUsage: 0.5}, At: T0}
	add("node:n1", domain.NodeRegistered{NodeID: "n1", Owner: "op", Spec: NodeSpec("n1", "eu-west", 1, GPU(24*GiB)), Reputation: 0.5, At: T0}, "", "n1", false)
	add("system:monitor", domain.NodeWentOnline{NodeID: "n1", At: T0}, "", "n1", false)
	add("node:n1", sample, "", "n1", true)
	add("user:alice", domain.JobSubmitted{JobID: "j1", Owner: "alice", Spec: JobSpec(domain.JobTypeTraining, domain.PriorityHigh, domain.DeviceCUDA, GiB), At: T0}, "j1", "", false)
	add("system:scheduler", domain.NodeJobReserved{NodeID: "n1", JobID: "j1", At: T0}, "j1", "n1", false)
	add("system:scheduler", domain.JobAssigned{JobID: "j1", NodeID: "n1", Attempt: 1, Score: 180, At: T0}, "j1", "n1", false)
	add("node:n1", domain.JobStarted{JobID: "j1", NodeID: "n1", At: T0}, "j1", "n1", false)
	add("node:n1", domain.JobProgressed{JobID: "j1", NodeID: "n1", Progress: 0.5, Epoch: 5, Log: "epoch 5/10", At: T0}, "j1", "n1", true)
	add("node:n1", domain.JobProgressed{JobID: "j1", NodeID: "n1", Progress: 0.9, Epoch: 9, At: T0}, "j1", "n1", true)
	add("node:n1", domain.JobCompleted{JobID: "j1", NodeID: "n1", Result: domain.JobResult{ComputeTimeMs: 1000}, At: T0}, "j1", "n1", false)
	add("system:settlement", domain.ReputationAdjusted{NodeID: "n1", Delta: 0.01, Score: 0.51, Reason: "completed", JobID: "j1", At: T0}, "j1", "n1", false)
	add("node:n1", domain.NodeJobReleased{NodeID: "n1", JobID: "j1", Reason: "completed", At: T0}, "j1", "n1", false)
	add("node:n1", sample, "", "n1", true)
	add("user:bob", domain.JobSubmitted{JobID: "j2", Owner: "bob", Spec: JobSpec(domain.JobTypeInference, domain.PriorityLow, domain.DeviceAny, 0), At: T0}, "j2", "", false)
	add("user:bob", domain.JobCancelled{JobID: "j2", By: "bob", Reason: "typo", At: T0}, "j2", "", false)
	add("", domain.NodeWentOffline{NodeID: "n1", Reason: "lease expired", At: T0}, "", "n1", false)
	return envs, want
}

// newestFirst returns lines newest first.
func newestFirst(lines []projections.Activity) []projections.Activity {
	out := make([]projections.Activity, len(lines))
	for i, a := range lines {
		out[len(lines)-1-i] = a
	}
	return out
}

func diffActivity(t *testing.T, what string, got, want []projections.Activity) {
	t.Helper()
	norm := func(s []projections.Activity) []projections.Activity {
		out := make([]projections.Activity, len(s))
		for i, a := range s {
			a.At = normTime(a.At)
			out[i] = a
		}
		return out
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		var b []byte
		for i := range max(len(g), len(w)) {
			var gi, wi any = "-", "-"
			if i < len(g) {
				gi = g[i]
			}
			if i < len(w) {
				wi = w[i]
			}
			b = fmt.Appendf(b, "\n %d:  got %+v\n    want %+v", i, gi, wi)
		}
		t.Fatalf("%s: %d lines, want %d:%s", what, len(g), len(w), b)
	}
}

func testActivity(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	envs, lines := activityHistory()
	want := newestFirst(lines)
	m := newModel(t)
	applyInBatches(t, m, envs)
	got, err := m.RecentActivity(ctx(t), 0, 0) // 0: the default page
	if err != nil {
		t.Fatal(err)
	}
	diffActivity(t, "RecentActivity", got, want)
	for _, a := range got {
		if a.Event == "NodeMetricsSampled" || a.Event == "JobProgressed" {
			t.Fatalf("the activity log holds a %s", a.Event)
		}
	}
	apply(t, m, envs...) // below the checkpoint: adds nothing
	got, err = m.RecentActivity(ctx(t), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	diffActivity(t, "RecentActivity after a replayed batch", got, want)
}

func testActivityPaging(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	// Sixty-odd lines among telemetry: pages cross the left-out events.
	h := NewHistory()
	var envs []projections.Envelope
	var positions []uint64 // of the lines, newest first
	for i := range 30 {
		id := fmt.Sprintf("p%02d", i)
		for _, e := range []domain.Event{
			domain.JobSubmitted{JobID: id, Owner: "pager", Spec: JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceAny, 0), At: T0},
			domain.JobProgressed{JobID: id, NodeID: "n1", Progress: 0.1, At: T0},
			domain.JobCancelled{JobID: id, By: "pager", At: T0},
			domain.NodeMetricsSampled{NodeID: "n1", At: T0},
		} {
			env := h.Envelope(e)
			envs = append(envs, env)
			if projections.InActivity(e) {
				positions = append([]uint64{env.Position}, positions...)
			}
		}
	}
	apply(t, m, envs...)
	pos := func(lines []projections.Activity) []uint64 {
		out := make([]uint64, len(lines))
		for i, a := range lines {
			out[i] = a.Position
		}
		return out
	}
	// Page through with before = the last position of the previous page.
	var seen []uint64
	var before uint64
	for page := 0; ; page++ {
		lines, err := m.RecentActivity(ctx(t), 7, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) > 7 {
			t.Fatalf("page %d has %d lines, limit 7", page, len(lines))
		}
		if len(lines) == 0 {
			break
		}
		seen = append(seen, pos(lines)...)
		before = lines[len(lines)-1].Position
		if page > len(positions) {
			t.Fatal("paging does not end")
		}
	}
	if !reflect.DeepEqual(seen, positions) {
		t.Fatalf("paged through %v\nwant %v", seen, positions)
	}
	tests := []struct {
		name   string
		limit  int
		before uint64
		want   []uint64
	}{
		{"before a left-out event", 3, positions[1] + 1, positions[1:4]},
		{"before a line excludes it", 2, positions[5], positions[6:8]},
		{"before past the newest", 2, h.Position() + 100, positions[:2]},
		{"before the oldest", 5, positions[len(positions)-1], nil},
		{"the default page", 0, 0, positions[:projections.DefaultPageSize]},
		{"a negative limit is the default", -1, 0, positions[:projections.DefaultPageSize]},
		{"a large page", 1_000_000, 0, positions},
	}
	for _, tc := range tests {
		lines, err := m.RecentActivity(ctx(t), tc.limit, tc.before)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := pos(lines); !(len(got) == 0 && len(tc.want) == 0) && !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

package projections

import (
	"fmt"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// Hourly statistics, shared by every read model so their numbers agree:
//
//   - An event counts in the hour of its recorded time (Envelope.Recorded,
//     UTC), see HourOf; the event's own At only measures durations.
//   - StatsDelta says what one event adds to its hour, from the job's view
//     before the event. A model keeps HourCounts per hour (sums, never
//     averages, so deltas add up exactly) and turns them into HourStats
//     with HourCounts.Stats.
//   - Counts are history: deleting a job later does not take its
//     submission or its completion back out of its hour.

// MaxStatsHours bounds the range of an HourlyStats query: a leap year.
const MaxStatsHours = 366 * 24

// StatsWindowHours is the length of NetworkStats.Hourly.
const StatsWindowHours = 24

// HourOf returns the start of t's hour in UTC.
func HourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// HourCounts are the counters of one hour, as a model stores them. The
// zero value is an empty hour.
type HourCounts struct {
	Submitted int
	Completed int
	Failed    int
	Cancelled int
	// Timed is how many of Completed have a known duration, DurationMs
	// their total in milliseconds.
	Timed      int
	DurationMs int64
}

// Add adds d to c.
func (c *HourCounts) Add(d HourCounts) {
	c.Submitted += d.Submitted
	c.Completed += d.Completed
	c.Failed += d.Failed
	c.Cancelled += d.Cancelled
	c.Timed += d.Timed
	c.DurationMs += d.DurationMs
}

// Stats returns c as the HourStats of hour: the average duration is
// DurationMs / Timed, 0 when no completion was timed.
func (c HourCounts) Stats(hour time.Time) HourStats {
	s := HourStats{Hour: hour, Submitted: c.Submitted, Completed: c.Completed, Failed: c.Failed, Cancelled: c.Cancelled}
	if c.Timed > 0 {
		s.AvgDurationMs = float64(c.DurationMs) / float64(c.Timed)
	}
	return s
}

// StatsDelta returns what e adds to the hourly statistics, and the hour it
// adds it to (HourOf(e.Recorded)). before is the job's view before e; nil
// when the model does not know the job. ok is false when e counts nothing:
//
//   - JobSubmitted adds one Submitted, unless the job is known already (a
//     stream opens once).
//   - JobCompleted adds one Completed and, when the job was started (or at
//     least assigned), its duration: JobCompleted.At − StartedAt, or
//     − AssignedAt when the job never reported a start; times are cut to
//     whole milliseconds first, so a model that stores microseconds
//     computes the same figure; a negative duration counts as 0. A
//     completion with neither time, or without an At, counts untimed.
//   - JobFailed adds one Failed, JobCancelled one Cancelled.
//   - A terminal event of an unknown job, or of a job that is already
//     terminal, counts nothing: a finished job is counted once.
//   - Every other event counts nothing, and so does an event without a
//     recorded time.
//
// Call it before folding e into the job's view.
func StatsDelta(before *JobView, e Envelope) (hour time.Time, d HourCounts, ok bool) {
	if e.Recorded.IsZero() {
		return time.Time{}, HourCounts{}, false
	}
	switch ev := e.Event.(type) {
	case domain.JobSubmitted:
		if before != nil {
			return time.Time{}, HourCounts{}, false
		}
		d.Submitted = 1
	case domain.JobCompleted:
		if before == nil || before.Status.Terminal() {
			return time.Time{}, HourCounts{}, false
		}
		d.Completed = 1
		if ms, timed := runMs(before, ev.At); timed {
			d.Timed, d.DurationMs = 1, ms
		}
	case domain.JobFailed:
		if before == nil || before.Status.Terminal() {
			return time.Time{}, HourCounts{}, false
		}
		d.Failed = 1
	case domain.JobCancelled:
		if before == nil || before.Status.Terminal() {
			return time.Time{}, HourCounts{}, false
		}
		d.Cancelled = 1
	default:
		return time.Time{}, HourCounts{}, false
	}
	return HourOf(e.Recorded), d, true
}

// runMs is the run time of the job v ending at end, in whole milliseconds.
func runMs(v *JobView, end time.Time) (int64, bool) {
	start := v.StartedAt
	if start.IsZero() {
		start = v.AssignedAt
	}
	if start.IsZero() || end.IsZero() {
		return 0, false
	}
	ms := end.Truncate(time.Millisecond).Sub(start.Truncate(time.Millisecond)).Milliseconds()
	return max(0, ms), true
}

// StatsHours returns the start of every hour h with from ≤ h < to, oldest
// first, in UTC: the hours HourlyStats answers, empty ones included. It is
// an error wrapping domain.ErrInvalidArgument when a bound is zero, when
// to is before from, or when the range holds more than MaxStatsHours hours.
func StatsHours(from, to time.Time) ([]time.Time, error) {
	if from.IsZero() || to.IsZero() {
		return nil, fmt.Errorf("%w: hourly statistics need both ends of the range", domain.ErrInvalidArgument)
	}
	if to.Before(from) {
		return nil, fmt.Errorf("%w: the statistics range ends (%s) before it starts (%s)", domain.ErrInvalidArgument, to, from)
	}
	first := HourOf(from)
	if first.Before(from) {
		first = first.Add(time.Hour)
	}
	if !first.Before(to) {
		return []time.Time{}, nil
	}
	span := to.Sub(first) // saturates: a huge range stays huge
	if span > MaxStatsHours*time.Hour {
		return nil, fmt.Errorf("%w: the statistics range spans more than %d hours", domain.ErrInvalidArgument, MaxStatsHours)
	}
	hours := make([]time.Time, 0, (span+time.Hour-1)/time.Hour)
	for h := first; h.Before(to); h = h.Add(time.Hour) {
		hours = append(hours, h)
	}
	return hours, nil
}

// StatsWindow returns the range of NetworkStats.Hourly at now: the
// StatsWindowHours hours up to and including now's own, so the current,
// unfinished hour is the last one. Events older than 24 hours are never
// in it; those of the first minutes of the oldest hour's predecessor,
// less than 24 hours old, are not either: the window moves an hour at a
// time. Models call it with a non-zero now (time.Now() for a zero one).
func StatsWindow(now time.Time) (from, to time.Time) {
	to = HourOf(now).Add(time.Hour)
	return to.Add(-StatsWindowHours * time.Hour), to
}

// SetHourly sets s.Hourly to hourly (StatsWindow's hours) and the totals
// of the window it implies: JobsCompleted24h and JobsFailed24h.
func (s *NetworkStats) SetHourly(hourly []HourStats) {
	s.Hourly = hourly
	s.JobsCompleted24h, s.JobsFailed24h = 0, 0
	for i := range hourly {
		s.JobsCompleted24h += hourly[i].Completed
		s.JobsFailed24h += hourly[i].Failed
	}
}

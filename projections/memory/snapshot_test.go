package memory_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// history is RealisticPaid with deletions of finished and pending jobs
// late in the log, so some hit jobs a model let go of.
func history(t *testing.T) []projections.Envelope {
	t.Helper()
	h := readmodeltest.NewHistory()
	var out []projections.Envelope
	status := map[string]domain.JobStatus{}
	for _, env := range readmodeltest.RealisticPaid(4000, 12, 7) {
		out = append(out, h.Envelope(env.Event))
		if id, ok := projections.JobIDOf(env.Event); ok {
			var v projections.JobView
			v.Status = status[id]
			projections.ApplyJob(&v, env)
			status[id] = v.Status
		}
	}
	deleted := map[domain.JobStatus]int{}
	for _, env := range slices.Clone(out) {
		s, ok := env.Event.(domain.JobSubmitted)
		if !ok || deleted[status[s.JobID]] >= 5 {
			continue
		}
		deleted[status[s.JobID]]++
		out = append(out, h.Envelope(domain.JobDeleted{JobID: s.JobID, By: s.Owner, At: readmodeltest.At(0)}))
	}
	if deleted[domain.JobStatusCompleted] == 0 || deleted[domain.JobStatusPending] == 0 {
		t.Fatalf("history deletes %v: want completed and pending jobs", deleted)
	}
	return out
}

// feed applies envs in batches of 100, as a runner would.
func feed(t *testing.T, m *memory.Model, envs []projections.Envelope) {
	t.Helper()
	for lo := 0; lo < len(envs); lo += 100 {
		b := envs[lo:min(lo+100, len(envs))]
		if err := m.Apply(context.Background(), b, b[len(b)-1].Position); err != nil {
			t.Fatal(err)
		}
	}
}

// envArchive is a projections.JobArchive over a slice of the log.
type envArchive []projections.Envelope

func (a envArchive) ArchivedJob(_ context.Context, id string, before uint64) (projections.JobView, bool, error) {
	var v projections.JobView
	found := false
	for _, e := range a {
		if j, ok := projections.JobIDOf(e.Event); !ok || j != id || (before > 0 && e.Position >= before) {
			continue
		}
		if _, opens := e.Event.(domain.JobSubmitted); opens != found {
			found = true
			projections.ApplyJob(&v, e)
		}
	}
	return v, found, nil
}

// views is what m's queries answer, for every job and the whole lists.
func views(t *testing.T, m *memory.Model, envs []projections.Envelope) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, e := range envs {
		if s, ok := e.Event.(domain.JobSubmitted); ok {
			v, found, err := m.GetJob(ctx, s.JobID)
			if err != nil {
				t.Fatal(err)
			}
			var result domain.JobResult
			if v.Result != nil {
				result, v.Result = *v.Result, nil
			}
			fmt.Fprintf(&b, "job %v %+v %+v\n", found, v, result)
		}
	}
	jobs, _, total, err := m.ListJobs(ctx, projections.JobFilter{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "list %d %d\npending %+v\nassignments %+v\nreservations %+v\n", len(jobs), total,
		m.PendingJobs(), m.Assignments(), m.Reservations())
	stats, err := m.NetworkStats(ctx, readmodeltest.At(0))
	if err != nil {
		t.Fatal(err)
	}
	act, err := m.RecentActivity(ctx, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	pays, err := m.ListPayments(ctx, "", 1000, readmodeltest.At(0).AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "stats %+v\nactivity %+v\npayments %+v\n", stats, act, pays)
	return b.String()
}

// TestSnapshotPlusTailEqualsReplay is `replay --verify` for snapshots: a
// model restored from a snapshot at any position and fed the rest of the
// log holds what a model fed the whole log holds, view for view.
func TestSnapshotPlusTailEqualsReplay(t *testing.T) {
	envs := history(t)
	codec := commands.NewCodec()
	for _, keep := range []int{0, 40} {
		cfg := memory.Config{KeepFinished: keep, MaxActivity: 500, Archive: envArchive(envs)}
		full := memory.New(cfg)
		feed(t, full, envs)
		want, wantViews := readmodeltest.State(t, full, codec), views(t, full, envs)
		if keep > 0 && (want.Horizon == 0 || len(want.Jobs) >= len(envs)/10) {
			t.Fatalf("keep %d: horizon %d, %d jobs in memory: nothing let go of", keep, want.Horizon, len(want.Jobs))
		}
		for _, cut := range []int{0, 100, len(envs) / 2 / 100 * 100, len(envs) - len(envs)%100, len(envs)} {
			t.Run(fmt.Sprintf("keep %d cut %d", keep, cut), func(t *testing.T) {
				before := memory.New(cfg)
				feed(t, before, envs[:cut])
				st, err := before.Snapshot(codec)
				if err != nil {
					t.Fatal(err)
				}
				after := memory.New(cfg)
				if err := after.Restore(readmodeltest.RoundTrip(t, st), codec); err != nil {
					t.Fatal(err)
				}
				feed(t, after, envs[cut:])
				if got := readmodeltest.State(t, after, codec); !reflect.DeepEqual(got, want) {
					t.Fatalf("state after snapshot at %d + tail differs from the full replay", cut)
				}
				if got := views(t, after, envs); got != wantViews {
					t.Fatalf("views after snapshot at %d + tail differ from the full replay:\n%s", cut, firstLineDiff(got, wantViews))
				}
			})
		}
	}
}

func firstLineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "got  " + al[i] + "\nwant " + bl[i]
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(al), len(bl))
}

func TestRestoreNeedsAnEmptyModel(t *testing.T) {
	m := memory.New(memory.Config{})
	feed(t, m, history(t)[:100])
	if err := m.Restore(&memory.State{}, commands.NewCodec()); err == nil {
		t.Fatal("Restore into a model that applied events: no error")
	}
}

// TestKeepFinished: a model that lets go of old finished jobs answers
// every job by id, the counters and the scheduler's snapshot as one that
// keeps them all; its lists hold the jobs submitted after its horizon
// and the unfinished ones before it.
func TestKeepFinished(t *testing.T) {
	envs := history(t)
	all := memory.New(memory.Config{})
	feed(t, all, envs)
	for _, keep := range []int{1, 40, 150} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			m := memory.New(memory.Config{KeepFinished: keep, Archive: envArchive(envs)})
			feed(t, m, envs)
			horizon := m.JobsHorizon()
			if horizon == 0 {
				t.Fatal("nothing let go of")
			}
			ignoreList := func(s string) string {
				var keepLines []string
				for l := range strings.Lines(s) {
					if !strings.HasPrefix(l, "list ") {
						keepLines = append(keepLines, l)
					}
				}
				return strings.Join(keepLines, "")
			}
			if got, want := ignoreList(views(t, m, envs)), ignoreList(views(t, all, envs)); got != want {
				t.Fatalf("views differ from a model that keeps every job:\n%s", firstLineDiff(got, want))
			}
			full, _, total, _ := all.ListJobs(context.Background(), projections.JobFilter{PageSize: 1000})
			got, _, gotTotal, _ := m.ListJobs(context.Background(), projections.JobFilter{PageSize: 1000})
			var want []string
			finishedKept := 0
			for _, v := range full {
				done := v.Status.Terminal()
				if v.SubmittedPosition > horizon || !done {
					want = append(want, v.ID)
					if done {
						finishedKept++
					}
				}
			}
			var gotIDs []string
			for _, v := range got {
				gotIDs = append(gotIDs, v.ID)
			}
			if !slices.Equal(gotIDs, want) || gotTotal != total {
				t.Fatalf("list holds %d jobs (total %d), want %d (total %d)", len(gotIDs), gotTotal, len(want), total)
			}
			if finishedKept < keep-10 || finishedKept > keep+max(keep/4, 16) {
				t.Fatalf("%d finished jobs listed, want about %d", finishedKept, keep)
			}
			// A watch of a job let go of starts from its archived view.
			watched := false
			for _, v := range full {
				if v.SubmittedPosition > horizon || !v.Status.Terminal() {
					continue
				}
				c, cancel := m.WatchJob(v.ID)
				u, ok := <-c
				cancel()
				if !ok || u.Job.ID != v.ID || u.Job.Status != v.Status || !u.Terminal() {
					t.Fatalf("watch of job %s let go of: %+v (open %v), want its %v view", v.ID, u.Job, ok, v.Status)
				}
				watched = true
				break
			}
			if !watched {
				t.Fatal("no job let go of to watch")
			}
		})
	}
}

// Package readmodeltest is the conformance suite every read model passes:
// it feeds a known history of domain events (no store involved) and checks
// the answers of every query, the scheduler's snapshot and job watchers.
//
// Models under test must use the defaults of projections: 5 slots per node
// (DefaultMaxJobsPerNode) and a watch buffer smaller than 300 updates, and
// keep at least the newest 100 lines of the activity log.
package readmodeltest

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// ReadModelUnderTest is a complete read model.
type ReadModelUnderTest interface {
	projections.ReadModel
	projections.Queries
	projections.StatsQueries
	projections.ActivityQueries
	projections.PaymentQueries
	projections.WalletQueries
}

// Run runs the suite; newModel returns an empty model and registers its
// cleanup with t.
func Run(t *testing.T, newModel func(t *testing.T) ReadModelUnderTest) {
	tests := []struct {
		name string
		run  func(*testing.T, func(*testing.T) ReadModelUnderTest)
	}{
		{"JobLifecycle", testJobLifecycle},
		{"JobPaths", testJobPaths},
		{"ListJobsPaging", testListJobsPaging},
		{"ListJobsBadTokens", testListJobsBadTokens},
		{"ListJobsPageSize", testListJobsPageSize},
		{"NodeLifecycle", testNodeLifecycle},
		{"FindNodes", testFindNodes},
		{"ListNodes", testListNodes},
		{"ListNodesPaging", testListNodesPaging},
		{"NodeMetrics", testNodeMetrics},
		{"NodeDeleted", testNodeDeleted},
		{"SchedulerSnapshot", testSchedulerSnapshot},
		{"WatchSlowReader", testWatchSlowReader},
		{"WatchCancel", testWatchCancel},
		{"WatchFinishedJob", testWatchFinishedJob},
		{"WatchManyWatchers", testWatchManyWatchers},
		{"Checkpoint", testCheckpoint},
		{"BatchesAreAtomic", testBatchesAreAtomic},
		{"HourlyStats", testHourlyStats},
		{"HourlyStatsRanges", testHourlyStatsRanges},
		{"NetworkStats", testNetworkStats},
		{"EmptyModel", testEmptyModel},
		{"Activity", testActivity},
		{"ActivityPaging", testActivityPaging},
		{"PaymentsEmpty", testPaymentsEmpty},
		{"Payments", testPayments},
		{"PaymentsPaging", testPaymentsPaging},
		{"WalletPayments", testWalletPayments},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newModel) })
	}
}

// apply applies envs as one batch whose checkpoint is the last position.
func apply(t *testing.T, m projections.ReadModel, envs ...projections.Envelope) {
	t.Helper()
	if len(envs) == 0 {
		return
	}
	if err := m.Apply(t.Context(), envs, envs[len(envs)-1].Position); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// applyInBatches applies envs in batches of varying sizes (1, 2, 3, …, 16,
// 1, …) so that batch boundaries fall everywhere.
func applyInBatches(t *testing.T, m projections.ReadModel, envs []projections.Envelope) {
	t.Helper()
	for size := 1; len(envs) > 0; size = size%16 + 1 {
		n := min(size, len(envs))
		apply(t, m, envs[:n]...)
		envs = envs[n:]
	}
}

func getJob(t *testing.T, m ReadModelUnderTest, id string) projections.JobView {
	t.Helper()
	v, found, err := m.GetJob(t.Context(), id)
	if err != nil || !found {
		t.Fatalf("GetJob(%s) = found %v, err %v; want the job", id, found, err)
	}
	return v
}

func getNode(t *testing.T, m ReadModelUnderTest, id string) projections.NodeView {
	t.Helper()
	v, found, err := m.GetNode(t.Context(), id)
	if err != nil || !found {
		t.Fatalf("GetNode(%s) = found %v, err %v; want the node", id, found, err)
	}
	return v
}

// normTime makes equal instants compare equal under reflect.DeepEqual.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normMap[K comparable, V any](m map[K]V) map[K]V {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func normSlice[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// NormJob returns v with times in UTC and empty collections nil, so views
// from different stores compare with reflect.DeepEqual.
func NormJob(v projections.JobView) projections.JobView {
	v.Spec.Hyperparameters = normMap(v.Spec.Hyperparameters)
	v.Spec.InitialData = normSlice(v.Spec.InitialData)
	v.Metrics = normMap(v.Metrics)
	v.AcceptedAt, v.SubmittedAt, v.AssignedAt = normTime(v.AcceptedAt), normTime(v.SubmittedAt), normTime(v.AssignedAt)
	v.StartedAt, v.EndedAt = normTime(v.StartedAt), normTime(v.EndedAt)
	if v.Result != nil {
		r := *v.Result
		r.FinalMetrics = normMap(r.FinalMetrics)
		v.Result = &r
	}
	return v
}

// NormNode is NormJob for nodes.
func NormNode(v projections.NodeView) projections.NodeView {
	v.Spec = normSpec(v.Spec)
	v.Reservations = normSlice(v.Reservations)
	for i := range v.Reservations {
		v.Reservations[i].At = normTime(v.Reservations[i].At)
	}
	v.RegisteredAt, v.WentOnlineAt, v.WentOfflineAt = normTime(v.RegisteredAt), normTime(v.WentOnlineAt), normTime(v.WentOfflineAt)
	v.LastSeen, v.LastMetricsAt = normTime(v.LastSeen), normTime(v.LastMetricsAt)
	return v
}

func normSpec(s domain.NodeSpec) domain.NodeSpec {
	s.Devices = normSlice(s.Devices)
	s.SupportedFormats = normSlice(s.SupportedFormats)
	s.AvailableRuntimes = normSlice(s.AvailableRuntimes)
	s.PublicKey = normSlice(s.PublicKey)
	return s
}

func diffJob(t *testing.T, what string, got, want projections.JobView) {
	t.Helper()
	if g, w := NormJob(got), NormJob(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func diffNode(t *testing.T, what string, got, want projections.NodeView) {
	t.Helper()
	if g, w := NormNode(got), NormNode(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

const waitLimit = 5 * time.Second

// recv returns the next update, failing if none arrives or c is closed.
func recv(t *testing.T, c <-chan projections.JobUpdate) projections.JobUpdate {
	t.Helper()
	select {
	case u, ok := <-c:
		if !ok {
			t.Fatal("watch channel closed; want an update")
		}
		return u
	case <-time.After(waitLimit):
		t.Fatal("no update within 5s")
	}
	panic("unreachable")
}

// drain returns every update left on c; c must be closed within 5 s.
func drain(t *testing.T, c <-chan projections.JobUpdate) []projections.JobUpdate {
	t.Helper()
	var out []projections.JobUpdate
	deadline := time.After(waitLimit)
	for {
		select {
		case u, ok := <-c:
			if !ok {
				return out
			}
			out = append(out, u)
		case <-deadline:
			t.Fatalf("watch channel not closed within 5s (%d updates so far)", len(out))
		}
	}
}

// expectNothing checks that c has no update ready and is not closed.
func expectNothing(t *testing.T, c <-chan projections.JobUpdate) {
	t.Helper()
	select {
	case u, ok := <-c:
		if !ok {
			t.Fatal("watch channel closed early")
		}
		t.Fatalf("unexpected update %s %+v", u.Event, u.Job)
	case <-time.After(10 * time.Millisecond):
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

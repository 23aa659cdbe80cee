package readmodeltest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

func testSchedulerSnapshot(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	min := func(n int) time.Time { return At(time.Duration(n) * time.Minute) }
	specA := NodeSpec("a", "eu-west", 1, GPU(24*GiB))
	specB := NodeSpec("b", "eu-west", 1, GPU(8*GiB))
	specC := NodeSpec("c", "us-east", 1)
	submit := func(id string, p domain.Priority, at int, mem int64) domain.Event {
		return domain.JobSubmitted{JobID: id, Owner: "owner-" + id, Spec: JobSpec(domain.JobTypeTraining, p, domain.DeviceCUDA, mem), At: min(at)}
	}
	assign := func(id string, at int) []domain.Event {
		return []domain.Event{
			domain.NodeJobReserved{NodeID: "a", JobID: id, At: min(at)},
			domain.JobAssigned{JobID: id, NodeID: "a", Attempt: 1, At: min(at)},
		}
	}
	events := []domain.Event{
		domain.NodeRegistered{NodeID: "c", Owner: "oc", Spec: specC, Reputation: 0.5, At: T0},
		domain.NodeRegistered{NodeID: "a", Owner: "oa", Spec: specA, Reputation: 0.5, At: T0},
		domain.NodeRegistered{NodeID: "b", Owner: "ob", Spec: specB, Reputation: 0.5, At: T0},
		domain.NodeWentOnline{NodeID: "a", At: T0}, domain.NodeWentOnline{NodeID: "b", At: T0},
		domain.NodeBanned{NodeID: "b", Reason: "test", By: "admin", At: T0},
		domain.ReputationAdjusted{NodeID: "a", Delta: 0.2, Score: 0.7, Reason: "test", At: T0},
		submit("j1", domain.PriorityLow, 1, 1*GiB),
		submit("j2", domain.PriorityCritical, 5, 2*GiB),
		submit("j3", domain.PriorityNormal, 3, 3*GiB),
		submit("j4", domain.PriorityCritical, 2, 4*GiB),
		submit("j5", domain.PriorityNormal, 6, GiB),
		submit("j6", domain.PriorityHigh, 6, GiB),
		submit("j7", domain.PriorityNormal, 7, 7*GiB),
		submit("j8", domain.PriorityNormal, 8, GiB),
		submit("j9", domain.PriorityNormal, 9, GiB),
	}
	events = append(events, assign("j5", 10)...)
	events = append(events, assign("j6", 11)...)
	events = append(events,
		domain.JobAccepted{JobID: "j6", NodeID: "a", At: min(12)},
		domain.JobStarted{JobID: "j6", NodeID: "a", At: min(13)})
	events = append(events, assign("j7", 14)...)
	events = append(events,
		domain.JobRejected{JobID: "j7", NodeID: "a", Reason: "busy", At: min(15)},
		domain.JobRequeued{JobID: "j7", PreviousNode: "a", Reason: "rejected", Requeues: 1, At: min(15)},
		domain.NodeJobReleased{NodeID: "a", JobID: "j7", Reason: "rejected", At: min(15)})
	events = append(events, assign("j8", 16)...)
	events = append(events,
		domain.JobStarted{JobID: "j8", NodeID: "a", At: min(17)},
		domain.JobCompleted{JobID: "j8", NodeID: "a", At: min(18)},
		domain.NodeJobReleased{NodeID: "a", JobID: "j8", Reason: "completed", At: min(18)},
		domain.JobCancelled{JobID: "j9", By: "owner-j9", At: min(19)})
	applyInBatches(t, m, h.Envelopes(events...))

	queued := func(id string, p domain.Priority, at int, mem int64) domain.QueuedJob {
		return domain.QueuedJob{JobID: id, Priority: p, SubmittedAt: min(at), Req: domain.Requirements{Device: domain.DeviceCUDA, Memory: mem}}
	}
	checkPending := func(t *testing.T, want ...domain.QueuedJob) {
		t.Helper()
		got := m.PendingJobs()
		for i := range got {
			got[i].SubmittedAt = normTime(got[i].SubmittedAt)
		}
		if !reflect.DeepEqual(normSlice(got), normSlice(want)) {
			t.Fatalf("PendingJobs:\n got %+v\nwant %+v", got, want)
		}
	}
	assignment := func(id string, status domain.JobStatus, assigned, accepted, started time.Time) domain.Assignment {
		return domain.Assignment{JobID: id, NodeID: "a", Owner: "owner-" + id, Status: status, Accepted: !accepted.IsZero(),
			AssignedAt: assigned, AcceptedAt: accepted, StartedAt: started}
	}
	checkAssignments := func(t *testing.T, want ...domain.Assignment) {
		t.Helper()
		got := m.Assignments()
		for i := range got {
			got[i].AssignedAt, got[i].AcceptedAt, got[i].StartedAt = normTime(got[i].AssignedAt), normTime(got[i].AcceptedAt), normTime(got[i].StartedAt)
		}
		if !reflect.DeepEqual(normSlice(got), normSlice(want)) {
			t.Fatalf("Assignments:\n got %+v\nwant %+v", got, want)
		}
	}

	t.Run("PendingJobs in queue order", func(t *testing.T) {
		checkPending(t, queued("j4", domain.PriorityCritical, 2, 4*GiB), queued("j2", domain.PriorityCritical, 5, 2*GiB),
			queued("j3", domain.PriorityNormal, 3, 3*GiB), queued("j7", domain.PriorityNormal, 7, 7*GiB),
			queued("j1", domain.PriorityLow, 1, GiB))
	})
	t.Run("Assignments", func(t *testing.T) {
		checkAssignments(t, assignment("j5", domain.JobStatusAssigned, min(10), time.Time{}, time.Time{}),
			assignment("j6", domain.JobStatusRunning, min(11), min(12), min(13)))
	})
	t.Run("Candidates", func(t *testing.T) {
		want := []domain.Candidate{
			{NodeID: "a", Online: true, Devices: specA.Devices, CPUCores: specA.CPUCores, RAMTotal: specA.RAMTotal,
				RAMAvailable: specA.RAMAvailable, Reputation: 0.7, ActiveJobs: 2},
			{NodeID: "b", Online: true, Banned: true, Devices: specB.Devices, CPUCores: specB.CPUCores, RAMTotal: specB.RAMTotal,
				RAMAvailable: specB.RAMAvailable, Reputation: 0.5},
			{NodeID: "c", CPUCores: specC.CPUCores, RAMTotal: specC.RAMTotal, RAMAvailable: specC.RAMAvailable, Reputation: 0.5},
		}
		got := m.Candidates()
		for i := range got {
			got[i].Devices = normSlice(got[i].Devices)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Candidates:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("Reservations", func(t *testing.T) {
		got := m.Reservations()
		for i := range got {
			got[i].At = normTime(got[i].At)
		}
		want := []domain.Reservation{{NodeID: "a", JobID: "j5", At: min(10)}, {NodeID: "a", JobID: "j6", At: min(11)}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Reservations:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("OnlineNodes", func(t *testing.T) {
		if got := m.OnlineNodes(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("OnlineNodes = %v, want [a b]", got)
		}
	})
	t.Run("NodeOwner", func(t *testing.T) {
		for _, tc := range []struct {
			id, owner string
			found     bool
		}{{"a", "oa", true}, {"c", "oc", true}, {"ghost", "", false}} {
			if owner, found := m.NodeOwner(tc.id); owner != tc.owner || found != tc.found {
				t.Errorf("NodeOwner(%s) = %q, %v; want %q, %v", tc.id, owner, found, tc.owner, tc.found)
			}
		}
	})
	t.Run("the indexes follow new events", func(t *testing.T) {
		var more []domain.Event
		more = append(more, assign("j2", 20)...)
		more = append(more,
			domain.JobRequeued{JobID: "j6", PreviousNode: "a", Reason: "node lost", Requeues: 1, At: min(21)},
			domain.NodeJobReleased{NodeID: "a", JobID: "j6", At: min(21)},
			domain.NodeWentOffline{NodeID: "b", At: min(21)})
		apply(t, m, h.Envelopes(more...)...)
		checkPending(t, queued("j4", domain.PriorityCritical, 2, 4*GiB), queued("j6", domain.PriorityHigh, 6, GiB),
			queued("j3", domain.PriorityNormal, 3, 3*GiB), queued("j7", domain.PriorityNormal, 7, 7*GiB),
			queued("j1", domain.PriorityLow, 1, GiB))
		checkAssignments(t, assignment("j5", domain.JobStatusAssigned, min(10), time.Time{}, time.Time{}),
			assignment("j2", domain.JobStatusAssigned, min(20), time.Time{}, time.Time{}))
		if got := m.OnlineNodes(); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("OnlineNodes = %v, want [a]", got)
		}
		if c := m.Candidates()[0]; c.ActiveJobs != 2 {
			t.Fatalf("node a has %d active jobs, want 2 (j5, j2)", c.ActiveJobs)
		}
		// Only an addition since the last call.
		apply(t, m, h.Envelope(submit("j10", domain.PriorityLow, 30, GiB)))
		checkPending(t, queued("j4", domain.PriorityCritical, 2, 4*GiB), queued("j6", domain.PriorityHigh, 6, GiB),
			queued("j3", domain.PriorityNormal, 3, 3*GiB), queued("j7", domain.PriorityNormal, 7, 7*GiB),
			queued("j1", domain.PriorityLow, 1, GiB), queued("j10", domain.PriorityLow, 30, GiB))
		// The snapshot is a copy.
		p := m.PendingJobs()
		p[0].JobID = "changed"
		if m.PendingJobs()[0].JobID != "j4" {
			t.Fatal("changing PendingJobs' result changed the model")
		}
	})
}

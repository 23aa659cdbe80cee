package projections_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
)

func TestActivityOf(t *testing.T) {
	tests := []struct {
		event        domain.Event
		job, node    string
		summary      string
		leftOut      bool
		stream, name string
	}{
		{event: domain.JobSubmitted{JobID: "j"}, job: "j", summary: "job submitted"},
		{event: domain.JobAssigned{JobID: "j", NodeID: "n", Attempt: 2}, job: "j", node: "n", summary: "assigned to node n (attempt 2)"},
		{event: domain.JobAccepted{JobID: "j", NodeID: "n"}, job: "j", node: "n", summary: "node n accepted the job"},
		{event: domain.JobRejected{JobID: "j", NodeID: "n", Reason: "busy"}, job: "j", node: "n", summary: "node n rejected the job: busy"},
		{event: domain.JobStarted{JobID: "j", NodeID: "n"}, job: "j", node: "n", summary: "node n started the job"},
		{event: domain.JobProgressed{JobID: "j", NodeID: "n", Log: "epoch 1"}, leftOut: true},
		{event: domain.JobCompleted{JobID: "j", NodeID: "n"}, job: "j", node: "n", summary: "job completed"},
		{event: domain.JobFailed{JobID: "j", Reason: "oom"}, job: "j", summary: "job failed: oom"},
		{event: domain.JobCancelled{JobID: "j", NodeID: "n"}, job: "j", node: "n", summary: "job cancelled"},
		{event: domain.JobTimedOut{JobID: "j", NodeID: "n", Phase: domain.PhaseRun}, job: "j", node: "n", summary: "node n timed out (run)"},
		{event: domain.JobRequeued{JobID: "j", PreviousNode: "n", Reason: "node went offline"}, job: "j", node: "n", summary: "job requeued: node went offline"},
		{event: domain.JobDeleted{JobID: "j"}, job: "j", summary: "job deleted"},
		{event: domain.NodeRegistered{NodeID: "n", Spec: domain.NodeSpec{Name: "alpha", Region: "eu-west"}}, node: "n", summary: "node registered: alpha in eu-west"},
		{event: domain.NodeUpdated{NodeID: "n"}, node: "n", summary: "node updated its registration"},
		{event: domain.NodeWentOnline{NodeID: "n"}, node: "n", summary: "node went online"},
		{event: domain.NodeWentOffline{NodeID: "n", Reason: "lease expired"}, node: "n", summary: "node went offline: lease expired"},
		{event: domain.NodeMetricsSampled{NodeID: "n"}, leftOut: true},
		{event: domain.ReputationAdjusted{NodeID: "n", Delta: -0.02, Score: 0.48, Reason: "rejected", JobID: "j"}, job: "j", node: "n", summary: "reputation 0.48 (-0.02): rejected"},
		{event: domain.ReputationAdjusted{NodeID: "n", Delta: 0.01, Score: 0.51}, node: "n", summary: "reputation 0.51 (+0.01)"},
		{event: domain.NodeJobReserved{NodeID: "n", JobID: "j"}, job: "j", node: "n", summary: "slot reserved for job j"},
		{event: domain.NodeJobReleased{NodeID: "n", JobID: "j", Reason: "completed"}, job: "j", node: "n", summary: "slot of job j released: completed"},
		{event: domain.NodeBanned{NodeID: "n", By: "admin", Reason: "abuse"}, node: "n", summary: "node banned by admin: abuse"},
		{event: domain.NodeUnbanned{NodeID: "n", By: "admin"}, node: "n", summary: "node unbanned by admin"},
		{event: domain.NodeDeleted{NodeID: "n", By: "admin", Reason: "abuse"}, node: "n", summary: "node deleted by admin: abuse"},
	}
	covered := map[string]bool{}
	recorded := time.Date(2025, 3, 14, 21, 10, 0, 0, time.FixedZone("IST", 5*3600+1800))
	for _, tc := range tests {
		name := tc.event.EventName()
		covered[name] = true
		e := projections.Envelope{Event: tc.event, Stream: "s-" + name, Revision: 3, Position: 42, Recorded: recorded,
			Metadata: eventstore.Metadata{Actor: "user:alice", CorrelationID: "c"}}
		a, ok := projections.ActivityOf(e)
		if ok == tc.leftOut || ok != projections.InActivity(tc.event) {
			t.Errorf("%s: in the activity log %v, InActivity %v; want %v", name, ok, projections.InActivity(tc.event), !tc.leftOut)
			continue
		}
		if !ok {
			continue
		}
		want := projections.Activity{Position: 42, At: recorded.UTC(), Event: name, Stream: "s-" + name,
			JobID: tc.job, NodeID: tc.node, Actor: "user:alice", Summary: tc.summary}
		if a != want || a.At.Location() != time.UTC {
			t.Errorf("%s:\n got %+v\nwant %+v", name, a, want)
		}
	}
	for _, e := range domain.AllEvents() {
		if !covered[e.EventName()] {
			t.Errorf("%s is not covered", e.EventName())
		}
	}
}

func TestCheckPaymentStatus(t *testing.T) {
	for _, s := range append([]string{""}, projections.PaymentStatuses...) {
		if err := projections.CheckPaymentStatus(s); err != nil {
			t.Errorf("CheckPaymentStatus(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"paid", "Released", " released"} {
		if err := projections.CheckPaymentStatus(s); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("CheckPaymentStatus(%q) = %v, want ErrInvalidArgument", s, err)
		}
	}
}

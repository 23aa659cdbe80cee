package domain

import (
	"errors"
	"testing"
	"time"
)

func TestNodeDelete(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	reg := NodeRegistered{NodeID: "n", Owner: "o", Spec: NodeSpec{Name: "n", IPAddress: "127.0.0.1", Port: 1}, At: at}
	fold := func(events ...Event) *Node {
		n := &Node{}
		for _, e := range events {
			n.Apply(e)
		}
		return n
	}
	deleted := NodeDeleted{NodeID: "n", By: "root", At: at}
	for _, c := range []struct {
		name   string
		n      *Node
		decide func(*Node) ([]Event, error)
		events int
		err    error
	}{
		{"a free node is deleted", fold(reg), func(n *Node) ([]Event, error) { return n.Delete("root", "abuse", at) }, 1, nil},
		{"not one holding a job", fold(reg, NodeJobReserved{NodeID: "n", JobID: "j"}), func(n *Node) ([]Event, error) { return n.Delete("root", "", at) }, 0, ErrFailedPrecondition},
		{"deleting again records nothing", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.Delete("root", "", at) }, 0, nil},
		{"an unknown node", fold(), func(n *Node) ([]Event, error) { return n.Delete("root", "", at) }, 0, ErrNotFound},
		{"a deleted node is not unbanned", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.Unban("root", at) }, 0, ErrFailedPrecondition},
		{"nor re-registered", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.Reregister("o", reg.Spec, at) }, 0, ErrFailedPrecondition},
		{"nor reserved", fold(reg, NodeWentOnline{NodeID: "n"}, deleted), func(n *Node) ([]Event, error) { return n.Reserve("j", 5, 0, at) }, 0, ErrFailedPrecondition},
		{"nor brought online", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.MarkOnline(at), nil }, 0, nil},
		{"its reputation stays", fold(reg, deleted), func(n *Node) ([]Event, error) { return n.AdjustReputation(-0.1, "x", "", at) }, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			events, err := c.decide(c.n)
			if len(events) != c.events || (c.err == nil) != (err == nil) || (c.err != nil && !errors.Is(err, c.err)) {
				t.Fatalf("= %d events, %v; want %d, %v", len(events), err, c.events, c.err)
			}
		})
	}
}

// TestRefusalsCostOneRetryPerOwner: an owner who refuses a job again and
// again spends one of its retries; refusals by distinct owners, as any
// other failure, count each.
func TestRefusalsCostOneRetryPerOwner(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	const maxRetries = 1
	run := func(owners ...string) *Job {
		j := &Job{}
		ev, err := SubmitJob("6f1c2a9e-0000-4000-8000-00000000000a", "alice", JobSpec{Type: JobTypeTraining}, DefaultLimits, at)
		if err != nil {
			t.Fatal(err)
		}
		j.Apply(ev)
		for i, owner := range owners {
			node := "node-" + owner
			if j.Status() != JobStatusPending {
				t.Fatalf("refusal %d: job is %s before its assignment", i, j.Status())
			}
			j.Apply(JobAssigned{JobID: j.ID(), NodeID: node, Attempt: j.Attempts() + 1, At: at})
			events, err := j.Reject(node, owner, "no", maxRetries, at)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				j.Apply(e)
			}
		}
		return j
	}
	if j := run("mallory", "mallory", "mallory", "mallory", "mallory"); j.Status() != JobStatusPending || j.Requeues() != 1 {
		t.Fatalf("five refusals by one owner: job %s with %d requeues counted; want pending, 1", j.Status(), j.Requeues())
	}
	if j := run("mallory", "eve"); j.Status() != JobStatusFailed {
		t.Fatalf("refusals by two owners with max_retries 1: job %s, want failed", j.Status())
	}
	if j := run("", ""); j.Status() != JobStatusFailed {
		t.Fatalf("refusals of unknown owner: job %s, want failed (each counts)", j.Status())
	}
}

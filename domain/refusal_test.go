package domain

import (
	"testing"
	"time"
)

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

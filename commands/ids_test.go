package commands_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

// TestServerMadeIDsAreTimeOrdered: the ids the server makes for jobs and
// nodes are lower-case UUIDv7s that sort in the order they were made; a
// job submitted under one is recorded (one event, found by a load), and a
// client's own id of another version is still taken and retried.
func TestServerMadeIDsAreTimeOrdered(t *testing.T) {
	for _, kind := range bothKinds {
		t.Run(kind.name, func(t *testing.T) {
			x := newHarness(t, kind, nil)
			ids := append(x.registerNodes(2), x.submit("alice"), x.submit("alice"), x.submit("alice"))
			for _, id := range ids {
				u, err := uuid.Parse(id)
				if err != nil || u.Version() != 7 || id != strings.ToLower(id) {
					t.Errorf("server-made id %q: version %d, err %v; want a lower-case UUIDv7", id, u.Version(), err)
				}
			}
			jobs := ids[2:]
			if !slices.IsSorted(jobs) {
				t.Errorf("job ids %v are not in the order they were made", jobs)
			}
			for _, id := range jobs {
				if j := x.job(id); !j.Exists() || len(x.jobEvents(id)) != 1 {
					t.Errorf("job %s: exists %v with %d events, want the one submission", id, j.Exists(), len(x.jobEvents(id)))
				}
			}

			own := uuid.NewString() // a client's version-4 id
			c := commands.SubmitJob{JobID: own, Owner: "bob", Spec: jobSpec()}
			for i, wantCreated := range []bool{true, false} {
				j, created, _, err := x.h.SubmitJob(x.ctx, c)
				if err != nil || created != wantCreated || j.ID() != own {
					t.Errorf("submission %d under the client's id: job %v created %v err %v, want created %v", i+1, j, created, err, wantCreated)
				}
			}
		})
	}
}

// racedStore runs before, once, ahead of the first append that opens a
// job stream: another writer recording that job first.
type racedStore struct {
	eventstore.Store
	once   sync.Once
	before func(jobID string)
}

func (s *racedStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if id, ok := strings.CutPrefix(stream, "job-"); ok && expected.IsNoStream() {
		s.once.Do(func() { s.before(id) })
	}
	return s.Store.Append(ctx, stream, expected, events...)
}

// TestSubmitFreshIDTakenMeanwhile: a submission under a fresh id appends
// without reading the stream first; when another writer recorded that job
// in between, the submission falls back to comparing with it: the same
// submission gets the recorded job back, another one is refused.
func TestSubmitFreshIDTakenMeanwhile(t *testing.T) {
	other := jobSpec()
	other.Epochs++
	for name, tc := range map[string]struct {
		owner       string
		spec        domain.JobSpec
		wantErr     error
		wantCreated bool
	}{
		"the same submission": {"alice", jobSpec(), nil, false},
		"another owner":       {"bob", jobSpec(), domain.ErrAlreadyExists, false},
		"another spec":        {"alice", other, domain.ErrAlreadyExists, false},
	} {
		t.Run(name, func(t *testing.T) {
			store := &racedStore{Store: boltKind.open(t)}
			x := newHarnessOn(t, store, nil)
			var taken string
			store.before = func(id string) {
				taken = id
				x.appendRaw(domain.JobStream(id), domain.JobSubmitted{JobID: id, Owner: tc.owner, Spec: tc.spec, At: x.clock.Now()})
			}
			j, created, _, err := x.h.SubmitJob(x.ctx, commands.SubmitJob{Owner: "alice", Spec: jobSpec()})
			if !errors.Is(err, tc.wantErr) || created != tc.wantCreated {
				t.Fatalf("SubmitJob: created %v, err %v; want created %v, err %v", created, err, tc.wantCreated, tc.wantErr)
			}
			if err == nil && j.ID() != taken {
				t.Errorf("got job %s, want the recorded %s", j.ID(), taken)
			}
			if n := len(x.jobEvents(taken)); n != 1 {
				t.Errorf("job %s has %d events, want the one recorded first", taken, n)
			}
		})
	}
}

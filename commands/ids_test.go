package commands_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/commands"
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

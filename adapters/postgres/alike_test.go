package postgres

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// queryModel is what both models answer.
type queryModel = readmodeltest.ReadModelUnderTest

// TestAlikeMemory replays one realistic history into the memory model and
// into PostgreSQL, with different batch boundaries, and compares the
// answers of every query.
func TestAlikeMemory(t *testing.T) {
	envs := alikeHistory()
	mem := memory.New(memory.Config{})
	applyBatches(t, mem, envs, 512)
	pg := newTestModel(t)
	applyBatches(t, pg, envs, 97)
	compareModels(t, envs, mem, pg)

	// And once more after a restart: the mirror loaded from the tables.
	again := openModel(t, pg.Schema(), Options{})
	compareModels(t, envs, mem, again)
}

// alikeHistory is a realistic history recorded over a few hours (so
// hourly statistics have several hours), ending with jobs still on nodes
// and in the queue.
func alikeHistory() []projections.Envelope {
	envs := readmodeltest.RealisticPaid(12_000, 40, 7)
	h := readmodeltest.NewHistory()
	h.Skip(envs[len(envs)-1].Position)
	at := readmodeltest.At(time.Hour)
	for i := range 30 {
		id, node := fmt.Sprintf("open-%02d", i), fmt.Sprintf("node-%05d", i%7)
		envs = append(envs, h.Envelopes(
			domain.JobSubmitted{JobID: id, Owner: fmt.Sprintf("user-%d", i%4), At: at,
				Spec: readmodeltest.JobSpec(domain.JobTypeInference, domain.Priority(i%4), domain.DeviceCUDA, readmodeltest.GiB)},
		)...)
		if i%3 == 0 {
			continue // stays pending
		}
		envs = append(envs, h.Envelopes(
			domain.NodeJobReserved{NodeID: node, JobID: id, At: at},
			domain.JobAssigned{JobID: id, NodeID: node, Attempt: 1, At: at.Add(time.Duration(i) * time.Second)},
		)...)
		if i%3 == 2 {
			envs = append(envs, h.Envelopes(domain.JobStarted{JobID: id, NodeID: node, At: at.Add(time.Minute)})...)
		}
	}
	for i := range envs {
		envs[i].Recorded = readmodeltest.T0.Add(time.Duration(envs[i].Position) * 997 * time.Millisecond)
	}
	return envs
}

// compareModels fails at the first query the two models answer
// differently.
func compareModels(t *testing.T, envs []projections.Envelope, want, got queryModel) {
	t.Helper()
	ctx := context.Background()
	if want.Checkpoint() != got.Checkpoint() {
		t.Fatalf("checkpoint %d, want %d", got.Checkpoint(), want.Checkpoint())
	}
	var jobs, nodes []string
	owners := map[string]bool{}
	for _, e := range envs {
		if id, ok := projections.JobIDOf(e.Event); ok && !slices.Contains(jobs, id) {
			jobs = append(jobs, id)
		}
		if s, ok := e.Event.(domain.JobSubmitted); ok {
			owners[s.Owner] = true
		}
		if r, ok := e.Event.(domain.NodeRegistered); ok {
			nodes = append(nodes, r.NodeID)
		}
	}
	for _, id := range append(jobs, "no-such-job") {
		w, wf, werr := want.GetJob(ctx, id)
		g, gf, gerr := got.GetJob(ctx, id)
		if werr != nil || gerr != nil || wf != gf || !reflect.DeepEqual(readmodeltest.NormJob(w), readmodeltest.NormJob(g)) {
			t.Fatalf("GetJob(%s):\n got %v %v %+v\nwant %v %v %+v", id, gf, gerr, g, wf, werr, w)
		}
	}
	training := domain.JobTypeTraining
	filters := []projections.JobFilter{
		{},
		{Owner: "user-1"},
		{Owner: "user-2", Statuses: []domain.JobStatus{domain.JobStatusCompleted}},
		{Statuses: projections.InProgress},
		{Statuses: []domain.JobStatus{domain.JobStatusPending}},
		{Statuses: []domain.JobStatus{domain.JobStatusFailed, domain.JobStatusCancelled}},
		{Type: &training},
		{Type: &training, Owner: "user-3", Statuses: []domain.JobStatus{domain.JobStatusCompleted, domain.JobStatusFailed}},
		{Owner: "nobody"},
	}
	for _, f := range filters {
		f.PageSize = 173
		for page := 0; ; page++ {
			wj, wnext, wtotal, werr := want.ListJobs(ctx, f)
			gj, gnext, gtotal, gerr := got.ListJobs(ctx, f)
			if werr != nil || gerr != nil || wnext != gnext || wtotal != gtotal || len(wj) != len(gj) {
				t.Fatalf("ListJobs(%+v) page %d: got %d jobs, next %q, total %d, err %v; want %d, %q, %d, %v",
					f, page, len(gj), gnext, gtotal, gerr, len(wj), wnext, wtotal, werr)
			}
			for i := range wj {
				if !reflect.DeepEqual(readmodeltest.NormJob(wj[i]), readmodeltest.NormJob(gj[i])) {
					t.Fatalf("ListJobs(%+v) page %d, job %d:\n got %+v\nwant %+v", f, page, i, gj[i], wj[i])
				}
			}
			if wnext == "" {
				break
			}
			f.PageToken = wnext
		}
	}

	for _, id := range append(nodes, "no-such-node") {
		w, wf, werr := want.GetNode(ctx, id)
		g, gf, gerr := got.GetNode(ctx, id)
		if werr != nil || gerr != nil || wf != gf || !reflect.DeepEqual(readmodeltest.NormNode(w), readmodeltest.NormNode(g)) {
			t.Fatalf("GetNode(%s):\n got %v %v %+v\nwant %v %v %+v", id, gf, gerr, g, wf, werr, w)
		}
		wp, werr := want.NodeMetrics(ctx, id, time.Time{}, time.Time{})
		gp, gerr := got.NodeMetrics(ctx, id, time.Time{}, time.Time{})
		if werr != nil || gerr != nil || !samePoints(wp, gp) {
			t.Fatalf("NodeMetrics(%s): got %d points (err %v), want %d (err %v)", id, len(gp), gerr, len(wp), werr)
		}
		if len(wp) > 2 {
			from, to := wp[1].At, wp[len(wp)-2].At
			wp, _ = want.NodeMetrics(ctx, id, from, to)
			gp, _ = got.NodeMetrics(ctx, id, from, to)
			if !samePoints(wp, gp) {
				t.Fatalf("NodeMetrics(%s, %s, %s): got %d points, want %d", id, from, to, len(gp), len(wp))
			}
		}
	}
	now := envs[len(envs)-1].Recorded.Add(time.Minute)
	for _, sort := range []projections.NodeSort{projections.SortByPrice, projections.SortByPerformance,
		projections.SortByReputation, projections.SortByAvailability} {
		for _, f := range []projections.NodeListFilter{
			{Sort: sort, PageSize: 7, Now: now},
			{Sort: sort, Descending: true, OnlineOnly: true, Region: "EU-west", PageSize: 5, Now: now},
			{Sort: sort, Device: domain.DeviceCUDA, MinPrice: 1, MaxPrice: 3, Now: now},
		} {
			for {
				w, werr := want.ListNodes(ctx, f)
				g, gerr := got.ListNodes(ctx, f)
				if werr != nil || gerr != nil || !sameNodePage(w, g) {
					t.Fatalf("ListNodes(%+v):\n got %+v (%v)\nwant %+v (%v)", f, g, gerr, w, werr)
				}
				if w.Next == "" {
					break
				}
				f.PageToken = w.Next
			}
		}
		billing := 0
		for _, f := range []projections.NodeFindFilter{
			{Sort: sort, Now: now},
			{Sort: sort, Device: domain.DeviceCUDA, MinMemory: 12 * readmodeltest.GiB, MaxResults: 50, Now: now},
			{Sort: sort, PreferredRegion: "us-east", PreferredBilling: &billing, MinReputation: 0.5, MaxResults: 1000, Now: now},
			{Sort: sort, AllowedRegions: []string{"ap-south", "eu-west"}, MaxPricePerHour: 2.5, Now: now},
		} {
			w, werr := want.FindNodes(ctx, f)
			g, gerr := got.FindNodes(ctx, f)
			if werr != nil || gerr != nil || !sameMatches(w, g) {
				t.Fatalf("FindNodes(%+v):\n got %+v (%v)\nwant %+v (%v)", f, g, gerr, w, werr)
			}
		}
	}

	t.Logf("compared %d jobs, %d nodes, %d pending, %d assignments, %d reservations", len(jobs), len(nodes),
		len(want.PendingJobs()), len(want.Assignments()), len(want.Reservations()))
	if w, g := want.PendingJobs(), got.PendingJobs(); !reflect.DeepEqual(normQueue(w), normQueue(g)) {
		t.Fatalf("PendingJobs: got %d, want %d\n got %+v\nwant %+v", len(g), len(w), g, w)
	}
	if w, g := want.Candidates(), got.Candidates(); !reflect.DeepEqual(normCandidates(w), normCandidates(g)) {
		t.Fatalf("Candidates:\n got %+v\nwant %+v", g, w)
	}
	if w, g := want.Assignments(), got.Assignments(); !reflect.DeepEqual(normAssignments(w), normAssignments(g)) {
		t.Fatalf("Assignments:\n got %+v\nwant %+v", g, w)
	}
	if w, g := want.Reservations(), got.Reservations(); !reflect.DeepEqual(normReservations(w), normReservations(g)) {
		t.Fatalf("Reservations:\n got %+v\nwant %+v", g, w)
	}
	if w, g := want.OnlineNodes(), got.OnlineNodes(); !slices.Equal(w, g) {
		t.Fatalf("OnlineNodes:\n got %v\nwant %v", g, w)
	}
	for _, id := range append(nodes, "no-such-node") {
		wo, wf := want.NodeOwner(id)
		g, gf := got.NodeOwner(id)
		if wo != g || wf != gf {
			t.Fatalf("NodeOwner(%s) = %q %v, want %q %v", id, g, gf, wo, wf)
		}
	}

	for _, at := range []time.Time{now, envs[len(envs)/2].Recorded, now.Add(30 * time.Hour)} {
		w, werr := want.NetworkStats(ctx, at)
		g, gerr := got.NetworkStats(ctx, at)
		if werr != nil || gerr != nil || !reflect.DeepEqual(w, g) {
			t.Fatalf("NetworkStats(%s):\n got %+v (%v)\nwant %+v (%v)", at, g, gerr, w, werr)
		}
	}
	from, to := projections.HourOf(envs[0].Recorded).Add(-2*time.Hour), now.Add(3*time.Hour)
	if w, g := must(want.HourlyStats(ctx, from, to)), must(got.HourlyStats(ctx, from, to)); !reflect.DeepEqual(w, g) {
		t.Fatalf("HourlyStats:\n got %+v\nwant %+v", g, w)
	}
	var before uint64
	for page := range 5 { // the memory model keeps the newest 10,000 lines
		w, g := must(want.RecentActivity(ctx, 333, before)), must(got.RecentActivity(ctx, 333, before))
		if !reflect.DeepEqual(normActivity(w), normActivity(g)) {
			t.Fatalf("RecentActivity page %d (before %d): got %d lines, want %d", page, before, len(g), len(w))
		}
		if len(w) == 0 {
			break
		}
		before = w[len(w)-1].Position
	}
	comparePayments(t, envs, want, got)
}

// comparePayments compares every payment list and a few wallets' histories.
func comparePayments(t *testing.T, envs []projections.Envelope, want, got queryModel) {
	t.Helper()
	ctx := context.Background()
	norm := func(ps []projections.PaymentView) []projections.PaymentView {
		out := make([]projections.PaymentView, len(ps))
		for i, p := range ps {
			out[i] = readmodeltest.NormPayment(p)
		}
		return out
	}
	payments := 0
	wallets := []string{"wallet-nobody"}
	for _, e := range envs {
		if projections.OpensPayment(e.Event) {
			payments++
		}
		switch ev := e.Event.(type) {
		case domain.EscrowFunded:
			if len(wallets) < 4 && !slices.Contains(wallets, ev.Payer) {
				wallets = append(wallets, ev.Payer)
			}
		case domain.PaymentReleaseSubmitted:
			if len(wallets) < 6 && !slices.Contains(wallets, ev.Payee) {
				wallets = append(wallets, ev.Payee)
			}
		}
	}
	for _, status := range append([]string{""}, projections.PaymentStatuses...) {
		var before time.Time
		seen := 0
		for page := 0; ; page++ {
			w, g := must(want.ListPayments(ctx, status, 333, before)), must(got.ListPayments(ctx, status, 333, before))
			if !reflect.DeepEqual(norm(w), norm(g)) {
				t.Fatalf("ListPayments(%q) page %d: got %d payments, want %d\n got %+v\nwant %+v", status, page, len(g), len(w), g, w)
			}
			if len(w) == 0 {
				break
			}
			seen += len(w)
			before = w[len(w)-1].UpdatedAt
		}
		if status == "" && seen == 0 && payments > 0 {
			t.Fatalf("the history opens %d payments; none listed", payments)
		}
	}
	for _, wallet := range wallets {
		for _, offset := range []int{0, 7, 1000} {
			w, wt, werr := want.WalletPayments(ctx, wallet, 50, offset)
			g, gt, gerr := got.WalletPayments(ctx, wallet, 50, offset)
			if werr != nil || gerr != nil || wt != gt || len(w) != len(g) {
				t.Fatalf("WalletPayments(%s, offset %d): got %d of %d (%v), want %d of %d (%v)", wallet, offset, len(g), gt, gerr, len(w), wt, werr)
			}
			for i := range w {
				if w[i].Role != g[i].Role || !reflect.DeepEqual(readmodeltest.NormPayment(w[i].Payment), readmodeltest.NormPayment(g[i].Payment)) {
					t.Fatalf("WalletPayments(%s, offset %d)[%d]:\n got %+v\nwant %+v", wallet, offset, i, g[i], w[i])
				}
			}
			if wallet != "wallet-nobody" && offset == 0 && wt == 0 {
				t.Fatalf("WalletPayments(%s): no payment; the history should have some", wallet)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

func samePoints(a, b []projections.MetricPoint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].At.Equal(b[i].At) || a[i].Sample != b[i].Sample {
			return false
		}
	}
	return true
}

func normNodes(vs []projections.NodeView) []projections.NodeView {
	out := make([]projections.NodeView, len(vs))
	for i, v := range vs {
		out[i] = readmodeltest.NormNode(v)
	}
	return out
}

func sameNodePage(a, b projections.NodePage) bool {
	a.Nodes, b.Nodes = normNodes(a.Nodes), normNodes(b.Nodes)
	return reflect.DeepEqual(a, b)
}

func sameMatches(a, b projections.NodeMatches) bool {
	a.Nodes, b.Nodes = normNodes(a.Nodes), normNodes(b.Nodes)
	return reflect.DeepEqual(a, b)
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normQueue(q []domain.QueuedJob) []domain.QueuedJob {
	out := slices.Clone(q)
	for i := range out {
		out[i].SubmittedAt = utc(out[i].SubmittedAt)
	}
	return out
}

func normCandidates(cs []domain.Candidate) []domain.Candidate {
	out := slices.Clone(cs)
	for i := range out {
		if len(out[i].Devices) == 0 {
			out[i].Devices = nil
		}
	}
	return out
}

func normAssignments(as []domain.Assignment) []domain.Assignment {
	out := slices.Clone(as)
	for i := range out {
		a := &out[i]
		a.AssignedAt, a.AcceptedAt, a.StartedAt = utc(a.AssignedAt), utc(a.AcceptedAt), utc(a.StartedAt)
	}
	return out
}

func normReservations(rs []domain.Reservation) []domain.Reservation {
	out := slices.Clone(rs)
	for i := range out {
		out[i].At = utc(out[i].At)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func normActivity(as []projections.Activity) []projections.Activity {
	out := slices.Clone(as)
	for i := range out {
		out[i].At = utc(out[i].At)
	}
	return out
}

// newMemory returns a memory model with envs applied.
func newMemory(envs []projections.Envelope) *memory.Model {
	m := memory.New(memory.Config{})
	if err := m.Apply(context.Background(), envs, envs[len(envs)-1].Position); err != nil {
		panic(err)
	}
	return m
}

package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// checkFrame decodes a frame and checks it against the log.
func (x *env) checkFrame(f frame) rest.EventJSON {
	x.t.Helper()
	var ev rest.EventJSON
	if err := json.Unmarshal([]byte(f.data), &ev); err != nil {
		x.t.Fatalf("frame data %q: %v", f.data, err)
	}
	if strconv.FormatUint(ev.Position, 10) != f.id || ev.Event != f.event || ev.Stream == "" || len(ev.Payload) == 0 {
		x.t.Fatalf("frame id %s event %s carries %+v", f.id, f.event, ev)
	}
	return ev
}

// positionsAfter returns the global positions of the log after pos.
func (x *env) positionsAfter(pos uint64) []uint64 {
	x.t.Helper()
	recs, err := x.store.ReadAll(x.ctx, pos, 0)
	if err != nil {
		x.t.Fatal(err)
	}
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Position
	}
	return out
}

// collect reads n events, checking each, and returns their positions.
func (x *env) collect(s *sse, n int) []uint64 {
	x.t.Helper()
	out := make([]uint64, 0, n)
	for range n {
		ev := x.checkFrame(s.next())
		if len(out) > 0 && ev.Position <= out[len(out)-1] {
			x.t.Fatalf("event ids not strictly increasing: %d after %d", ev.Position, out[len(out)-1])
		}
		out = append(out, ev.Position)
	}
	return out
}

func TestEventStream(t *testing.T) {
	x := newEnv(t)
	node := x.registerNode(nodeSpec("alpha", "eu-west", 1, domain.DeviceCUDA), true)
	x.awaitReadModel()
	head := x.positionsAfter(0)

	// Without a position the stream sends only new events.
	live := x.openStream("", nil)
	live.waitComment("live")
	job := x.submit("alice", domain.JobTypeTraining)
	x.complete(job, node)
	x.registerNode(nodeSpec("beta", "us-east", 2, domain.DeviceMetal), true)
	want := x.positionsAfter(head[len(head)-1])
	got := x.collect(live, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("live stream = %v; want the new events %v", got, want)
	}
	// Frames are the log's events, in order, typed.
	// A submission records its payment (here skipped: no chain) before the job.
	recs, _ := x.store.ReadAll(x.ctx, head[len(head)-1], 0)
	if recs[0].Type != "PaymentSkipped" || recs[1].Type != "JobSubmitted" {
		t.Fatalf("first new events are %s, %s; want PaymentSkipped, JobSubmitted", recs[0].Type, recs[1].Type)
	}

	// A client that stops after the third event and reconnects with
	// Last-Event-ID gets the rest: no gap, no duplicate, whatever was
	// appended while it was away.
	live.close()
	last := got[2]
	x.submit("bob", domain.JobTypeInference)
	x.submit("carol", domain.JobTypeEvaluation)
	resumed := x.openStream("?after=1", map[string]string{"Last-Event-ID": strconv.FormatUint(last, 10)})
	want = x.positionsAfter(last)
	if got := x.collect(resumed, len(want)); !slices.Equal(got, want) {
		t.Fatalf("resumed after %d = %v; want %v", last, got, want)
	}
	resumed.waitComment("live")
	x.submit("dave", domain.JobTypeTraining) // and it goes on live
	pay, next := x.checkFrame(resumed.next()), x.checkFrame(resumed.next())
	if all := x.positionsAfter(0); next.Position != all[len(all)-1] || pay.Event != "PaymentSkipped" || next.Event != "JobSubmitted" {
		t.Fatalf("live events after the resume = %+v, %+v", pay, next)
	}

	// ?after=0 replays the whole log, then goes live.
	replay := x.openStream("?after=0", nil)
	all := x.positionsAfter(0)
	if got := x.collect(replay, len(all)); !slices.Equal(got, all) {
		t.Fatalf("replay = %v; want %v", got, all)
	}
	replay.waitComment("live")

	// EventSource cannot send headers: ?access_token= works on the stream.
	viaQuery := x.openStream(q("after", "0", "access_token", x.token), nil)
	if first := x.checkFrame(viaQuery.next()); first.Position != 1 || first.Event != "NodeRegistered" {
		t.Fatalf("first event via access_token = %+v", first)
	}
	if a := x.do(http.MethodGet, "/api/events/stream"+q("access_token", x.mint("ursula", "")), "", nil); a.status != http.StatusForbidden {
		t.Fatalf("stream with a plain user's access_token = %d %s", a.status, a.body)
	}
	// access_token is the stream's only: elsewhere it is an unknown parameter.
	x.badRequest("/api/jobs"+q("access_token", x.token), "access_token")
}

func TestEventStreamManyWriters(t *testing.T) {
	x := newEnv(t)
	s := x.openStream("", nil)
	s.waitComment("live")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 10 {
				x.submit(fmt.Sprintf("writer-%d", w), domain.JobTypeTraining)
			}
		})
	}
	wg.Wait()
	want := x.positionsAfter(0)
	if got := x.collect(s, len(want)); !slices.Equal(got, want) {
		t.Fatalf("stream under concurrent appends = %v; want %v", got, want)
	}
}

func TestEventStreamHeartbeatLimitAndShutdown(t *testing.T) {
	x := newEnv(t, func(_ *rest.Deps, o *rest.Options) {
		o.Heartbeat = 20 * time.Millisecond
		o.MaxStreams = 1
	})
	s := x.openStream("", nil)
	s.waitComment("live")
	s.waitComment("heartbeat")
	a := x.do(http.MethodGet, "/api/events/stream", x.token, nil)
	if e := a.err(t); a.status != http.StatusServiceUnavailable || e.Error.Code != rest.CodeUnavailable {
		t.Fatalf("second stream with MaxStreams 1 = %d %s", a.status, a.body)
	}
	// Closing the first frees its slot.
	s.close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithCancel(x.ctx)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, x.url+"/api/events/stream", nil)
		req.Header.Set("Authorization", "Bearer "+x.token)
		resp, err := x.client.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		status := resp.StatusCode
		cancel()
		resp.Body.Close()
		if status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("stream after the first closed = %d; want its slot back", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartAndShutdownEndStreams(t *testing.T) {
	x := newEnv(t)
	if err := x.srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + x.srv.Addr().String()
	resp, err := http.Get(base + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health on the real listener = %d", resp.StatusCode)
	}
	req, _ := http.NewRequestWithContext(x.ctx, http.MethodGet, base+"/api/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+x.token)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, stream.Body); ended <- err }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := x.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an open stream = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v: the stream held it", d)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end at shutdown")
	}
	if _, err := http.Get(base + "/api/health"); err == nil {
		t.Fatal("the server still answers after Shutdown")
	}
}

// ---- stats, payments, activity ----

type fakeStats struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeStats) NetworkStats(_ context.Context, now time.Time) (projections.NetworkStats, error) {
	f.mu.Lock()
	f.now = now
	f.mu.Unlock()
	h := now.UTC().Truncate(time.Hour)
	return projections.NetworkStats{NodesTotal: 4, NodesOnline: 3, JobsTotal: 10, JobsPending: 2, JobsRunning: 1,
		JobsCompleted24h: 6, JobsFailed24h: 1, Hourly: []projections.HourStats{
			{Hour: h.Add(-time.Hour), Submitted: 3, Completed: 2, AvgDurationMs: 1500},
			{Hour: h, Submitted: 1, Failed: 1},
		}}, nil
}

func (f *fakeStats) HourlyStats(context.Context, time.Time, time.Time) ([]projections.HourStats, error) {
	return nil, nil
}

// fakePayments answers like a read model: newest first, by status, before.
type fakePayments struct{ all []projections.PaymentView }

func (f fakePayments) ListPayments(_ context.Context, status string, limit int, before time.Time) ([]projections.PaymentView, error) {
	var out []projections.PaymentView
	for _, p := range f.all { // newest first
		if (status == "" || p.Status == status) && (before.IsZero() || p.UpdatedAt.Before(before)) && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

type fakeActivity struct{ all []projections.Activity }

func (f fakeActivity) RecentActivity(_ context.Context, limit int, before uint64) ([]projections.Activity, error) {
	limit = projections.PageSize(limit) // as read models do: at most MaxPageSize
	var out []projections.Activity
	for _, a := range f.all { // newest first
		if (before == 0 || a.Position < before) && len(out) < limit {
			out = append(out, a)
		}
	}
	return out, nil
}

func TestStatsPaymentsActivity(t *testing.T) {
	stats := &fakeStats{}
	base := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	var pays fakePayments
	for i := 9; i >= 0; i-- {
		st := []string{"released", "refunded", "funded"}[i%3]
		pays.all = append(pays.all, projections.PaymentView{JobID: fmt.Sprintf("job-%d", i), Status: st, Amount: float64(i),
			Payer: "payer", Payee: "node-wallet", Signature: fmt.Sprintf("sig%d", i), UpdatedAt: base.Add(time.Duration(i) * time.Minute)})
	}
	var acts fakeActivity
	for pos := uint64(12); pos >= 1; pos-- {
		acts.all = append(acts.all, projections.Activity{Position: pos, At: base.Add(time.Duration(pos) * time.Second),
			Event: "JobSubmitted", Stream: "job-x", JobID: "x", Actor: "user:alice", Summary: "job submitted"})
	}
	x := newEnv(t, func(d *rest.Deps, _ *rest.Options) { d.Stats, d.Payments, d.Activity = stats, pays, acts })

	var st rest.StatsJSON
	x.get("/api/stats", http.StatusOK, &st)
	if st.NodesTotal != 4 || st.NodesOnline != 3 || st.JobsPending != 2 || st.JobsRunning != 1 || st.JobsCompleted24h != 6 ||
		st.JobsFailed24h != 1 || len(st.Hourly) != 2 || st.Hourly[0].AvgDurationMs != 1500 || !st.GeneratedAt.Equal(x.clock.Now()) {
		t.Fatalf("stats = %+v", st)
	}
	if !stats.now.Equal(x.clock.Now()) {
		t.Fatalf("stats asked at %v, want the server clock %v", stats.now, x.clock.Now())
	}

	walkPayments := func(query string) []string {
		var out []string
		cursor := ""
		for range 20 {
			path := "/api/payments?limit=3" + query
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			var page rest.PaymentListJSON
			x.get(path, http.StatusOK, &page)
			for _, p := range page.Payments {
				out = append(out, p.JobID)
			}
			if cursor = page.NextCursor; cursor == "" {
				return out
			}
		}
		t.Fatal("payments pagination does not end")
		return nil
	}
	if got, want := walkPayments(""), []string{"job-9", "job-8", "job-7", "job-6", "job-5", "job-4", "job-3", "job-2", "job-1", "job-0"}; !slices.Equal(got, want) {
		t.Fatalf("payments = %v; want %v", got, want)
	}
	if got, want := walkPayments("&status=released"), []string{"job-9", "job-6", "job-3", "job-0"}; !slices.Equal(got, want) {
		t.Fatalf("released payments = %v; want %v", got, want)
	}
	var one rest.PaymentListJSON
	x.get("/api/payments?limit=1", http.StatusOK, &one)
	if p := one.Payments[0]; p.Amount != 9 || p.Signature != "sig9" || p.UpdatedAt == nil || p.Payee != "node-wallet" {
		t.Fatalf("payment = %+v", p)
	}

	var seen []uint64
	cursor := ""
	for range 20 {
		path := "/api/activity?limit=5"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page rest.ActivityListJSON
		x.get(path, http.StatusOK, &page)
		for _, a := range page.Activity {
			seen = append(seen, a.Position)
			if a.Event != "JobSubmitted" || a.Actor != "user:alice" || a.Summary == "" || a.Time == "" {
				t.Fatalf("activity = %+v", a)
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if want := []uint64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}; !slices.Equal(seen, want) {
		t.Fatalf("activity = %v; want %v", seen, want)
	}
	// At the largest page size the next page is still found.
	var big fakeActivity
	for pos := uint64(1003); pos >= 1; pos-- {
		big.all = append(big.all, projections.Activity{Position: pos, Event: "JobSubmitted"})
	}
	z := newEnv(t, func(d *rest.Deps, _ *rest.Options) { d.Activity = big })
	var p1, p2 rest.ActivityListJSON
	z.get("/api/activity?limit=1000", http.StatusOK, &p1)
	if len(p1.Activity) != 1000 || p1.NextCursor == "" {
		t.Fatalf("limit=1000 over 1003 lines: %d lines, next %q", len(p1.Activity), p1.NextCursor)
	}
	z.get("/api/activity?limit=1000&cursor="+p1.NextCursor, http.StatusOK, &p2)
	if len(p2.Activity) != 3 || p2.Activity[0].Position != 3 || p2.NextCursor != "" {
		t.Fatalf("second page = %d lines from %d, next %q", len(p2.Activity), p2.Activity[0].Position, p2.NextCursor)
	}

	// A cursor of one list is refused by another.
	var firstPay rest.PaymentListJSON
	x.get("/api/payments?limit=1", http.StatusOK, &firstPay)
	x.badRequest("/api/activity?cursor="+firstPay.NextCursor, "cursor")

	// Without those read models, the endpoints say so.
	y := newEnv(t, func(d *rest.Deps, _ *rest.Options) { d.Stats, d.Payments, d.Activity = nil, nil, nil })
	for _, path := range []string{"/api/stats", "/api/payments", "/api/activity"} {
		a := y.do(http.MethodGet, path, y.token, nil)
		if e := a.err(t); a.status != http.StatusServiceUnavailable || e.Error.Code != rest.CodeUnavailable {
			t.Fatalf("%s without its read model = %d %s", path, a.status, a.body)
		}
	}
}

// TestStatsFromTheReadModel runs /api/stats against projections/memory
// once it answers StatsQueries.
func TestStatsFromTheReadModel(t *testing.T) {
	x := newEnv(t)
	if _, ok := any(x.model).(projections.StatsQueries); !ok {
		t.Skip("projections/memory does not implement projections.StatsQueries yet; TestStatsPaymentsActivity covers the endpoint with a stand-in")
	}
	buildJobs(x)
	x.registerNode(nodeSpec("beta", "us-east", 2, domain.DeviceMetal), false)
	x.awaitReadModel()
	var st rest.StatsJSON
	x.get("/api/stats", http.StatusOK, &st)
	if st.NodesTotal != 2 || st.NodesOnline != 1 || st.JobsTotal != 7 || st.JobsPending != 2 || st.JobsRunning != 2 ||
		st.JobsCompleted24h != 1 || st.JobsFailed24h != 1 || len(st.Hourly) != 24 {
		t.Fatalf("stats = %+v", st)
	}
	if _, ok := any(x.model).(projections.ActivityQueries); ok {
		var acts rest.ActivityListJSON
		x.get("/api/activity?limit=3", http.StatusOK, &acts)
		if len(acts.Activity) != 3 || acts.NextCursor == "" || acts.Activity[0].Position <= acts.Activity[1].Position {
			t.Fatalf("activity = %+v", acts)
		}
		var next rest.ActivityListJSON
		x.get("/api/activity?limit=3&cursor="+acts.NextCursor, http.StatusOK, &next)
		if len(next.Activity) == 0 || next.Activity[0].Position >= acts.Activity[2].Position {
			t.Fatalf("activity page 2 = %+v after %+v", next.Activity, acts.Activity)
		}
	}
	if _, ok := any(x.model).(projections.PaymentQueries); ok {
		var pays rest.PaymentListJSON
		x.get("/api/payments?status=released", http.StatusOK, &pays)
		if pays.Payments == nil {
			t.Fatal("payments list is null, want []")
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	x := newEnv(t)
	node := x.registerNode(nodeSpec("alpha", "eu-west", 1, domain.DeviceCUDA), true)
	done := x.submit("alice", domain.JobTypeTraining)
	x.complete(done, node)
	failed := x.submit("alice", domain.JobTypeTraining)
	x.run(failed, node)
	x.must(x.h.FailJob(x.ctx, failed, node, "oom"))
	x.must(x.h.MarkNodeOffline(x.ctx, node, "gone"))
	x.awaitReadModel()
	x.get("/api/jobs", http.StatusOK, nil)
	x.get("/api/jobs/"+done, http.StatusOK, nil)
	x.do(http.MethodGet, "/api/jobs?limit=0", x.token, nil)
	x.do(http.MethodGet, "/api/definitely/not/a/route", x.token, nil)

	a := x.do(http.MethodGet, "/metrics", "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("/metrics = %d", a.status)
	}
	body := string(a.body)
	for _, want := range []string{
		"cyxwiz_jobs_submitted_total 2",
		"cyxwiz_jobs_completed_total 1",
		"cyxwiz_jobs_failed_total 1",
		`cyxwiz_node_transitions_total{to="online"} 1`,
		`cyxwiz_node_transitions_total{to="offline"} 1`,
		`cyxwiz_job_duration_seconds_count{outcome="completed"} 1`,
		`cyxwiz_job_duration_seconds_sum{outcome="completed"} 90`,
		`cyxwiz_job_duration_seconds_count{outcome="failed"} 1`,
		`cyxwiz_http_requests_total{code="200",method="GET",route="/api/jobs"} 1`,
		`cyxwiz_http_requests_total{code="200",method="GET",route="/api/jobs/:id"} 1`,
		`cyxwiz_http_requests_total{code="400",method="GET",route="/api/jobs"} 1`,
		`cyxwiz_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`cyxwiz_http_request_duration_seconds_count{method="GET",route="/api/jobs"} 2`,
		`cyxwiz_eventstore_append_duration_seconds_count{result="ok"}`,
		"cyxwiz_eventstore_appended_events_total",
		"cyxwiz_projection_lag_seconds",
		"cyxwiz_projection_position",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/metrics"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	memstore "github.com/cyxwiz/central-server/eventstore/memory"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// scrape returns the exposition text of m's registry.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

// value returns one series' value from the exposition text, or fails.
func value(t *testing.T, text, series string) string {
	t.Helper()
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	t.Fatalf("no series %s in:\n%s", series, text)
	return ""
}

func expect(t *testing.T, text string, want map[string]string) {
	t.Helper()
	for series, v := range want {
		if got := value(t, text, series); got != v {
			t.Errorf("%s = %s, want %s", series, got, v)
		}
	}
}

func history(at func(time.Duration) time.Time) []projections.Envelope {
	h := readmodeltest.NewHistory()
	spec := readmodeltest.NodeSpec("n1", "eu", 1, readmodeltest.GPU(8*readmodeltest.GiB))
	job := readmodeltest.JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceAny, 0)
	return h.Envelopes(
		domain.NodeRegistered{NodeID: "n1", Owner: "op", Spec: spec, Reputation: 0.5, At: at(0)},
		domain.NodeWentOnline{NodeID: "n1", At: at(0)},
		domain.JobSubmitted{JobID: "j1", Owner: "u", Spec: job, At: at(time.Second)},
		domain.JobSubmitted{JobID: "j2", Owner: "u", Spec: job, At: at(time.Second)},
		domain.JobSubmitted{JobID: "j3", Owner: "u", Spec: job, At: at(time.Second)},
		domain.JobAssigned{JobID: "j1", NodeID: "n1", Attempt: 1, At: at(2 * time.Second)},
		domain.JobStarted{JobID: "j1", NodeID: "n1", At: at(10 * time.Second)},
		domain.JobAssigned{JobID: "j2", NodeID: "n1", Attempt: 1, At: at(2 * time.Second)},
		domain.JobRequeued{JobID: "j2", PreviousNode: "n1", Reason: "rejected", Requeues: 1, At: at(3 * time.Second)},
		domain.JobAssigned{JobID: "j2", NodeID: "n1", Attempt: 2, At: at(4 * time.Second)},
		domain.JobCompleted{JobID: "j1", NodeID: "n1", At: at(70 * time.Second)},            // ran 60 s from its start
		domain.JobFailed{JobID: "j2", NodeID: "n1", Reason: "oom", At: at(9 * time.Second)}, // 5 s from its (second) assignment
		domain.JobCancelled{JobID: "j3", By: "u", At: at(20 * time.Second)},                 // never ran: no duration
		domain.NodeWentOffline{NodeID: "n1", Reason: "gone", At: at(80 * time.Second)},
	)
}

func TestObserveCountsEventsOnce(t *testing.T) {
	m := metrics.New(metrics.Options{Since: readmodeltest.T0, NoRuntime: true})
	batch := history(readmodeltest.At)
	m.Observe(batch[:7])
	m.Observe(batch[5:]) // overlaps: a replayed batch counts once
	m.Observe(batch)
	expect(t, scrape(t, m), map[string]string{
		"cyxwiz_jobs_submitted_total":                                     "3",
		"cyxwiz_jobs_completed_total":                                     "1",
		"cyxwiz_jobs_failed_total":                                        "1",
		"cyxwiz_jobs_cancelled_total":                                     "1",
		"cyxwiz_jobs_requeued_total":                                      "1",
		`cyxwiz_node_transitions_total{to="online"}`:                      "1",
		`cyxwiz_node_transitions_total{to="offline"}`:                     "1",
		`cyxwiz_job_duration_seconds_count{outcome="completed"}`:          "1",
		`cyxwiz_job_duration_seconds_sum{outcome="completed"}`:            "60",
		`cyxwiz_job_duration_seconds_bucket{outcome="completed",le="60"}`: "1",
		`cyxwiz_job_duration_seconds_bucket{outcome="completed",le="30"}`: "0",
		`cyxwiz_job_duration_seconds_count{outcome="failed"}`:             "1",
		`cyxwiz_job_duration_seconds_sum{outcome="failed"}`:               "5",
	})
	if strings.Contains(scrape(t, m), `outcome="cancelled"`) {
		t.Error("a job cancelled before it ran has a duration")
	}
}

// TestObserveSkipsTheReplay: events recorded before Since (the replay of
// the log at start-up) are not counted, but a job that started before and
// ends after is timed from its real start.
func TestObserveSkipsTheReplay(t *testing.T) {
	batch := history(readmodeltest.At)
	since := batch[10].Recorded // JobCompleted of j1 is the first counted
	m := metrics.New(metrics.Options{Since: since, NoRuntime: true})
	m.Observe(batch)
	expect(t, scrape(t, m), map[string]string{
		"cyxwiz_jobs_submitted_total":                            "0",
		"cyxwiz_jobs_requeued_total":                             "0",
		`cyxwiz_node_transitions_total{to="online"}`:             "0",
		"cyxwiz_jobs_completed_total":                            "1",
		"cyxwiz_jobs_failed_total":                               "1",
		`cyxwiz_node_transitions_total{to="offline"}`:            "1",
		`cyxwiz_job_duration_seconds_sum{outcome="completed"}`:   "60",
		`cyxwiz_job_duration_seconds_count{outcome="completed"}`: "1",
	})
}

type model struct {
	fail    bool
	applied int
}

func (m *model) Apply(_ context.Context, batch []projections.Envelope, _ uint64) error {
	if m.fail {
		return errors.New("disk full")
	}
	m.applied += len(batch)
	return nil
}
func (m *model) Checkpoint() uint64 { return 0 }

func TestModelObservesOnlyAppliedBatches(t *testing.T) {
	m := metrics.New(metrics.Options{Since: readmodeltest.T0, NoRuntime: true})
	inner := &model{fail: true}
	wrapped := m.Model(inner)
	batch := history(readmodeltest.At)
	if err := wrapped.Apply(t.Context(), batch, batch[len(batch)-1].Position); err == nil {
		t.Fatal("the inner model's error was lost")
	}
	expect(t, scrape(t, m), map[string]string{"cyxwiz_jobs_submitted_total": "0"})
	inner.fail = false // the runner retries the same batch
	if err := wrapped.Apply(t.Context(), batch, batch[len(batch)-1].Position); err != nil {
		t.Fatal(err)
	}
	expect(t, scrape(t, m), map[string]string{"cyxwiz_jobs_submitted_total": "3"})
	if inner.applied != len(batch) {
		t.Fatalf("inner applied %d events", inner.applied)
	}
}

func TestGRPCInterceptors(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	unary := m.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/cyxwiz.protocol.JobService/GetJobStatus"}
	ok := func(context.Context, any) (any, error) { return "resp", nil }
	missing := func(context.Context, any) (any, error) { return nil, status.Error(codes.NotFound, "no job") }
	for range 2 {
		if resp, err := unary(t.Context(), nil, info, ok); resp != "resp" || err != nil {
			t.Fatalf("interceptor changed the answer: %v %v", resp, err)
		}
	}
	if _, err := unary(t.Context(), nil, info, missing); status.Code(err) != codes.NotFound {
		t.Fatalf("interceptor changed the error: %v", err)
	}
	stream := m.StreamServerInterceptor()
	sinfo := &grpc.StreamServerInfo{FullMethod: "/cyxwiz.protocol.JobService/StreamJobUpdates", IsServerStream: true}
	if err := stream(nil, nil, sinfo, func(any, grpc.ServerStream) error { return status.Error(codes.Canceled, "bye") }); status.Code(err) != codes.Canceled {
		t.Fatalf("stream interceptor changed the error: %v", err)
	}
	expect(t, scrape(t, m), map[string]string{
		`cyxwiz_grpc_requests_total{code="OK",method="/cyxwiz.protocol.JobService/GetJobStatus"}`:           "2",
		`cyxwiz_grpc_requests_total{code="NotFound",method="/cyxwiz.protocol.JobService/GetJobStatus"}`:     "1",
		`cyxwiz_grpc_requests_total{code="Canceled",method="/cyxwiz.protocol.JobService/StreamJobUpdates"}`: "1",
		`cyxwiz_grpc_request_duration_seconds_count{method="/cyxwiz.protocol.JobService/GetJobStatus"}`:     "3",
		`cyxwiz_grpc_request_duration_seconds_count{method="/cyxwiz.protocol.JobService/StreamJobUpdates"}`: "1",
	})
}

func TestStoreTimesAppends(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	inner := memstore.New()
	store := m.Store(inner)
	ev := func(id string) eventstore.EventData {
		return eventstore.EventData{ID: id, Type: "Thing", Data: []byte(`{}`)}
	}
	ctx := t.Context()
	if _, err := store.Append(ctx, "s-1", eventstore.NoStream(), ev("6f1c2a9e-0000-4000-8000-000000000001"), ev("6f1c2a9e-0000-4000-8000-000000000002")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, "s-1", eventstore.NoStream(), ev("6f1c2a9e-0000-4000-8000-000000000003")); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("conflicting append = %v", err)
	}
	// Reads go straight to the inner store.
	if recs, err := store.ReadStream(ctx, "s-1", 0, 0); err != nil || len(recs) != 2 {
		t.Fatalf("ReadStream through the decorator = %d, %v", len(recs), err)
	}
	_ = inner.Close()
	if _, err := store.Append(ctx, "s-2", eventstore.Any(), ev("6f1c2a9e-0000-4000-8000-000000000004")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append to a closed store = %v", err)
	}
	expect(t, scrape(t, m), map[string]string{
		`cyxwiz_eventstore_append_duration_seconds_count{result="ok"}`:       "1",
		`cyxwiz_eventstore_append_duration_seconds_count{result="conflict"}`: "1",
		`cyxwiz_eventstore_append_duration_seconds_count{result="error"}`:    "1",
		"cyxwiz_eventstore_appended_events_total":                            "2",
	})
}

func TestEchoMiddleware(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntime: true})
	e := echo.New()
	e.Use(m.Echo())
	e.GET("/api/jobs/:id", func(c echo.Context) error {
		if c.Param("id") == "missing" {
			return echo.NewHTTPError(http.StatusNotFound, "no job")
		}
		if c.Param("id") == "broken" {
			return errors.New("boom")
		}
		return c.String(http.StatusOK, "ok")
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	for _, path := range []string{"/api/jobs/1", "/api/jobs/2", "/api/jobs/missing", "/api/jobs/broken", "/nope/1", "/api/other/1"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp, err := http.Post(srv.URL+"/api/jobs/1", "text/plain", nil); err == nil {
		resp.Body.Close()
	}
	text := scrape(t, m)
	expect(t, text, map[string]string{
		`cyxwiz_http_requests_total{code="200",method="GET",route="/api/jobs/:id"}`:      "2",
		`cyxwiz_http_requests_total{code="404",method="GET",route="/api/jobs/:id"}`:      "1",
		`cyxwiz_http_requests_total{code="500",method="GET",route="/api/jobs/:id"}`:      "1",
		`cyxwiz_http_requests_total{code="404",method="GET",route="unmatched"}`:          "2",
		`cyxwiz_http_requests_total{code="405",method="POST",route="/api/jobs/:id"}`:     "1",
		`cyxwiz_http_request_duration_seconds_count{method="GET",route="/api/jobs/:id"}`: "4",
	})
	if strings.Contains(text, "/nope") || strings.Contains(text, "other") {
		t.Errorf("an unmatched path became a label:\n%s", text)
	}
}

func TestHandlerAndGauges(t *testing.T) {
	m := metrics.New(metrics.Options{
		ProjectionLag:      func() time.Duration { return 1500 * time.Millisecond },
		ProjectionPosition: func() uint64 { return 42 },
	})
	other := metrics.New(metrics.Options{}) // registries are separate: no duplicate registration
	text := scrape(t, m)
	expect(t, text, map[string]string{
		"cyxwiz_projection_lag_seconds": "1.5",
		"cyxwiz_projection_position":    "42",
		"cyxwiz_jobs_submitted_total":   "0",
	})
	for _, want := range []string{"go_goroutines", "process_start_time_seconds", "# TYPE cyxwiz_eventstore_append_duration_seconds histogram"} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n := testutil.CollectAndCount(other.Registry(), "cyxwiz_projection_lag_seconds"); n != 1 {
		t.Fatalf("second Metrics has %d lag series", n)
	}
}

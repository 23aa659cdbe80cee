// Package metrics exposes the server's Prometheus metrics: job and node
// counters derived from the event log (Observe, fed by the projection
// runner through Model), a job duration histogram, the projection's lag,
// gRPC and REST request counts and latencies, and event store append
// latency. Every Metrics has its own registry, never the global one, so
// tests can build as many as they like; Handler serves it at /metrics.
//
// Every series is named cyxwiz_<name>: cyxwiz_jobs_submitted_total,
// cyxwiz_jobs_completed_total, cyxwiz_jobs_failed_total,
// cyxwiz_jobs_cancelled_total, cyxwiz_jobs_requeued_total,
// cyxwiz_node_transitions_total{to="online|offline"},
// cyxwiz_job_duration_seconds{outcome}, cyxwiz_projection_lag_seconds,
// cyxwiz_projection_position, cyxwiz_grpc_requests_total{method,code},
// cyxwiz_grpc_request_duration_seconds{method},
// cyxwiz_http_requests_total{method,route,code},
// cyxwiz_http_request_duration_seconds{method,route},
// cyxwiz_eventstore_append_duration_seconds{result} and
// cyxwiz_eventstore_appended_events_total; plus the Go runtime and
// process collectors.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every series.
const Namespace = "cyxwiz"

// Options configures a Metrics; every field is optional.
type Options struct {
	// ProjectionLag returns the read model's lag behind the log (for
	// example the runner's RunnerStats.LastLag); read at every scrape.
	ProjectionLag func() time.Duration
	// ProjectionPosition returns the global position the read model has
	// applied (Runner.Position); read at every scrape.
	ProjectionPosition func() uint64
	// LogDelivery reports, for a log that delivers only what no running
	// transaction can still precede (the PostgreSQL store), the positions
	// handed out but not yet deliverable and how long the oldest has
	// waited; read at every scrape. nil: no such series.
	LogDelivery func() (undelivered uint64, waiting time.Duration)
	// Since is when counting starts (default: when New is called). Events
	// recorded before it, the replay of the log at start-up, only prime
	// the job duration tracking: counting them would make every restart
	// look like a burst of all the history at once in rate().
	Since time.Time
	// NoRuntime leaves out the Go runtime and process collectors.
	NoRuntime bool
	// Log receives errors of the /metrics handler; nil discards them.
	Log *slog.Logger
}

// Metrics holds the collectors, registered on their own registry.
type Metrics struct {
	reg   *prometheus.Registry
	since time.Time
	log   *slog.Logger

	jobsSubmitted prometheus.Counter
	jobsCompleted prometheus.Counter
	jobsFailed    prometheus.Counter
	jobsCancelled prometheus.Counter
	jobsRequeued  prometheus.Counter
	nodeTrans     *prometheus.CounterVec
	jobDuration   *prometheus.HistogramVec

	grpcRequests *prometheus.CounterVec
	grpcDuration *prometheus.HistogramVec
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	appendDuration *prometheus.HistogramVec
	appendedEvents prometheus.Counter

	mu       sync.Mutex
	observed uint64               // position of the last envelope observed
	starts   map[string]time.Time // job → when its current run started (or was assigned)
}

// Job duration buckets: seconds to a day.
var durationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400}

// Append latency buckets: 100 µs (memory) to a few seconds (a slow fsync).
var appendBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// New builds a Metrics with every collector registered.
func New(opts Options) *Metrics {
	if opts.Since.IsZero() {
		opts.Since = time.Now()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), since: opts.Since, log: opts.Log, starts: make(map[string]time.Time)}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	}
	m.jobsSubmitted = counter("jobs_submitted_total", "Jobs submitted (JobSubmitted events).")
	m.jobsCompleted = counter("jobs_completed_total", "Jobs completed (JobCompleted events).")
	m.jobsFailed = counter("jobs_failed_total", "Jobs failed (JobFailed events).")
	m.jobsCancelled = counter("jobs_cancelled_total", "Jobs cancelled (JobCancelled events).")
	m.jobsRequeued = counter("jobs_requeued_total", "Jobs put back in the queue (JobRequeued events).")
	m.nodeTrans = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "node_transitions_total",
		Help: "Nodes going online or offline (NodeWentOnline, NodeWentOffline events)."}, []string{"to"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "job_duration_seconds",
		Help:    "Time from a job's start (or assignment, when it never reported a start) to its end, by outcome.",
		Buckets: durationBuckets}, []string{"outcome"})
	m.grpcRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "grpc_requests_total",
		Help: "gRPC calls handled, by full method and status code."}, []string{"method", "code"})
	m.grpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "grpc_request_duration_seconds",
		Help: "gRPC call latency (the whole stream for streaming calls), by full method.", Buckets: prometheus.DefBuckets},
		[]string{"method"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "http_requests_total",
		Help: "REST requests handled, by method, route template and status code."}, []string{"method", "route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "http_request_duration_seconds",
		Help:    "REST request latency (the whole stream for /api/events/stream), by method and route template.",
		Buckets: prometheus.DefBuckets}, []string{"method", "route"})
	m.appendDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "eventstore_append_duration_seconds",
		Help:    "Event store append latency, durable write included, by result (ok, conflict, error).",
		Buckets: appendBuckets}, []string{"result"})
	m.appendedEvents = counter("eventstore_appended_events_total", "Events appended to the log by this process.")

	m.reg.MustRegister(m.jobsSubmitted, m.jobsCompleted, m.jobsFailed, m.jobsCancelled, m.jobsRequeued, m.nodeTrans,
		m.jobDuration, m.grpcRequests, m.grpcDuration, m.httpRequests, m.httpDuration, m.appendDuration, m.appendedEvents)
	// Label values known up front are exported at 0, so dashboards and
	// alerts see the series before the first event.
	m.nodeTrans.WithLabelValues("online")
	m.nodeTrans.WithLabelValues("offline")
	for _, r := range []string{resultOK, resultConflict, resultError} {
		m.appendDuration.WithLabelValues(r)
	}

	lag := opts.ProjectionLag
	if lag == nil {
		lag = func() time.Duration { return 0 }
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "projection_lag_seconds",
		Help: "Time between the recording of the last event the read model applied and its application."},
		func() float64 { return lag().Seconds() }))
	if pos := opts.ProjectionPosition; pos != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "projection_position",
			Help: "Global log position the read model has applied."}, func() float64 { return float64(pos()) }))
	}
	if d := opts.LogDelivery; d != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "eventstore_undelivered_positions",
			Help: "Log positions handed out to appends but not yet deliverable to subscribers (a running transaction may precede them)."},
			func() float64 { n, _ := d(); return float64(n) }))
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "eventstore_delivery_wait_seconds",
			Help: "How long the oldest undeliverable log position has waited for the transactions running when it was handed out."},
			func() float64 { _, w := d(); return w.Seconds() }))
	}
	if !opts.NoRuntime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry, to register more collectors or gather.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry: m.reg, ErrorLog: slogLogger{m.log}, ErrorHandling: promhttp.ContinueOnError,
	})
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Println(v ...any) { l.log.Warn("metrics: gather", "err", v) }

// Observe updates the job and node counters and the job duration
// histogram from a batch of events, in log order. Envelopes at or below
// the last position observed are ignored, so a replayed batch counts
// once. It is safe for concurrent use.
func (m *Metrics) Observe(batch []projections.Envelope) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range batch {
		e := &batch[i]
		if e.Position != 0 && e.Position <= m.observed {
			continue
		}
		m.observed = max(m.observed, e.Position)
		m.observe(e, !e.Recorded.Before(m.since))
	}
}

func (m *Metrics) observe(e *projections.Envelope, count bool) {
	inc := func(c prometheus.Counter) {
		if count {
			c.Inc()
		}
	}
	end := func(jobID string, at time.Time, outcome string) {
		if start, ok := m.starts[jobID]; ok {
			delete(m.starts, jobID)
			if count && !at.Before(start) {
				m.jobDuration.WithLabelValues(outcome).Observe(at.Sub(start).Seconds())
			}
		}
	}
	switch ev := e.Event.(type) {
	case domain.JobSubmitted:
		inc(m.jobsSubmitted)
	case domain.JobAssigned:
		m.starts[ev.JobID] = ev.At
	case domain.JobStarted:
		m.starts[ev.JobID] = ev.At
	case domain.JobRequeued:
		delete(m.starts, ev.JobID)
		inc(m.jobsRequeued)
	case domain.JobCompleted:
		inc(m.jobsCompleted)
		end(ev.JobID, ev.At, "completed")
	case domain.JobFailed:
		inc(m.jobsFailed)
		end(ev.JobID, ev.At, "failed")
	case domain.JobCancelled:
		inc(m.jobsCancelled)
		end(ev.JobID, ev.At, "cancelled")
	case domain.JobDeleted:
		delete(m.starts, ev.JobID)
	case domain.NodeWentOnline:
		if count {
			m.nodeTrans.WithLabelValues("online").Inc()
		}
	case domain.NodeWentOffline:
		if count {
			m.nodeTrans.WithLabelValues("offline").Inc()
		}
	}
}

// Model returns inner, observed: every batch inner applies successfully
// is passed to Observe afterwards. Give it to the projection runner.
func (m *Metrics) Model(inner projections.ReadModel) projections.ReadModel {
	return &observedModel{ReadModel: inner, m: m}
}

type observedModel struct {
	projections.ReadModel
	m *Metrics
}

func (o *observedModel) Apply(ctx context.Context, batch []projections.Envelope, checkpoint uint64) error {
	if err := o.ReadModel.Apply(ctx, batch, checkpoint); err != nil {
		return err
	}
	o.m.Observe(batch)
	return nil
}

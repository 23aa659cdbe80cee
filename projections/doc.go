// Package projections is the read side: pure folds of events into views
// (JobView, NodeView, MetricPoint, PaymentView), the Runner that feeds a ReadModel from
// the event store's $all subscription, and the query interfaces the API,
// the console and the scheduler use.
//
// Folds are pure functions of (view, envelope); storage lives behind the
// ReadModel interface, implemented in memory (projections/memory) and in
// PostgreSQL (adapters/postgres). Every implementation passes
// projections/readmodeltest. ApplyPayment folds a payment-<job> stream
// (PaymentJobOf, OpensPayment) into a PaymentView; WalletQueries reads a
// wallet's part in them.
//
// The network statistics and the activity log are folds too, shared so the
// read models cannot drift apart: StatsDelta says what an event adds to its
// hour (HourOf its recorded time) and StatsWindow which hours NetworkStats
// shows; ActivityOf turns an event into an activity line, and leaves out
// the periodic telemetry (NodeMetricsSampled, JobProgressed).
//
// Views returned by queries are copies; views handed out by the scheduler
// snapshot share read-only slices (devices) with the model and must not be
// mutated.
package projections

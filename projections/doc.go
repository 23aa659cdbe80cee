// Package projections is the read side: pure folds of events into views
// (JobView, NodeView, MetricPoint), the Runner that feeds a ReadModel from
// the event store's $all subscription, and the query interfaces the API,
// the console and the scheduler use.
//
// Folds are pure functions of (view, envelope); storage lives behind the
// ReadModel interface, implemented in memory (projections/memory) and, next,
// in PostgreSQL. Every implementation passes projections/readmodeltest.
//
// Views returned by queries are copies; views handed out by the scheduler
// snapshot share read-only slices (devices) with the model and must not be
// mutated.
package projections

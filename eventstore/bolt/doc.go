// Package bolt is the embedded event store: one bbolt file.
//
// Writes: every Append is validated and encoded by its own goroutine, then
// queued to a single writer goroutine. The writer takes all queued appends
// (up to WithMaxBatch events), applies each one on top of the earlier ones
// in a single read-write transaction, commits it (bbolt syncs the data
// pages, then the meta page), and only then acknowledges each append with
// its own result or error: group commit, so concurrent appenders share the
// syncs. A wrong expected revision or a duplicate fails that append
// alone; a failing transaction fails the whole batch and records nothing.
//
// Reads: ReadStream and ReadAll read in one read transaction each.
// Subscriptions read committed events from the file in batches of 256 and,
// once at the head, wait for the writer to announce a new head: they hold
// at most one batch in memory, and a slow subscriber never delays the
// writer. (When the file outgrows its memory map, bbolt's writer waits for
// open read transactions to end, so page through a large log with ReadAll's
// max rather than reading it whole.)
//
// The file layout is described in layout.go and record.go. Positions are
// dense: 1, 2, 3, … in commit order.
package bolt

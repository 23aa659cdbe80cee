// Package domain holds the CyxWiz aggregates (Job, Node), their events, the
// invariants that commands enforce, and the scheduling score. It is pure:
// no I/O, no clock (time is passed in), no globals, stdlib only.
//
// Each aggregate is rebuilt by folding its events (Apply) and decides new
// events from a command without changing itself; the caller appends the
// events with the aggregate's version as the expected revision, then folds
// them in.
package domain

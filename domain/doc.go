// Package domain holds the CyxWiz aggregates (Job, Node, Payment), their
// events, the invariants that commands enforce, the scheduling score and
// feasibility, and the form of a Solana address (CheckAddress). It is pure:
// no I/O, no clock (time is passed in), no globals, stdlib only.
//
// Each aggregate is rebuilt by folding its events (Apply) and decides new
// events from a command without changing itself; the caller appends the
// events with the aggregate's version as the expected revision, then folds
// them in.
package domain

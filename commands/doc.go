// Package commands is the write side: one handler per command (load the
// stream, fold it, let the domain decide, append with the expected
// revision, retry a bounded number of times on a concurrent write), and the
// process managers that react to the world by issuing commands: the
// scheduler, the dispatcher that pushes assignments to nodes, the node
// monitor and the job timeouts.
//
// The outside world (a node's AssignJob endpoint, tokens, the clock) is
// reached through the small interfaces defined here and implemented in
// adapters.
package commands

// Package cluster lets several central-server replicas share one network
// through Redis: node liveness leases (Leases, the commands.Leases port),
// the leader lease that picks the one replica running the process managers
// that must run once (Leader), and the registry of live replicas that
// /api/health shows (Registry).
//
// Redis holds only what may be lost: liveness, leadership and membership
// are rebuilt from heartbeats and the log. Correctness never rests on it —
// the log's expected revisions keep two leaders from assigning a job twice
// or paying twice; Redis only keeps them from wasting attempts.
//
// Keys live under one prefix (Options.Prefix), so several clusters or
// tests share one Redis server:
//
//	<prefix>leases        ZSET node → lease end (ms since the epoch)
//	<prefix>claims        ZSET node → claim end: a lapsed lease one sweeper took
//	<prefix>seen          HASH node → last heartbeat (ms)
//	<prefix>sample:<node> metrics sampling gate (SET NX PX)
//	<prefix>epoch         present while Redis kept its data
//	<prefix>leader        the leader lease: "<replica>#<fencing token>"
//	<prefix>fence         the last fencing token issued (INCR)
//	<prefix>replica:<id>  one replica's registration (JSON, with a TTL)
package cluster

// Package commands is the write side. Every command loads an aggregate's
// stream, folds it, lets the domain decide, and appends the decided events
// with the expected revision, retrying a bounded number of times when
// another writer got there first (update). Process managers react to the
// world by issuing commands. The outside world (a node's AssignJob
// endpoint, tokens, the chain, the clock) is reached through the small
// interfaces defined here and implemented in adapters. README.md beside
// this file draws the flow of a job.
//
// # Commands, by aggregate
//
// Job (stream job-<id>; jobs.go):
//
//	SubmitJob            open a job (idempotent on job id, owner and spec); a paid job's payment first
//	AssignJob, AssignJobs reserve node slots (one append per node), then JobAssigned per job
//	AcceptJob, AcceptAttempt   the node took its assignment (of one attempt)
//	RejectJob, RejectAttempt   the node refused or was unreachable: requeue, penalty
//	StartJob             the node began work
//	ReportProgress       progress from the assigned node
//	CompleteJob          success: slot freed, reputation reward, once
//	FailJob              failure: slot freed, reputation penalty, once
//	CancelJob            the owner stops the job; its slot is freed
//	DeleteJob            the owner hides a finished job
//	TimeOutJob           an accept or run deadline passed: requeue or fail, penalty
//	RequeueJob           take a job back from a node, no penalty of its own
//	LoadJob              the job as the log has it
//
// Every job command that takes a job off its node frees the node's slot
// through one helper, changeJob, which appends the release and the
// reputation change together (leaving says which).
//
// Node (stream node-<id>; nodes.go):
//
//	RegisterNode          register or update a node (idempotent)
//	MarkNodeOnline        a lease started
//	MarkNodeOffline       a lease ended: its jobs are requeued, penalty if it had any
//	AdjustReputation      move reputation, clamped to 0..1
//	SampleNodeMetrics     record a load sample
//	RequeueFromOfflineNode  finish a MarkNodeOffline whose requeue failed
//	ReleaseOrphanSlot     free a slot a crash left behind, with its outcome's reputation change
//	LoadNode              the node as the log has it
//
// Payment (stream payment-<job id>; payments.go):
//
//	UseChain, Chain       turn escrow on (SubmitJob then verifies deposits)
//	LoadPayment           the payment as the log has it
//	PaymentState          what a job's payment has come to (for ReportCompletion)
//	Settlement.Settle     one step of a job's settlement (settlement.go)
//
// # Process managers, and what wakes them
//
//	Scheduler   placeable events (Placeable: a job submitted or requeued, a node
//	            registered, online, unbanned or freeing a slot), a node coming
//	            online (Monitor), and a fallback tick; a pass places the queue
//	            (package placement) and records AssignJobs
//	Dispatcher  each assignment a pass records; pushes it to the node, records
//	            AcceptAttempt or RejectAttempt
//	Monitor     node heartbeats (Heartbeat) and a tick (Sweep) that expires
//	            leases; records MarkNodeOnline / MarkNodeOffline and metric samples
//	Timeouts    a tick (Interval); fires TimeOutJob, requeues leftovers of
//	            offline nodes, releases orphaned slots
//	Settlement  the log (its own subscription from the start) and a tick;
//	            pays out or refunds each escrowed job once it ends
//	Departures  not a manager: the projection feeds it the log so the
//	            scheduler places a requeued job elsewhere when it can
package commands

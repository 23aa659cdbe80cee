// Package placement is the pure placement step of the scheduler:
// feasibility then ranking, the way Nomad's scheduler does.
//
// A scheduling pass builds a [Fleet] from a snapshot of candidate nodes,
// sorts the pending jobs with [Queue.Sort] and, for each job in turn, asks
// [Fleet.Place] for a node. Place runs every visited node through
// domain.Feasible, scores the feasible ones with domain.Score and returns
// the best, or a [*NoPlacement] that counts why each node was passed over.
// When the caller has recorded the assignment it calls [Fleet.Take], so the
// capacity is visible to the next placement of the pass.
//
// Large fleets are sampled: Place starts at a random node, visits the
// candidates in a random wrapped order and stops once [Fleet.SetLimit]
// feasible nodes have been scored (like Nomad's LimitIterator). Fleets no
// larger than the limit are scored completely, so the best node always wins
// there. Equal best scores are broken uniformly at random (reservoir
// sampling), so identical nodes share the load.
//
// The package does no I/O and never reads the clock; randomness comes from
// the *rand.Rand the caller passes in, so tests are deterministic.
//
// commands/README.md draws where placement sits in the life of a job
// (queue → feasibility → rank → reserve → assign → push → accept).
package placement

package placement

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/cyxwiz/central-server/domain"
)

// reasons are the infeasibility reasons Filtered counts, in the order they
// are reported; anything else domain.Feasible may return counts as "other".
var reasons = [...]string{
	domain.ReasonOffline,
	domain.ReasonBanned,
	domain.ReasonDevice,
	domain.ReasonMemory,
	domain.ReasonCapacity,
	domain.ReasonReputation,
	reasonOther,
}

const (
	reasonOther = "other"
	slotDevice  = 2
	slotOther   = len(reasons) - 1
)

// Filtered counts the nodes passed over, by domain.Reason* string.
type Filtered struct {
	n [len(reasons)]int
}

func (f *Filtered) add(reason string, k int) {
	slot := slotOther
	switch reason {
	case domain.ReasonOffline:
		slot = 0
	case domain.ReasonBanned:
		slot = 1
	case domain.ReasonDevice:
		slot = slotDevice
	case domain.ReasonMemory:
		slot = 3
	case domain.ReasonCapacity:
		slot = 4
	case domain.ReasonReputation:
		slot = 5
	}
	f.n[slot] += k
}

// Count returns how many nodes were filtered for reason.
func (f Filtered) Count(reason string) int {
	for i, r := range reasons {
		if r == reason {
			return f.n[i]
		}
	}
	return 0
}

// Total returns how many nodes were filtered.
func (f Filtered) Total() int {
	t := 0
	for _, k := range f.n {
		t += k
	}
	return t
}

// All yields each reason with a non-zero count, in a fixed order.
func (f Filtered) All() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		for i, k := range f.n {
			if k > 0 && !yield(reasons[i], k) {
				return
			}
		}
	}
}

// String reads like "7 offline, 3 no matching device".
func (f Filtered) String() string {
	var b strings.Builder
	for r, k := range f.All() {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", k, r)
	}
	if b.Len() == 0 {
		return "none filtered"
	}
	return b.String()
}

// Stats describes one placement, for logs and metrics.
type Stats struct {
	Nodes    int      // nodes in the fleet
	Visited  int      // nodes run through domain.Feasible
	Scored   int      // feasible nodes scored (at most the limit)
	Ties     int      // scored nodes sharing the winning score
	Filtered Filtered // nodes passed over, by reason
}

// Placement is the node chosen for a job.
type Placement struct {
	NodeID string
	Index  int // position in the fleet (and in the snapshot given to NewFleet)
	Score  float64
	Stats  Stats
}

// NoPlacement explains why no node can take a job: every node of the fleet
// was filtered, and Stats.Filtered says why. Nodes the device index skips
// without visiting them count as domain.ReasonDevice, whatever else may be
// wrong with them.
type NoPlacement struct {
	Req    domain.Requirements
	Stats  Stats
	Cached bool // the answer repeats an earlier failure of this pass; no node was visited
	// Avoided is how many nodes the job avoids when the only feasible
	// ones were among them and another node was merely full: the job
	// waits for that one.
	Avoided int
}

// Error reads like "no node for a cuda job needing 8.0 GiB (of 10 nodes):
// 7 offline, 3 no matching device".
func (e *NoPlacement) Error() string {
	mem := ""
	if e.Req.Memory > 0 {
		mem = " needing " + bytesString(e.Req.Memory)
	}
	if e.Stats.Nodes == 0 {
		return fmt.Sprintf("no node for a %s job%s: the fleet is empty", e.Req.Device, mem)
	}
	if e.Avoided > 0 {
		return fmt.Sprintf("no node for a %s job%s (of %d nodes) but the %d it was requeued from, and another is full: waiting for it (%s)",
			e.Req.Device, mem, e.Stats.Nodes, e.Avoided, e.Stats.Filtered)
	}
	return fmt.Sprintf("no node for a %s job%s (of %d nodes): %s", e.Req.Device, mem, e.Stats.Nodes, e.Stats.Filtered)
}

func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Place chooses a node for a job with requirements r under policy p, or
// returns a *NoPlacement. It does not take the capacity: call [Fleet.Take]
// with the returned index once the assignment is recorded.
//
// Only nodes that have the required device are visited (device index). If
// there are more of them than the limit, the visit starts at a random node
// and walks all of them in a random wrapped order (a random stride coprime
// with their number), stopping once limit feasible nodes have been scored;
// otherwise every node is scored. Among equal best scores the node is chosen
// uniformly at random. rng must not be nil.
func (f *Fleet) Place(r domain.Requirements, p domain.NodeLimits, rng *rand.Rand) (Placement, error) {
	return f.PlaceAvoiding(r, p, rng, nil)
}

// PlaceAvoiding is Place with nodes to avoid: the nodes a requeued job has
// already been on (rejected it, timed out, went offline). They are kept as
// a last resort: chosen only when no other node is feasible nor merely at
// capacity (then the job waits for a slot there), so a job with a single
// capable node still runs, and a job never goes straight back to the node
// that just gave it up while another could take it.
func (f *Fleet) PlaceAvoiding(r domain.Requirements, p domain.NodeLimits, rng *rand.Rand, avoid []string) (Placement, error) {
	slot, nodes := f.candidates(r.Device)
	if m := &f.failed[slot]; m.ok && m.device == r.Device && m.policy == p && r.Memory >= m.memory {
		return Placement{}, &NoPlacement{Req: r, Stats: m.stats, Cached: true}
	}

	n := len(nodes)
	st := Stats{Nodes: len(f.nodes)}
	st.Filtered.n[slotDevice] = len(f.nodes) - n // skipped by the index
	pos, stride := 0, 1
	if n > f.limit {
		pos, stride = rng.IntN(n), coprimeStride(n, rng)
	}
	best, choice := math.Inf(-1), -1
	fallback, fallbackScore := -1, math.Inf(-1) // the best avoided node
	fullElsewhere := false                      // a node not avoided is only at capacity
	for range n {
		i := nodes[pos]
		if pos += stride; pos >= n {
			pos -= n
		}
		c := &f.nodes[i]
		st.Visited++
		if why := domain.Feasible(r, c, p); why != "" {
			st.Filtered.add(why, 1)
			if why == domain.ReasonCapacity && len(avoid) > 0 && !slices.Contains(avoid, c.NodeID) {
				fullElsewhere = true
			}
			continue
		}
		s := domain.Score(r, c)
		if s != s { // NaN ranks last
			s = math.Inf(-1)
		}
		if len(avoid) > 0 && slices.Contains(avoid, c.NodeID) {
			if fallback < 0 || s > fallbackScore {
				fallback, fallbackScore = int(i), s
			}
			continue
		}
		st.Scored++
		switch {
		case choice < 0 || s > best:
			best, choice, st.Ties = s, int(i), 1
		case s == best:
			// Reservoir sampling: the k-th equal node wins with
			// probability 1/k, so each of them ends up with 1/k.
			if st.Ties++; rng.IntN(st.Ties) == 0 {
				choice = int(i)
			}
		}
		if st.Scored >= f.limit {
			break
		}
	}

	if choice < 0 && fallback >= 0 {
		if fullElsewhere { // job-specific: not a failure to remember
			return Placement{}, &NoPlacement{Req: r, Stats: st, Avoided: len(avoid)}
		}
		st.Scored++
		return Placement{NodeID: f.nodes[fallback].NodeID, Index: fallback, Score: fallbackScore, Stats: st}, nil
	}
	if choice < 0 {
		// Nothing was feasible, so every node was visited.
		f.failed[slot] = failure{ok: true, device: r.Device, memory: r.Memory, policy: p, stats: st}
		return Placement{}, &NoPlacement{Req: r, Stats: st}
	}
	return Placement{NodeID: f.nodes[choice].NodeID, Index: choice, Score: best, Stats: st}, nil
}

// coprimeStride returns a random step in [1, n) coprime with n (n ≥ 2), so
// that pos, pos+step, pos+2·step, … (mod n) visits every position once.
func coprimeStride(n int, rng *rand.Rand) int {
	s := 1 + rng.IntN(n-1)
	for gcd(s, n) != 1 {
		if s++; s == n {
			s = 1
		}
	}
	return s
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

package projections

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// The memory and PostgreSQL read models both keep every node in memory, in
// id order, and answer ListNodes and FindNodes through these two
// functions, so that they filter, rank and page alike. Callers hold their
// own read lock over nodes.

type keyedNode struct {
	v *NodeView
	k NodeCursor
	p int // preference (FindNodes)
}

func checkNodeSort(s NodeSort) error {
	if !s.Valid() {
		return fmt.Errorf("%w: unknown node sort order %d", domain.ErrInvalidArgument, s)
	}
	return nil
}

// OrNow is t, or the current time when t is zero (a query that names no
// time asks about now).
func OrNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// PageNodes answers NodeQueries.ListNodes over nodes (every node, in id
// order): the filter, the network's totals, the order, and a page from
// f's token.
func PageNodes(nodes []*NodeView, f NodeListFilter, maxJobsPerNode int) (NodePage, error) {
	if err := checkNodeSort(f.Sort); err != nil {
		return NodePage{}, err
	}
	cursor, resume, err := DecodeNodeToken(f)
	if err != nil {
		return NodePage{}, err
	}
	order := NodeOrder{Sort: f.Sort, Descending: f.Descending, Now: OrNow(f.Now), MaxJobs: maxJobsPerNode}
	size := PageSize(f.PageSize)

	var page NodePage
	var matches []keyedNode
	var networkNodes int
	var networkPrice float64
	for _, v := range nodes {
		if v.Online && !v.Banned {
			networkNodes++
			networkPrice += v.Spec.Pricing.PricePerHour
			page.NetworkTotalCompute += v.Spec.ComputeScore
		}
		if !f.Matches(v) {
			continue
		}
		if v.Online {
			page.Online++
		}
		matches = append(matches, keyedNode{v: v, k: order.Key(v)})
	}
	if networkNodes > 0 {
		page.NetworkAvgPrice = networkPrice / float64(networkNodes)
	}
	page.Total = len(matches)
	slices.SortFunc(matches, func(a, b keyedNode) int { return order.Compare(a.k, b.k) })
	start := 0
	if resume {
		start = sort.Search(len(matches), func(i int) bool { return order.Compare(matches[i].k, cursor) > 0 })
	}
	end := min(start+size, len(matches))
	page.Nodes = make([]NodeView, 0, end-start)
	for _, k := range matches[start:end] {
		page.Nodes = append(page.Nodes, k.v.Clone())
	}
	if end < len(matches) {
		page.Next = EncodeNodeToken(f, matches[end-1].k)
	}
	return page, nil
}

// MatchNodes answers NodeQueries.FindNodes over nodes (every node, in id
// order): the filter, price statistics of the matches, and the best
// matches by preference, then order.
func MatchNodes(nodes []*NodeView, f NodeFindFilter, maxJobsPerNode int) (NodeMatches, error) {
	if err := checkNodeSort(f.Sort); err != nil {
		return NodeMatches{}, err
	}
	limit := f.MaxResults
	switch {
	case limit <= 0:
		limit = DefaultFindResults
	case limit > MaxFindResults:
		limit = MaxFindResults
	}
	order := FindOrder(f.Sort, OrNow(f.Now), maxJobsPerNode)

	var res NodeMatches
	var matches []keyedNode
	var sum float64
	for _, v := range nodes {
		if !f.Matches(v) {
			continue
		}
		p := v.Spec.Pricing.PricePerHour
		if len(matches) == 0 || p < res.MinPrice {
			res.MinPrice = p
		}
		res.MaxPrice = max(res.MaxPrice, p)
		sum += p
		matches = append(matches, keyedNode{v: v, k: order.Key(v), p: f.Preference(v)})
	}
	res.TotalMatching = len(matches)
	if len(matches) > 0 {
		res.AvgPrice = sum / float64(len(matches))
	}
	slices.SortFunc(matches, func(a, b keyedNode) int {
		if a.p != b.p {
			return b.p - a.p
		}
		return order.Compare(a.k, b.k)
	})
	res.Nodes = make([]NodeView, 0, min(limit, len(matches)))
	for _, k := range matches[:min(limit, len(matches))] {
		res.Nodes = append(res.Nodes, k.v.Clone())
	}
	return res, nil
}

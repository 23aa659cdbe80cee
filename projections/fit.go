package projections

// FitBytes returns how many of the first n items fit in budget bytes, item
// i taking size(i): at least one when n > 0, so a page always moves on
// (every record is bounded far below a reply's limit, domain/limits.go).
// Lists stop there and hand out the token of the page after, so that no
// record, however large, makes a list fail for every caller.
func FitBytes(n, budget int, size func(i int) int) int {
	used := 0
	for i := range n {
		used += size(i)
		if used > budget && i > 0 {
			return i
		}
	}
	return n
}

// TrimJobs keeps the first n jobs of a page of f, with the token of the
// page after them (next, when nothing was cut).
func TrimJobs(f JobFilter, jobs []JobView, next string, n int) ([]JobView, string) {
	if n >= len(jobs) {
		return jobs, next
	}
	return jobs[:n], EncodeJobToken(f, jobs[n-1].SubmittedPosition)
}

// TrimNodes keeps the first n nodes of a page of f, with the token of the
// page after them.
func TrimNodes(page *NodePage, f NodeListFilter, maxJobsPerNode, n int) {
	if n >= len(page.Nodes) {
		return
	}
	order := NodeOrder{Sort: f.Sort, Descending: f.Descending, Now: OrNow(f.Now), MaxJobs: maxJobsPerNode}
	page.Nodes = page.Nodes[:n]
	page.Next = EncodeNodeToken(f, order.Key(&page.Nodes[n-1]))
}

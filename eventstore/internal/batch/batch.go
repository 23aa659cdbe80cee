// Package batch gathers queued appends for a group commit: the one a
// writer waits for, and whatever is already queued behind it, up to a
// limit.
package batch

// Take waits for an item on q, then adds the items queued behind it,
// without waiting, until there are maxItems of them (0: no bound) or their
// weights add up to maxWeight. It reuses buf's array and returns false once
// q is closed and drained.
func Take[T any](q <-chan T, buf []T, maxItems, maxWeight int, weight func(T) int) ([]T, bool) {
	first, ok := <-q
	if !ok {
		return buf[:0], false
	}
	buf = append(buf[:0], first)
	total := weight(first)
	for (maxItems <= 0 || len(buf) < maxItems) && total < maxWeight {
		select {
		case it, ok := <-q:
			if !ok {
				return buf, true
			}
			buf = append(buf, it)
			total += weight(it)
		default:
			return buf, true
		}
	}
	return buf, true
}

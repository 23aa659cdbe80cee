package postgres

import (
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore/internal/live"
)

// TestHorizonAdvance replays observations (last position handed out, then
// the transactions writing the log) and checks the horizon after each: it
// never covers a position a running writer may hold.
func TestHorizonAdvance(t *testing.T) {
	type step struct {
		issued  uint64
		writers []string
		want    uint64
	}
	w := func(vx ...string) []string { return vx }
	cases := map[string][]step{
		"no writer":             {{5, nil, 5}},
		"writers, then none":    {{5, w("3/10", "4/7"), 0}, {5, w("4/7"), 0}, {7, w("5/2"), 5}, {7, nil, 7}},
		"new writers only":      {{5, w("3/10"), 0}, {9, w("3/11"), 5}},
		"one long writer holds": {{3, w("3/10"), 0}, {9, w("3/10", "4/1"), 0}, {12, w("3/10", "4/2"), 0}, {15, w("5/1"), 12}},
		"a later candidate resolving resolves the earlier": {
			{3, w("3/10"), 0}, {8, w("3/10", "4/1"), 0}, {9, w("6/6"), 8},
		},
		"never backwards": {{5, nil, 5}, {4, nil, 5}},
		"nothing new, the older candidate waits for less": {
			{5, w("3/10"), 0}, {5, w("3/10", "4/1"), 0}, {5, w("4/1"), 5},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			h := &horizon{notifier: live.NewNotifier(0)}
			for i, s := range steps {
				if got := h.advance(observation{issued: s.issued, writers: s.writers}, time.Now()); got != s.want {
					t.Fatalf("step %d (%+v): horizon %d, want %d", i, s, got, s.want)
				}
			}
		})
	}
}

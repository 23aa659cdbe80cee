package batch

import "testing"

func TestTake(t *testing.T) {
	one := func(int) int { return 1 }
	self := func(n int) int { return n }
	cases := []struct {
		name          string
		queued        []int
		close         bool
		items, weight int
		w             func(int) int
		want          []int
		ok            bool
	}{
		{"everything queued", []int{1, 2, 3}, false, 0, 100, one, []int{1, 2, 3}, true},
		{"item bound", []int{1, 2, 3}, false, 2, 100, one, []int{1, 2}, true},
		{"weight bound", []int{5, 5, 5}, false, 0, 10, self, []int{5, 5}, true},
		{"a heavy first item goes alone", []int{50, 1}, false, 0, 10, self, []int{50}, true},
		{"closed behind the first", []int{7}, true, 0, 100, one, []int{7}, true},
		{"closed and drained", nil, true, 0, 100, one, []int{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := make(chan int, len(c.queued))
			for _, v := range c.queued {
				q <- v
			}
			if c.close {
				close(q)
			}
			got, ok := Take(q, nil, c.items, c.weight, c.w)
			if ok != c.ok || len(got) != len(c.want) {
				t.Fatalf("Take = %v, %v; want %v, %v", got, ok, c.want, c.ok)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("Take = %v; want %v", got, c.want)
				}
			}
		})
	}
}

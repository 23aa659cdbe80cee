package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/ratelimit"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestLimiterPerKey(t *testing.T) {
	l := ratelimit.New(ratelimit.Rule{PerSecond: 10, Burst: 5}, 0)
	for i := range 5 {
		if ok, _ := l.Allow("a", t0); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.Allow("a", t0)
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("past the burst: ok=%v wait=%v, want refused with ~100ms", ok, wait)
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatal("another key was refused by a's flood")
	}
	if ok, _ := l.Allow("a", t0.Add(wait)); !ok {
		t.Fatal("refused after waiting the advised time")
	}
	if ratelimit.RetryAfterSeconds(wait) != 1 || ratelimit.RetryAfterSeconds(2500*time.Millisecond) != 3 {
		t.Fatal("Retry-After rounds up to whole seconds, at least 1")
	}
}

func TestLimiterUnlimited(t *testing.T) {
	l := ratelimit.New(ratelimit.Rule{}, 0)
	for range 10000 {
		if ok, _ := l.Allow("a", t0); !ok {
			t.Fatal("a zero rule limited")
		}
	}
	if l.Len() != 0 {
		t.Fatal("an unlimited limiter tracked keys")
	}
}

// TestLimiterBounded: a spray of distinct keys never grows the map past
// its bound, and idle (refilled) keys are forgotten.
func TestLimiterBounded(t *testing.T) {
	l := ratelimit.New(ratelimit.Rule{PerSecond: 1, Burst: 1}, 2000)
	for i := range 100000 {
		l.Allow(fmt.Sprint("ip-", i), t0)
		if l.Len() > 2000 {
			t.Fatalf("after %d keys the limiter tracks %d, over its bound 2000", i+1, l.Len())
		}
	}
	later := t0.Add(time.Minute)
	for i := range 1100 {
		l.Allow(fmt.Sprint("new-", i), later)
	}
	if l.Len() > 1100 {
		t.Fatalf("idle keys not forgotten: %d tracked", l.Len())
	}
}

func TestSlots(t *testing.T) {
	s := ratelimit.NewSlots(2)
	r1, ok1 := s.Acquire("a")
	_, ok2 := s.Acquire("a")
	_, ok3 := s.Acquire("a")
	_, okB := s.Acquire("b")
	if !ok1 || !ok2 || ok3 || !okB {
		t.Fatalf("acquire: %v %v %v %v, want true true false true", ok1, ok2, ok3, okB)
	}
	r1()
	r1() // releasing twice gives back one slot
	if _, ok := s.Acquire("a"); !ok {
		t.Fatal("a released slot was not given back")
	}
	if _, ok := s.Acquire("a"); ok {
		t.Fatal("a double release gave back two slots")
	}
}

func TestSlotsConcurrent(t *testing.T) {
	s := ratelimit.NewSlots(3)
	var mu sync.Mutex
	held, maxHeld := 0, 0
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 200 {
				release, ok := s.Acquire("k")
				if !ok {
					continue
				}
				mu.Lock()
				held++
				maxHeld = max(maxHeld, held)
				mu.Unlock()
				mu.Lock()
				held--
				mu.Unlock()
				release()
			}
		})
	}
	wg.Wait()
	if maxHeld > 3 {
		t.Fatalf("%d slots held at once, over the cap 3", maxHeld)
	}
}

// BenchmarkAllow: the limiter's cost per call, one principal per
// goroutine-visible key set of 10,000 (as many users calling at once).
//
//	go test ./adapters/ratelimit -run '^$' -bench Allow
func BenchmarkAllow(b *testing.B) {
	l := ratelimit.New(ratelimit.Rule{PerSecond: 1e9, Burst: 1 << 30}, 0)
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprint("user-", i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)], time.Now())
			i++
		}
	})
}

package main

import (
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/ratelimit"
)

// TestDefaultLimitsStopASubmitFlood: under the shipped defaults one user
// calling 300 times a second for 10 s gets at most the burst plus the
// rate through, while a second user, calling once a second all along, is
// never refused.
func TestDefaultLimitsStopASubmitFlood(t *testing.T) {
	p := ratelimit.NewPrincipals(rateRules(config.Default().Limits))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const rate, seconds = 300, 10
	passed := 0
	for i := range rate * seconds {
		now := start.Add(time.Duration(i) * time.Second / rate)
		if ok, _ := p.Allow(ratelimit.User, "flooder", now); ok {
			passed++
		}
		if i%rate == 0 {
			if ok, wait := p.Allow(ratelimit.User, "honest", now); !ok {
				t.Fatalf("the honest user was refused (retry in %s) during another user's flood", wait)
			}
		}
	}
	l := config.Default().Limits
	if most := l.UserBurst + int(l.UserRequestsPerSecond*seconds) + 1; passed > most || passed/seconds >= rate {
		t.Fatalf("%d of %d calls passed in %d s; the defaults allow at most %d", passed, rate*seconds, seconds, most)
	}
}

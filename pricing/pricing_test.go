package pricing_test

import (
	"math"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/pricing"
)

func TestPricingValidate(t *testing.T) {
	if err := (&pricing.Model{}).Validate(); err == nil {
		t.Fatal("an empty pricing model validates")
	}
	p := pricing.Default()
	if err := p.Validate(); err != nil {
		t.Fatalf("the default model: %v", err)
	}
	tests := []struct {
		name    string
		change  func(*pricing.Model)
		mention string
	}{
		{"default tier", func(p *pricing.Model) { p.DefaultTier = "nope" }, "default_tier"},
		{"speed", func(p *pricing.Model) { p.Tiers = map[string]pricing.Tier{"gpu": {PricePerHour: 1}} }, "tiers.gpu.speed"},
		{"price", func(p *pricing.Model) { p.Tiers = map[string]pricing.Tier{"gpu": {PricePerHour: math.NaN(), Speed: 1}} }, "tiers.gpu.price_per_hour_sol"},
		{"fee", func(p *pricing.Model) { p.PlatformFeePercent = 101 }, "platform_fee_percent"},
		{"seconds", func(p *pricing.Model) { p.SecondsPerSample = map[string]float64{"cnn": -1} }, "seconds_per_sample.cnn"},
	}
	for _, tc := range tests {
		p := pricing.Default()
		tc.change(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v; want an error naming %s", tc.name, err, tc.mention)
		}
	}
}

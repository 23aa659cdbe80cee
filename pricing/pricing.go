// Package pricing is the job price model EstimateJobCost answers with:
// what a job costs on a tier of node, the platform's fee and the node's
// share, and a one-line breakdown a person can check. It is pure (no I/O,
// no clock) and knows nothing of the wire; adapters map its errors, which
// wrap domain.ErrInvalidArgument, to status codes.
package pricing

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cyxwiz/central-server/domain"
)

// Tier is a class of node a job can be priced on.
type Tier struct {
	// PricePerHour is what an hour of the tier costs, in SOL.
	PricePerHour float64
	// Speed is the tier's throughput relative to the reference machine
	// the model types' SecondsPerSample are measured on (1 = as fast).
	Speed float64
}

// Model is EstimateJobCost's price model:
//
//	samples  = epochs × dataset_size          (epochs 0 = 1; dataset_size 0 = DefaultDatasetSize)
//	seconds  = samples × SecondsPerSample[model_type] / Tiers[node_tier].Speed
//	minutes  = max(seconds / 60, MinimumMinutes)
//	cost     = max(minutes / 60 × Tiers[node_tier].PricePerHour, MinimumCharge)     SOL
//	fee      = cost × PlatformFeePercent / 100   (kept by the platform at payout)
//	node     = cost − fee                        (paid to the node)
//
// cost is what the client deposits in escrow (payment_amount); the
// settlement pays the node cost − fee and the treasury fee, as the saga
// does. Model types and tiers are matched case-insensitively; an unknown
// model type uses DefaultSecondsPerSample, an empty tier DefaultTier, an
// unknown tier is INVALID_ARGUMENT listing the known ones.
//
// The config keys meant to feed it (owned by adapters/config, a
// [pricing] section): default_tier, minimum_charge_sol, minimum_minutes,
// default_dataset_size, default_seconds_per_sample, the tiers as
// [pricing.tiers.<name>] price_per_hour_sol and speed, the model types as
// [pricing.seconds_per_sample] <model> = seconds; platform_fee_percent is
// [blockchain]'s.
type Model struct {
	Tiers                   map[string]Tier
	DefaultTier             string
	SecondsPerSample        map[string]float64
	DefaultSecondsPerSample float64
	DefaultDatasetSize      int32
	MinimumMinutes          float64
	MinimumCharge           float64
	PlatformFeePercent      float64
}

// Default is the model with this server's defaults: three tiers
// (cpu 0.01 SOL/h at 1×, gpu 0.05 SOL/h at 8×, datacenter 0.2 SOL/h at
// 25×), a few model families, a 1-minute and 0.0001 SOL minimum, and the
// default 10 % platform fee.
func Default() Model {
	return Model{
		Tiers: map[string]Tier{
			"cpu":        {PricePerHour: 0.01, Speed: 1},
			"gpu":        {PricePerHour: 0.05, Speed: 8},
			"datacenter": {PricePerHour: 0.2, Speed: 25},
		},
		DefaultTier: "gpu",
		SecondsPerSample: map[string]float64{
			"linear": 0.0001, "mlp": 0.0005, "cnn": 0.005, "rnn": 0.01, "lstm": 0.01,
			"resnet": 0.02, "transformer": 0.05, "llm": 0.5,
		},
		DefaultSecondsPerSample: 0.01,
		DefaultDatasetSize:      10_000,
		MinimumMinutes:          1,
		MinimumCharge:           0.0001,
		PlatformFeePercent:      10,
	}
}

func (p *Model) isZero() bool {
	return len(p.Tiers) == 0 && p.DefaultTier == "" && len(p.SecondsPerSample) == 0 && p.DefaultSecondsPerSample == 0 &&
		p.DefaultDatasetSize == 0 && p.MinimumMinutes == 0 && p.MinimumCharge == 0 && p.PlatformFeePercent == 0
}

// WithDefaults returns p with Default's values where p has none: the
// whole model when p is zero; else the tiers, default tier, model types,
// default seconds per sample and default dataset size when unset. The
// minimums and the fee are kept as given (0 is a meaningful value).
func (p Model) WithDefaults() Model {
	d := Default()
	if p.isZero() {
		return d
	}
	if len(p.Tiers) == 0 {
		p.Tiers = d.Tiers
		if p.DefaultTier == "" {
			p.DefaultTier = d.DefaultTier
		}
	}
	if p.DefaultTier == "" && len(p.Tiers) == 1 {
		for name := range p.Tiers {
			p.DefaultTier = name
		}
	}
	if p.SecondsPerSample == nil {
		p.SecondsPerSample = d.SecondsPerSample
	}
	if p.DefaultSecondsPerSample == 0 {
		p.DefaultSecondsPerSample = d.DefaultSecondsPerSample
	}
	if p.DefaultDatasetSize == 0 {
		p.DefaultDatasetSize = d.DefaultDatasetSize
	}
	return p
}

// Validate reports what is wrong with a model, naming the parameter.
func (p *Model) Validate() error {
	var errs []error
	bad := func(name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			errs = append(errs, fmt.Errorf("pricing %s must be a finite number ≥ 0, got %v", name, v))
		}
	}
	if len(p.Tiers) == 0 {
		errs = append(errs, errors.New("pricing needs at least one tier"))
	}
	for name, t := range p.Tiers {
		bad("tiers."+name+".price_per_hour_sol", t.PricePerHour)
		if !(t.Speed > 0) || math.IsInf(t.Speed, 0) {
			errs = append(errs, fmt.Errorf("pricing tiers.%s.speed must be > 0, got %v", name, t.Speed))
		}
	}
	if _, ok := p.tier(p.DefaultTier); !ok {
		errs = append(errs, fmt.Errorf("pricing default_tier %q is not one of the tiers", p.DefaultTier))
	}
	for name, v := range p.SecondsPerSample {
		bad("seconds_per_sample."+name, v)
	}
	bad("default_seconds_per_sample", p.DefaultSecondsPerSample)
	bad("minimum_minutes", p.MinimumMinutes)
	bad("minimum_charge_sol", p.MinimumCharge)
	bad("platform_fee_percent", p.PlatformFeePercent)
	if p.PlatformFeePercent > 100 {
		errs = append(errs, fmt.Errorf("pricing platform_fee_percent must be within 0..100, got %v", p.PlatformFeePercent))
	}
	if p.DefaultDatasetSize < 0 {
		errs = append(errs, fmt.Errorf("pricing default_dataset_size must be ≥ 0, got %d", p.DefaultDatasetSize))
	}
	return errors.Join(errs...)
}

func (p *Model) tier(name string) (Tier, bool) {
	for k, t := range p.Tiers {
		if strings.EqualFold(k, name) {
			return t, true
		}
	}
	return Tier{}, false
}

// Estimate is a priced job.
type Estimate struct {
	CostSOL   float64
	FeeSOL    float64
	NodeSOL   float64
	Minutes   float64
	Tier      string
	Breakdown string // one line a person can check the arithmetic with
}

// Estimate prices a job; bad input is an error wrapping
// domain.ErrInvalidArgument that names the field.
func (p *Model) Estimate(modelType string, epochs, datasetSize int32, tierName string) (Estimate, error) {
	if epochs < 0 {
		return Estimate{}, fmt.Errorf("%w: epochs must be ≥ 0, got %d", domain.ErrInvalidArgument, epochs)
	}
	if datasetSize < 0 {
		return Estimate{}, fmt.Errorf("%w: dataset_size must be ≥ 0, got %d", domain.ErrInvalidArgument, datasetSize)
	}
	if tierName == "" {
		tierName = p.DefaultTier
	}
	tier, ok := p.tier(tierName)
	if !ok {
		names := make([]string, 0, len(p.Tiers))
		for k := range p.Tiers {
			names = append(names, k)
		}
		slices.Sort(names)
		return Estimate{}, fmt.Errorf("%w: node_tier %q is not a tier; use one of %s", domain.ErrInvalidArgument,
			clip(tierName), strings.Join(names, ", "))
	}
	sps, known := p.DefaultSecondsPerSample, false
	for k, v := range p.SecondsPerSample {
		if strings.EqualFold(k, strings.TrimSpace(modelType)) {
			sps, known = v, true
		}
	}
	ep, ds := max(epochs, 1), datasetSize
	if ds == 0 {
		ds = p.DefaultDatasetSize
	}
	samples := float64(ep) * float64(ds)
	minutes := max(samples*sps/tier.Speed/60, p.MinimumMinutes)
	cost := max(minutes/60*tier.PricePerHour, p.MinimumCharge)
	fee := cost * p.PlatformFeePercent / 100
	model := modelType
	if !known {
		model = "default (model type " + strconv.Quote(clip(modelType)) + " not known)"
	}
	e := Estimate{CostSOL: cost, FeeSOL: fee, NodeSOL: cost - fee, Minutes: minutes, Tier: strings.ToLower(tierName)}
	e.Breakdown = fmt.Sprintf("%d epochs × %d samples × %gs/sample (%s) ÷ %g× (tier %s) = %.2f min (minimum %g); "+
		"%.2f min × %g SOL/h = %g SOL (minimum %g); platform fee %g%% = %g SOL, node receives %g SOL",
		ep, ds, sps, model, tier.Speed, e.Tier, minutes, p.MinimumMinutes,
		minutes, tier.PricePerHour, cost, p.MinimumCharge, p.PlatformFeePercent, fee, e.NodeSOL)
	return e, nil
}

// clip shortens a caller's string quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

package postgres

import (
	"testing"
	"time"

	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

func TestDbgTimes(t *testing.T) {
	envs := readmodeltest.Realistic(100_000, 1000, 1)
	m := newTestModel(t)
	DebugTimes = map[string]time.Duration{}
	t0 := time.Now()
	applyBatches(t, m, envs, 512)
	t.Log("total", time.Since(t0))
	for k, v := range DebugTimes {
		t.Logf("%-32q %v", k, v)
	}
}

//go:build !unix

package bolt_test

import "time"

// processCPU is unknown here; the benchmarks then omit cpu-µs/event.
func processCPU() time.Duration { return 0 }

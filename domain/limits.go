package domain

import (
	"math"
)

// Bounds on what a node or a client may send, in one place so that the
// validators, the edge and docs/limits.md agree. Every string, byte field
// and repeated field that enters the log is bounded by one of them; the job
// bounds an operator may need to tune are in Limits (config [limits]).
const (
	MaxNodeNameBytes     = 256      // info.name
	MaxNodeVersionBytes  = 96       // info.version, rendered "major.minor.patch+build" (build ≤ 48)
	MaxRegionBytes       = 128      // info.region, and region filters
	MaxHostBytes         = 253      // info.ip_address (an IP or an RFC 1123 host name)
	MaxWalletBytes       = 64       // info.wallet_address (a base58 key is 32..44)
	MaxPublicKeyBytes    = 4096     // RegisterNodeRequest.public_key
	MaxDevices           = 64       // info.devices
	MaxDeviceStringBytes = 256      // device_name, gpu_model, driver_version, cuda_version
	MaxListEntries       = 64       // info.supported_formats, info.available_runtimes
	MaxListEntryBytes    = 128      // one entry of those lists
	MaxActiveJobs        = 1024     // HeartbeatRequest.active_jobs
	MaxMetricEntries     = 256      // metrics maps of progress and results
	MaxMetricNameBytes   = 256      // one metric name
	MaxLogBytes          = 16 << 10 // log_message, error_message
	MaxReasonBytes       = 1024     // a cancel reason
	MaxResultStringBytes = 64 << 10 // model_weights_uri, model_weights_hash, proof_of_compute
)

// Limits bound what a submission may ask for (config [limits]).
type Limits struct {
	MaxInitialDataBytes int
	MaxHyperparameters  int
	MaxStringBytes      int
	// MaxSpecBytes bounds a whole spec: initial data, strings and
	// hyperparameters together (0 = no bound beyond the others).
	MaxSpecBytes int
}

// DefaultLimits are generous bounds that still protect the log.
var DefaultLimits = Limits{MaxInitialDataBytes: 1 << 20, MaxHyperparameters: 256, MaxStringBytes: 64 << 10, MaxSpecBytes: 2 << 20}

// SpecBytes is the size of a spec's variable parts: initial data, strings
// and hyperparameters.
func (s JobSpec) SpecBytes() int {
	n := len(s.InitialData) + len(s.ModelDefinition) + len(s.DatasetURI) + len(s.PaymentAddress) + len(s.EscrowTxHash)
	for k, v := range s.Hyperparameters {
		n += len(k) + len(v)
	}
	return n
}

// checkText bounds a string field.
func checkText(field, v string, limit int) error {
	if len(v) > limit {
		return invalid("%s is %d bytes; the limit is %d", field, len(v), limit)
	}
	return nil
}

// checkTexts bounds a repeated string field: its length and each entry.
func checkTexts(field string, vs []string, maxEntries, maxBytes int) error {
	if len(vs) > maxEntries {
		return invalid("%s lists %d entries; the limit is %d", field, len(vs), maxEntries)
	}
	for i, v := range vs {
		if len(v) > maxBytes {
			return invalid("%s[%d] is %d bytes; the limit is %d", field, i, len(v), maxBytes)
		}
	}
	return nil
}

// checkNonNegative requires finite numbers ≥ 0.
func checkNonNegative(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return invalid("%s must be a finite number ≥ 0, got %v", field, v)
	}
	return nil
}

// CheckMetrics bounds a metrics map: entries, name sizes, finite values.
func CheckMetrics(field string, m map[string]float64) error {
	if len(m) > MaxMetricEntries {
		return invalid("%s has %d entries; the limit is %d", field, len(m), MaxMetricEntries)
	}
	for k, v := range m {
		if k == "" || len(k) > MaxMetricNameBytes {
			return invalid("%s: metric names must be 1..%d bytes", field, MaxMetricNameBytes)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid("%s[%q] is %v; metrics must be finite", field, clipText(k), v)
		}
	}
	return nil
}

// clipText shortens a value quoted back in an error message.
func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

package grpc

import (
	"math"

	"github.com/cyxwiz/central-server/domain"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/google/uuid"
)

// Request bounds the wire contract leaves open (the rest are in
// domain/limits.go).
const (
	maxPageSize    = 1000
	maxStringBytes = domain.MaxResultStringBytes
	maxLogBytes    = domain.MaxLogBytes
)

// checkID requires a canonical UUID in field.
func checkID(field, v string) error {
	if v == "" {
		return invalidf("%s is required", field)
	}
	if len(v) != 36 {
		return invalidf("%s %q is not a UUID (want the 36-character form, e.g. 6f1c2a9e-…)", field, clip(v))
	}
	if _, err := uuid.Parse(v); err != nil {
		return invalidf("%s %q is not a UUID: %v", field, clip(v), err)
	}
	return nil
}

// checkOptionalID accepts "" or a UUID.
func checkOptionalID(field, v string) error {
	if v == "" {
		return nil
	}
	return checkID(field, v)
}

func checkFinite(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalidf("%s must be a finite number, got %v", field, v)
	}
	return nil
}

// amount is a named request number that must be finite and ≥ 0.
type amount struct {
	field string
	v     float64
}

func checkAmounts(as ...amount) error {
	for _, a := range as {
		if err := checkFinite(a.field, a.v); err != nil {
			return err
		}
		if a.v < 0 {
			return invalidf("%s must be ≥ 0, got %v", a.field, a.v)
		}
	}
	return nil
}

func checkMetrics(field string, m map[string]float64) error {
	if err := domain.CheckMetrics(field, m); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

func checkString(field, v string, limit int) error {
	if len(v) > limit {
		return invalidf("%s is %d bytes; the limit is %d", field, len(v), limit)
	}
	return nil
}

func checkPageSize(field string, v int32) (int, error) {
	if v < 0 || v > maxPageSize {
		return 0, invalidf("%s must be within 0..%d, got %d", field, maxPageSize, v)
	}
	if v == 0 {
		return 50, nil
	}
	return int(v), nil
}

// clip shortens a value quoted back in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

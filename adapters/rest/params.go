package rest

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// Limits of query parameters.
const (
	DefaultLimit        = projections.DefaultPageSize // lists of the read model
	DefaultHistoryLimit = projections.MaxPageSize     // event histories and metric series
	MaxLimit            = projections.MaxPageSize
	maxTextParam        = 128 // bytes of a free-text filter (owner, region)
)

// enum is a closed set of parameter values, in the order messages list them.
type enum[T any] struct {
	names  []string
	values map[string]T
}

func newEnum[T any](pairs ...any) enum[T] {
	e := enum[T]{values: make(map[string]T)}
	for i := 0; i < len(pairs); i += 2 {
		name := pairs[i].(string)
		e.names = append(e.names, name)
		e.values[name] = pairs[i+1].(T)
	}
	return e
}

func (e enum[T]) parse(where, param, raw string) (T, *Error) {
	v, ok := e.values[raw]
	if !ok {
		var zero T
		return zero, badParam(where, param, "must be one of %s; got %s", strings.Join(e.names, ", "), quote(raw))
	}
	return v, nil
}

// The enums of the API. The OpenAPI test checks the document lists the
// same values.
var (
	jobStatuses = newEnum[[]domain.JobStatus](
		"pending", []domain.JobStatus{domain.JobStatusPending},
		"assigned", []domain.JobStatus{domain.JobStatusAssigned},
		"running", []domain.JobStatus{domain.JobStatusRunning},
		"completed", []domain.JobStatus{domain.JobStatusCompleted},
		"failed", []domain.JobStatus{domain.JobStatusFailed},
		"cancelled", []domain.JobStatus{domain.JobStatusCancelled},
		"in_progress", projections.InProgress,
	)
	jobTypes = newEnum[domain.JobType](
		"training", domain.JobTypeTraining,
		"inference", domain.JobTypeInference,
		"evaluation", domain.JobTypeEvaluation,
		"preprocessing", domain.JobTypePreprocessing,
		"unknown", domain.JobTypeUnknown,
	)
	devices = newEnum[domain.DeviceType](
		"cpu", domain.DeviceCPU,
		"cuda", domain.DeviceCUDA,
		"opencl", domain.DeviceOpenCL,
		"metal", domain.DeviceMetal,
		"vulkan", domain.DeviceVulkan,
	)
	nodeSorts = newEnum[projections.NodeSort](
		"price", projections.SortByPrice,
		"performance", projections.SortByPerformance,
		"reputation", projections.SortByReputation,
		"availability", projections.SortByAvailability,
	)
	orders          = newEnum[bool]("asc", false, "desc", true)
	booleans        = newEnum[bool]("true", true, "false", false)
	paymentStatuses = newEnum[string](
		"funded", "funded",
		"release_submitted", "release_submitted",
		"released", "released",
		"refund_submitted", "refund_submitted",
		"refunded", "refunded",
		"failed", "failed",
		"skipped", "skipped",
	)
)

// quote shows a client's value in a message, clipped.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}

// query reads the query parameters of one request; the route's
// middleware has already refused unknown and repeated ones.
type query struct{ c echo.Context }

func (q query) has(name string) bool { return q.c.QueryParams().Has(name) }
func (q query) get(name string) string {
	return q.c.QueryParam(name)
}

// limit parses limit (1..MaxLimit), def when absent.
func (q query) limit(def int) (int, *Error) {
	if !q.has("limit") {
		return def, nil
	}
	raw := q.get("limit")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, badParam(inQuery, "limit", "must be an integer from 1 to %d; got %s", MaxLimit, quote(raw))
	}
	return n, nil
}

// text parses a free-text filter: at most maxTextParam bytes of printable
// UTF-8. It is only ever compared with, never interpreted.
func (q query) text(name string) (string, *Error) {
	raw := q.get(name)
	if q.has(name) && raw == "" {
		return "", badParam(inQuery, name, "must not be empty; omit it to not filter")
	}
	if len(raw) > maxTextParam || !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", badParam(inQuery, name, "must be at most %d bytes of printable UTF-8; got %s", maxTextParam, quote(raw))
	}
	return raw, nil
}

// price parses a non-negative finite number.
func (q query) price(name string) (float64, *Error) {
	if !q.has(name) {
		return 0, nil
	}
	raw := q.get(name)
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, badParam(inQuery, name, "must be a number ≥ 0; got %s", quote(raw))
	}
	return f, nil
}

// time parses an RFC 3339 time; zero when absent.
func (q query) time(name string) (time.Time, *Error) {
	if !q.has(name) {
		return time.Time{}, nil
	}
	raw := q.get(name)
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, badParam(inQuery, name, `must be an RFC 3339 time such as "2026-03-14T09:26:53Z"; got %s`, quote(raw))
	}
	return t, nil
}

// statuses parses a comma-separated list of job statuses.
func (q query) statuses() ([]domain.JobStatus, *Error) {
	if !q.has("status") {
		return nil, nil
	}
	var out []domain.JobStatus
	for part := range strings.SplitSeq(q.get("status"), ",") {
		st, err := jobStatuses.parse(inQuery, "status", part)
		if err != nil {
			err.Message += " (several statuses are separated by commas: status=running,failed)"
			return nil, err
		}
		for _, s := range st {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// pathID returns the :id path parameter, which must be a UUID.
func pathID(c echo.Context, what string) (string, *Error) {
	id := c.Param("id")
	if len(id) != 36 {
		return "", badParam(inPath, "id", "must be a %s id: a UUID in its 36-character form; got %s", what, quote(id))
	}
	if _, err := uuid.Parse(id); err != nil {
		return "", badParam(inPath, "id", "must be a %s id: a UUID in its 36-character form; got %s", what, quote(id))
	}
	return strings.ToLower(id), nil
}

// Cursors this adapter issues itself (lists whose read-model port pages
// by a key rather than a token): base64url of a kind byte, the key and a
// checksum. Lists of jobs and nodes pass the read model's own tokens.
const (
	cursorHistory  byte = 'E' // stream revision to read from
	cursorActivity byte = 'A' // activity position to read before
	cursorPayments byte = 'P' // payment UpdatedAt (unix ns) to read before
	cursorMetrics  byte = 'M' // metric time (unix ns) to read from
)

// offlinePrefix marks a cursor of the offline node list (see listOffline).
const offlinePrefix = "off."

func encodeCursor(kind byte, key uint64) string {
	b := make([]byte, 0, 13)
	b = append(b, kind)
	b = binary.BigEndian.AppendUint64(b, key)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(q query, kind byte) (key uint64, ok bool, e *Error) {
	if !q.has("cursor") {
		return 0, false, nil
	}
	raw := q.get("cursor")
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) != 13 || b[0] != kind || crc32.ChecksumIEEE(b[:9]) != binary.BigEndian.Uint32(b[9:]) {
		return 0, false, badParam(inQuery, "cursor", "is not a cursor of this list; use the next_cursor of its previous page, or omit it to start again; got %s", quote(raw))
	}
	return binary.BigEndian.Uint64(b[1:9]), true, nil
}

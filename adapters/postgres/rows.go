package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// Rows are written with one INSERT … SELECT FROM unnest(arrays) per table
// and batch: one round trip whatever the batch's size, binary encoded, and
// exact (floats as float8, not through text).

const jobColumns = `id, owner, job_type, priority, required_device, estimated_memory, status, deleted, node_id,
	accepted, accepted_at, progress, epoch, metrics, attempts, requeues, submitted_at, assigned_at, started_at,
	ended_at, reason, result, last_log, spec, submitted_position, revision, position`

// upsertJobs writes the rows of jobCols.
const upsertJobs = `INSERT INTO jobs (` + jobColumns + `)
SELECT * FROM unnest($1::text[], $2::text[], $3::int2[], $4::int2[], $5::int2[], $6::int8[], $7::int2[], $8::bool[],
	$9::text[], $10::bool[], $11::timestamptz[], $12::float8[], $13::int4[], $14::jsonb[], $15::int4[], $16::int4[],
	$17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[], $21::text[], $22::jsonb[],
	$23::text[], $24::jsonb[], $25::int8[], $26::int8[], $27::int8[])
ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, job_type = EXCLUDED.job_type, priority = EXCLUDED.priority,
	required_device = EXCLUDED.required_device, estimated_memory = EXCLUDED.estimated_memory, status = EXCLUDED.status,
	deleted = EXCLUDED.deleted, node_id = EXCLUDED.node_id, accepted = EXCLUDED.accepted,
	accepted_at = EXCLUDED.accepted_at, progress = EXCLUDED.progress, epoch = EXCLUDED.epoch,
	metrics = EXCLUDED.metrics, attempts = EXCLUDED.attempts, requeues = EXCLUDED.requeues,
	submitted_at = EXCLUDED.submitted_at, assigned_at = EXCLUDED.assigned_at, started_at = EXCLUDED.started_at,
	ended_at = EXCLUDED.ended_at, reason = EXCLUDED.reason, result = EXCLUDED.result, last_log = EXCLUDED.last_log,
	spec = EXCLUDED.spec, submitted_position = EXCLUDED.submitted_position, revision = EXCLUDED.revision,
	position = EXCLUDED.position`

// jobCols are job rows as column arrays.
type jobCols struct {
	id, owner                        []string
	typ, prio, device, status        []int16
	mem                              []int64
	deleted, accepted                []bool
	node, reason, lastLog            []string
	acceptedAt, submittedAt          []*time.Time
	assignedAt, startedAt, endedAt   []*time.Time
	progress                         []float64
	epoch, attempts, requeues        []int32
	metrics, result, spec            [][]byte
	submittedPos, revision, position []int64
}

func (c *jobCols) args() []any {
	return []any{c.id, c.owner, c.typ, c.prio, c.device, c.mem, c.status, c.deleted, c.node, c.accepted, c.acceptedAt,
		c.progress, c.epoch, c.metrics, c.attempts, c.requeues, c.submittedAt, c.assignedAt, c.startedAt, c.endedAt,
		c.reason, c.result, c.lastLog, c.spec, c.submittedPos, c.revision, c.position}
}

// add appends v's row; withSpec false leaves the spec out (for
// updateJobStates).
func (c *jobCols) add(v *projections.JobView, withSpec bool) error {
	var specJSON []byte
	var err error
	if withSpec {
		spec := v.Spec
		spec.InitialData = nil
		if specJSON, err = json.Marshal(spec); err != nil {
			return fmt.Errorf("job %s: encode spec: %w", v.ID, err)
		}
	}
	var metrics, result []byte
	if len(v.Metrics) > 0 {
		if metrics, err = json.Marshal(v.Metrics); err != nil {
			return fmt.Errorf("job %s: encode metrics: %w", v.ID, err)
		}
	}
	if v.Result != nil {
		if result, err = json.Marshal(v.Result); err != nil {
			return fmt.Errorf("job %s: encode result: %w", v.ID, err)
		}
	}
	typ, err1 := small(int(v.Spec.Type), "job type")
	prio, err2 := small(int(v.Spec.Priority), "priority")
	dev, err3 := small(int(v.Spec.RequiredDevice), "device type")
	status, err4 := small(int(v.Status), "status")
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return fmt.Errorf("job %s: %w", v.ID, err)
		}
	}
	c.id = append(c.id, text(v.ID))
	c.owner = append(c.owner, text(v.Owner))
	c.typ = append(c.typ, typ)
	c.prio = append(c.prio, prio)
	c.device = append(c.device, dev)
	c.mem = append(c.mem, v.Spec.EstimatedMemory)
	c.status = append(c.status, status)
	c.deleted = append(c.deleted, v.Deleted)
	c.node = append(c.node, text(v.NodeID))
	c.accepted = append(c.accepted, v.Accepted)
	c.acceptedAt = append(c.acceptedAt, ts(v.AcceptedAt))
	c.progress = append(c.progress, v.Progress)
	c.epoch = append(c.epoch, v.Epoch)
	c.metrics = append(c.metrics, jsonText(metrics))
	c.attempts = append(c.attempts, clamp32(v.Attempts))
	c.requeues = append(c.requeues, clamp32(v.Requeues))
	c.submittedAt = append(c.submittedAt, ts(v.SubmittedAt))
	c.assignedAt = append(c.assignedAt, ts(v.AssignedAt))
	c.startedAt = append(c.startedAt, ts(v.StartedAt))
	c.endedAt = append(c.endedAt, ts(v.EndedAt))
	c.reason = append(c.reason, text(v.Reason))
	c.result = append(c.result, jsonText(result))
	c.lastLog = append(c.lastLog, text(v.LastLog))
	c.spec = append(c.spec, jsonText(specJSON))
	c.submittedPos = append(c.submittedPos, int64(v.SubmittedPosition))
	c.revision = append(c.revision, int64(v.Revision))
	c.position = append(c.position, int64(v.Position))
	return nil
}

func small(n int, what string) (int16, error) {
	if n < math.MinInt16 || n > math.MaxInt16 {
		return 0, fmt.Errorf("%s %d out of range", what, n)
	}
	return int16(n), nil
}

func clamp32(n int) int32 { return int32(max(math.MinInt32, min(math.MaxInt32, n))) }

// scanJob reads a row of jobColumns.
func scanJob(row pgx.Row) (projections.JobView, error) {
	v, spec, err := scanJobState(row)
	if err != nil {
		return v, err
	}
	return v, decodeSpec(&v, spec)
}

// specCache keeps decoded specs by job id: a spec is written once, at
// submission, but every page of a job list would decode 50 of them again,
// the largest part of a list's CPU. An entry serves only a column equal
// to the bytes it was decoded from.
type specCache struct {
	lru *lru.Cache[string, cachedSpec]
}

type cachedSpec struct {
	raw  []byte
	spec domain.JobSpec
}

func newSpecCache(size int) specCache {
	c, err := lru.New[string, cachedSpec](size)
	if err != nil {
		panic(err) // size > 0: cannot happen
	}
	return specCache{lru: c}
}

// scanJob reads a row of jobColumns, its spec from the cache when it can.
func (c specCache) scanJob(row pgx.Row) (projections.JobView, error) {
	v, spec, err := scanJobState(row)
	if err != nil {
		return v, err
	}
	if e, ok := c.lru.Get(v.ID); ok && bytes.Equal(e.raw, spec) {
		v.Spec = e.spec
		v.Spec.Hyperparameters = maps.Clone(e.spec.Hyperparameters)
		return v, nil
	}
	if err := decodeSpec(&v, spec); err != nil {
		return v, err
	}
	kept := v.Spec
	kept.Hyperparameters = maps.Clone(v.Spec.Hyperparameters)
	c.lru.Add(v.ID, cachedSpec{raw: bytes.Clone(spec), spec: kept})
	return v, nil
}

// decodeSpec sets v.Spec from its column.
func decodeSpec(v *projections.JobView, spec []byte) error {
	v.Spec = domain.JobSpec{}
	if err := json.Unmarshal(spec, &v.Spec); err != nil {
		return fmt.Errorf("job %s: decode spec: %w", v.ID, err)
	}
	return nil
}

// scanJobState reads a row of jobColumns but leaves the spec encoded:
// v.Spec holds only its columns (type, priority, device, memory), all a
// fold, the counts and the queue need; decodeSpec completes it.
func scanJobState(row pgx.Row) (v projections.JobView, spec []byte, err error) {
	var typ, prio, dev, status int16
	var acceptedAt, submittedAt, assignedAt, startedAt, endedAt *time.Time
	var metrics, result []byte
	var attempts, requeues int32
	var subPos, rev, pos int64
	err = row.Scan(&v.ID, &v.Owner, &typ, &prio, &dev, &v.Spec.EstimatedMemory, &status, &v.Deleted, &v.NodeID,
		&v.Accepted, &acceptedAt, &v.Progress, &v.Epoch, &metrics, &attempts, &requeues, &submittedAt, &assignedAt,
		&startedAt, &endedAt, &v.Reason, &result, &v.LastLog, &spec, &subPos, &rev, &pos)
	if err != nil {
		return v, nil, fmt.Errorf("read job: %w", err)
	}
	v.Spec.Type, v.Spec.Priority, v.Spec.RequiredDevice = domain.JobType(typ), domain.Priority(prio), domain.DeviceType(dev)
	if len(metrics) > 0 {
		if err := json.Unmarshal(metrics, &v.Metrics); err != nil {
			return v, nil, fmt.Errorf("job %s: decode metrics: %w", v.ID, err)
		}
	}
	if len(result) > 0 {
		v.Result = new(domain.JobResult)
		if err := json.Unmarshal(result, v.Result); err != nil {
			return v, nil, fmt.Errorf("job %s: decode result: %w", v.ID, err)
		}
	}
	v.Status = domain.JobStatus(status)
	v.Attempts, v.Requeues = int(attempts), int(requeues)
	v.AcceptedAt, v.SubmittedAt, v.AssignedAt = fromTS(acceptedAt), fromTS(submittedAt), fromTS(assignedAt)
	v.StartedAt, v.EndedAt = fromTS(startedAt), fromTS(endedAt)
	v.SubmittedPosition, v.Revision, v.Position = uint64(subPos), uint64(rev), uint64(pos)
	return v, spec, nil
}

// updateJobStates writes what the events after a submission change:
// everything but the submission's columns (id, owner, spec and the
// columns taken from it, submitted_at and _position).
const updateJobStates = `UPDATE jobs SET status = u.status, deleted = u.deleted, node_id = u.node_id,
	accepted = u.accepted, accepted_at = u.accepted_at, progress = u.progress, epoch = u.epoch, metrics = u.metrics,
	attempts = u.attempts, requeues = u.requeues, assigned_at = u.assigned_at, started_at = u.started_at,
	ended_at = u.ended_at, reason = u.reason, result = u.result, last_log = u.last_log, revision = u.revision,
	position = u.position
FROM unnest($1::text[], $2::int2[], $3::bool[], $4::text[], $5::bool[], $6::timestamptz[], $7::float8[], $8::int4[],
	$9::jsonb[], $10::int4[], $11::int4[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::text[],
	$16::jsonb[], $17::text[], $18::int8[], $19::int8[])
	AS u(id, status, deleted, node_id, accepted, accepted_at, progress, epoch, metrics, attempts, requeues,
	assigned_at, started_at, ended_at, reason, result, last_log, revision, position)
WHERE jobs.id = u.id`

// stateArgs returns the arguments of updateJobStates: the columns of
// jobCols it writes.
func (c *jobCols) stateArgs() []any {
	return []any{c.id, c.status, c.deleted, c.node, c.accepted, c.acceptedAt, c.progress, c.epoch, c.metrics,
		c.attempts, c.requeues, c.assignedAt, c.startedAt, c.endedAt, c.reason, c.result, c.lastLog, c.revision,
		c.position}
}

const nodeColumns = `id, owner, name, region, price_per_hour, compute_score, online, banned, reputation, spec,
	registered_at, went_online_at, went_offline_at, online_duration_ns, last_seen, jobs_completed, compute_ms,
	last_metrics, last_metrics_at, revision, position`

const upsertNodes = `INSERT INTO nodes (` + nodeColumns + `)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::bool[], $8::bool[],
	$9::float8[], $10::jsonb[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::int8[],
	$15::timestamptz[], $16::int8[], $17::int8[], $18::jsonb[], $19::timestamptz[], $20::int8[], $21::int8[])
ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, name = EXCLUDED.name, region = EXCLUDED.region,
	price_per_hour = EXCLUDED.price_per_hour, compute_score = EXCLUDED.compute_score, online = EXCLUDED.online,
	banned = EXCLUDED.banned, reputation = EXCLUDED.reputation, spec = EXCLUDED.spec,
	registered_at = EXCLUDED.registered_at, went_online_at = EXCLUDED.went_online_at,
	went_offline_at = EXCLUDED.went_offline_at, online_duration_ns = EXCLUDED.online_duration_ns,
	last_seen = EXCLUDED.last_seen, jobs_completed = EXCLUDED.jobs_completed, compute_ms = EXCLUDED.compute_ms,
	last_metrics = EXCLUDED.last_metrics, last_metrics_at = EXCLUDED.last_metrics_at, revision = EXCLUDED.revision,
	position = EXCLUDED.position`

// nodeCols are node rows as column arrays.
type nodeCols struct {
	id, owner, name, region             []string
	price, score, reputation            []float64
	online, banned                      []bool
	spec, lastMetrics                   [][]byte
	registered, wentOnline, wentOffline []*time.Time
	lastSeen, lastMetricsAt             []*time.Time
	onlineNs, jobsCompleted, computeMs  []int64
	revision, position                  []int64
}

func (c *nodeCols) args() []any {
	return []any{c.id, c.owner, c.name, c.region, c.price, c.score, c.online, c.banned, c.reputation, c.spec,
		c.registered, c.wentOnline, c.wentOffline, c.onlineNs, c.lastSeen, c.jobsCompleted, c.computeMs,
		c.lastMetrics, c.lastMetricsAt, c.revision, c.position}
}

// add appends v's row; withSpec false leaves the spec out (for
// updateNodeStates).
func (c *nodeCols) add(v *projections.NodeView, withSpec bool) error {
	var spec []byte
	var err error
	if withSpec {
		if spec, err = json.Marshal(v.Spec); err != nil {
			return fmt.Errorf("node %s: encode spec: %w", v.ID, err)
		}
	}
	var last []byte
	if v.LastMetrics != nil {
		if last, err = json.Marshal(v.LastMetrics); err != nil {
			return fmt.Errorf("node %s: encode metrics: %w", v.ID, err)
		}
	}
	c.id = append(c.id, text(v.ID))
	c.owner = append(c.owner, text(v.Owner))
	c.name = append(c.name, text(v.Spec.Name))
	c.region = append(c.region, text(v.Spec.Region))
	c.price = append(c.price, v.Spec.Pricing.PricePerHour)
	c.score = append(c.score, v.Spec.ComputeScore)
	c.online = append(c.online, v.Online)
	c.banned = append(c.banned, v.Banned)
	c.reputation = append(c.reputation, v.Reputation)
	c.spec = append(c.spec, jsonText(spec))
	c.registered = append(c.registered, ts(v.RegisteredAt))
	c.wentOnline = append(c.wentOnline, ts(v.WentOnlineAt))
	c.wentOffline = append(c.wentOffline, ts(v.WentOfflineAt))
	c.onlineNs = append(c.onlineNs, int64(v.OnlineDuration))
	c.lastSeen = append(c.lastSeen, ts(v.LastSeen))
	c.jobsCompleted = append(c.jobsCompleted, v.JobsCompleted)
	c.computeMs = append(c.computeMs, v.ComputeMs)
	c.lastMetrics = append(c.lastMetrics, jsonText(last))
	c.lastMetricsAt = append(c.lastMetricsAt, ts(v.LastMetricsAt))
	c.revision = append(c.revision, int64(v.Revision))
	c.position = append(c.position, int64(v.Position))
	return nil
}

// updateNodeStates writes what the events after a registration change:
// everything but the owner and the spec (a node's largest part).
const updateNodeStates = `UPDATE nodes SET online = u.online, banned = u.banned, reputation = u.reputation,
	went_online_at = u.went_online_at, went_offline_at = u.went_offline_at, online_duration_ns = u.online_duration_ns,
	last_seen = u.last_seen, jobs_completed = u.jobs_completed, compute_ms = u.compute_ms,
	last_metrics = u.last_metrics, last_metrics_at = u.last_metrics_at, revision = u.revision, position = u.position
FROM unnest($1::text[], $2::bool[], $3::bool[], $4::float8[], $5::timestamptz[], $6::timestamptz[], $7::int8[],
	$8::timestamptz[], $9::int8[], $10::int8[], $11::jsonb[], $12::timestamptz[], $13::int8[], $14::int8[])
	AS u(id, online, banned, reputation, went_online_at, went_offline_at, online_duration_ns, last_seen,
	jobs_completed, compute_ms, last_metrics, last_metrics_at, revision, position)
WHERE nodes.id = u.id`

// stateArgs returns the arguments of updateNodeStates: the columns of
// nodeCols it writes.
func (c *nodeCols) stateArgs() []any {
	return []any{c.id, c.online, c.banned, c.reputation, c.wentOnline, c.wentOffline, c.onlineNs, c.lastSeen,
		c.jobsCompleted, c.computeMs, c.lastMetrics, c.lastMetricsAt, c.revision, c.position}
}

// scanNode reads a row of nodeColumns; reservations are read apart.
func scanNode(row pgx.Row) (*projections.NodeView, error) {
	v := new(projections.NodeView)
	var name, region string
	var price, score float64
	var spec, last []byte
	var registered, wentOnline, wentOffline, lastSeen, lastMetricsAt *time.Time
	var onlineNs, rev, pos int64
	err := row.Scan(&v.ID, &v.Owner, &name, &region, &price, &score, &v.Online, &v.Banned, &v.Reputation, &spec,
		&registered, &wentOnline, &wentOffline, &onlineNs, &lastSeen, &v.JobsCompleted, &v.ComputeMs, &last,
		&lastMetricsAt, &rev, &pos)
	if err != nil {
		return nil, fmt.Errorf("read node: %w", err)
	}
	if err := json.Unmarshal(spec, &v.Spec); err != nil {
		return nil, fmt.Errorf("node %s: decode spec: %w", v.ID, err)
	}
	if len(last) > 0 {
		v.LastMetrics = new(domain.MetricSample)
		if err := json.Unmarshal(last, v.LastMetrics); err != nil {
			return nil, fmt.Errorf("node %s: decode metrics: %w", v.ID, err)
		}
	}
	v.RegisteredAt, v.WentOnlineAt, v.WentOfflineAt = fromTS(registered), fromTS(wentOnline), fromTS(wentOffline)
	v.LastSeen, v.LastMetricsAt = fromTS(lastSeen), fromTS(lastMetricsAt)
	v.OnlineDuration = time.Duration(onlineNs)
	v.Revision, v.Position = uint64(rev), uint64(pos)
	return v, nil
}

// reservationCols are node_reservations rows.
type reservationCols struct {
	node, job []string
	slot      []int32
	at        []*time.Time
}

func (c *reservationCols) add(v *projections.NodeView) {
	for i, r := range v.Reservations {
		c.node = append(c.node, text(v.ID))
		c.job = append(c.job, text(r.JobID))
		c.slot = append(c.slot, int32(i))
		c.at = append(c.at, ts(r.At))
	}
}

const insertReservations = `INSERT INTO node_reservations (node_id, job_id, slot, reserved_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::timestamptz[])`

// sampleCols are metric_samples rows.
type sampleCols struct {
	position                      []int64
	node                          []string
	at                            []time.Time
	cpu, gpu, mem, network, power []float64
	activeJobs, ram               []int64
}

func (c *sampleCols) add(pos uint64, node string, p projections.MetricPoint) {
	c.position = append(c.position, int64(pos))
	c.node = append(c.node, text(node))
	c.at = append(c.at, norm(p.At))
	c.cpu = append(c.cpu, p.Sample.CPUUsage)
	c.gpu = append(c.gpu, p.Sample.GPUUsage)
	c.mem = append(c.mem, p.Sample.MemoryUsage)
	c.network = append(c.network, p.Sample.NetworkThroughput)
	c.power = append(c.power, p.Sample.PowerConsumption)
	c.activeJobs = append(c.activeJobs, int64(p.Sample.ActiveJobs))
	c.ram = append(c.ram, p.Sample.RAMAvailable)
}

const insertSamples = `INSERT INTO metric_samples (position, node_id, at, cpu_usage, gpu_usage, memory_usage,
	network_throughput, power_consumption, active_jobs, ram_available)
SELECT * FROM unnest($1::int8[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[], $6::float8[],
	$7::float8[], $8::float8[], $9::int8[], $10::int8[])`

func (c *sampleCols) args() []any {
	return []any{c.position, c.node, c.at, c.cpu, c.gpu, c.mem, c.network, c.power, c.activeJobs, c.ram}
}

// activityCols are activity rows.
type activityCols struct {
	position                                 []int64
	at                                       []time.Time
	event, stream, job, node, actor, summary []string
}

func (c *activityCols) add(a projections.Activity) {
	c.position = append(c.position, int64(a.Position))
	c.at = append(c.at, norm(a.At))
	c.event = append(c.event, text(a.Event))
	c.stream = append(c.stream, text(a.Stream))
	c.job = append(c.job, text(a.JobID))
	c.node = append(c.node, text(a.NodeID))
	c.actor = append(c.actor, text(a.Actor))
	c.summary = append(c.summary, text(a.Summary))
}

const insertActivity = `INSERT INTO activity (position, at, event, stream, job_id, node_id, actor, summary)
SELECT * FROM unnest($1::int8[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])`

func (c *activityCols) args() []any {
	return []any{c.position, c.at, c.event, c.stream, c.job, c.node, c.actor, c.summary}
}

// upsertHours adds projections.HourCounts to their hours.
const upsertHours = `INSERT INTO hourly_stats (hour, submitted, completed, failed, cancelled, timed, duration_ms)
SELECT * FROM unnest($1::timestamptz[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
ON CONFLICT (hour) DO UPDATE SET submitted = hourly_stats.submitted + EXCLUDED.submitted,
	completed = hourly_stats.completed + EXCLUDED.completed, failed = hourly_stats.failed + EXCLUDED.failed,
	cancelled = hourly_stats.cancelled + EXCLUDED.cancelled, timed = hourly_stats.timed + EXCLUDED.timed,
	duration_ms = hourly_stats.duration_ms + EXCLUDED.duration_ms`

// upsertCounts adds changes to job_counts. Rows that drop to 0 stay: which
// rows exist depends only on the log (see batchWork.counts), and a sum
// skips them at no cost.
const upsertCounts = `INSERT INTO job_counts (owner, job_type, status, n)
SELECT * FROM unnest($1::text[], $2::int2[], $3::int2[], $4::int8[])
ON CONFLICT (owner, job_type, status) DO UPDATE SET n = job_counts.n + EXCLUDED.n`

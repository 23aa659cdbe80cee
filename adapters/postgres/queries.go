package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// Every value a caller gives reaches PostgreSQL as a bound parameter
// ($1, $2, …); statements are built only from constant fragments.

// where builds a WHERE clause of constant conditions and bound arguments.
type where struct {
	conds []string
	args  []any
}

// add appends cond, whose "?" is the next parameter, bound to arg.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// GetJob implements projections.JobQueries.
func (m *Model) GetJob(ctx context.Context, id string) (projections.JobView, bool, error) {
	if err := m.checkReady(); err != nil {
		return projections.JobView{}, false, err
	}
	v, err := m.specs.scanJob(m.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 AND NOT deleted`, text(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return projections.JobView{}, false, nil
	}
	if err != nil {
		return projections.JobView{}, false, fmt.Errorf("postgres read model: get job: %w", err)
	}
	return v, true, nil
}

// ListJobs implements projections.JobQueries: keyset pagination on the
// submission position, newest first, with the page tokens of
// projections. One statement, so one round trip and one snapshot: each
// row carries the total, summed from job_counts by an uncorrelated
// subquery that PostgreSQL evaluates once.
func (m *Model) ListJobs(ctx context.Context, f projections.JobFilter) ([]projections.JobView, string, int, error) {
	after, err := projections.DecodeJobToken(f)
	if err != nil {
		return nil, "", 0, err
	}
	if err := m.checkReady(); err != nil {
		return nil, "", 0, err
	}
	size := projections.PageSize(f.PageSize)
	var filter where // shared by the page and the count, so by their parameters
	if f.Owner != "" {
		filter.add("owner = ?", text(f.Owner))
	}
	if f.Type != nil {
		filter.add("job_type = ?::int8", int64(*f.Type))
	}
	switch len(f.Statuses) {
	case 0:
	case 1: // "= $n", not "= ANY": the planner then reads jobs_list_status in order
		filter.add("status = ?::int8", int64(f.Statuses[0]))
	default:
		st := make([]int64, len(f.Statuses))
		for i, s := range f.Statuses {
			st[i] = int64(s)
		}
		filter.add("status = ANY(?::int8[])", st)
	}
	countSQL := `SELECT coalesce(sum(n), 0) FROM job_counts` + filter.sql()
	list := where{conds: append([]string{"NOT deleted"}, filter.conds...), args: filter.args}
	if after > 0 {
		list.add("submitted_position < ?::int8", int64(min(after, 1<<63-1)))
	}
	list.args = append(list.args, size+1)
	listSQL := `SELECT (` + countSQL + `), ` + jobColumns + ` FROM jobs` + list.sql() +
		` ORDER BY submitted_position DESC LIMIT $` + strconv.Itoa(len(list.args))

	var jobs []projections.JobView
	var total int64
	rows, err := m.pool.Query(ctx, listSQL, list.args...)
	if err != nil {
		return nil, "", 0, fmt.Errorf("postgres read model: list jobs: %w", err)
	}
	for rows.Next() {
		v, err := m.specs.scanJob(totalRow{rows, &total})
		if err != nil {
			rows.Close()
			return nil, "", 0, fmt.Errorf("postgres read model: list jobs: %w", err)
		}
		jobs = append(jobs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", 0, fmt.Errorf("postgres read model: list jobs: %w", err)
	}
	if len(jobs) == 0 && after > 0 {
		// A cursor past the end: the empty page says nothing of the total.
		if err := m.pool.QueryRow(ctx, countSQL, filter.args...).Scan(&total); err != nil {
			return nil, "", 0, fmt.Errorf("postgres read model: count jobs: %w", err)
		}
	}
	next := ""
	if len(jobs) > size {
		jobs = jobs[:size]
		next = projections.EncodeJobToken(f, jobs[size-1].SubmittedPosition)
	}
	if jobs == nil {
		jobs = []projections.JobView{}
	}
	return jobs, next, int(total), nil
}

// totalRow reads a row whose first column is a total, then the rest.
type totalRow struct {
	pgx.Row
	total *int64
}

func (r totalRow) Scan(dest ...any) error { return r.Row.Scan(append([]any{r.total}, dest...)...) }

// WatchJob implements projections.JobWatcher. Watching a job the model
// does not know yet waits for it; a deleted job's channel is closed.
func (m *Model) WatchJob(jobID string) (<-chan projections.JobUpdate, func()) {
	m.visMu.RLock()
	defer m.visMu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := scanJob(m.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, text(jobID)))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return m.hub.Watch(jobID, nil)
	case err != nil:
		// Updates still arrive; only the current view is missing.
		m.log.Warn("postgres read model: watch without the current view", "job", jobID, "err", err)
		return m.hub.Watch(jobID, nil)
	case v.Deleted:
		c := make(chan projections.JobUpdate)
		close(c)
		return c, func() {}
	}
	return m.hub.Watch(jobID, &v)
}

// GetNode implements projections.NodeQueries.
func (m *Model) GetNode(_ context.Context, id string) (projections.NodeView, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.ready {
		return projections.NodeView{}, false, ErrNotMigrated
	}
	v := m.mir.nodes[id]
	if v == nil {
		return projections.NodeView{}, false, nil
	}
	return v.Clone(), true, nil
}

// ListNodes implements projections.NodeQueries over the mirror, as the
// memory model does (projections.PageNodes).
func (m *Model) ListNodes(_ context.Context, f projections.NodeListFilter) (projections.NodePage, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.ready {
		return projections.NodePage{}, ErrNotMigrated
	}
	return projections.PageNodes(m.mir.order, f, m.opts.MaxJobsPerNode)
}

// FindNodes implements projections.NodeQueries over the mirror, as the
// memory model does (projections.MatchNodes).
func (m *Model) FindNodes(_ context.Context, f projections.NodeFindFilter) (projections.NodeMatches, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.ready {
		return projections.NodeMatches{}, ErrNotMigrated
	}
	return projections.MatchNodes(m.mir.order, f, m.opts.MaxJobsPerNode)
}

// NodeMetrics implements projections.NodeQueries: every sample is kept.
func (m *Model) NodeMetrics(ctx context.Context, id string, from, to time.Time) ([]projections.MetricPoint, error) {
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return nil, fmt.Errorf("%w: the metrics range ends (%s) before it starts (%s)", domain.ErrInvalidArgument, to, from)
	}
	if err := m.checkReady(); err != nil {
		return nil, err
	}
	var w where
	w.add("node_id = ?", text(id))
	if !from.IsZero() {
		// A bound between two microseconds: the column holds whole ones.
		w.add("at >= ?", ceilMicro(from))
	}
	if !to.IsZero() {
		w.add("at <= ?", to.UTC().Truncate(time.Microsecond))
	}
	rows, err := m.pool.Query(ctx, `SELECT at, cpu_usage, gpu_usage, memory_usage, network_throughput,
		power_consumption, active_jobs, ram_available FROM metric_samples`+w.sql()+` ORDER BY at, position`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres read model: node metrics: %w", err)
	}
	defer rows.Close()
	out := []projections.MetricPoint{}
	for rows.Next() {
		var p projections.MetricPoint
		var active int64
		s := &p.Sample
		if err := rows.Scan(&p.At, &s.CPUUsage, &s.GPUUsage, &s.MemoryUsage, &s.NetworkThroughput, &s.PowerConsumption,
			&active, &s.RAMAvailable); err != nil {
			return nil, fmt.Errorf("postgres read model: node metrics: %w", err)
		}
		p.At, s.ActiveJobs = p.At.UTC(), int(active)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres read model: node metrics: %w", err)
	}
	return out, nil
}

// ceilMicro rounds t up to a whole microsecond, in UTC.
func ceilMicro(t time.Time) time.Time {
	c := t.UTC().Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// NetworkStats implements projections.StatsQueries: node counts from the
// mirror, job counts from job_counts, the window from hourly_stats. A
// zero now is the time of the call.
func (m *Model) NetworkStats(ctx context.Context, now time.Time) (projections.NetworkStats, error) {
	from, to := projections.StatsWindow(projections.OrNow(now))
	hours, err := projections.StatsHours(from, to)
	if err != nil {
		return projections.NetworkStats{}, err
	}
	if err := m.checkReady(); err != nil {
		return projections.NetworkStats{}, err
	}
	var s projections.NetworkStats
	m.mu.RLock()
	s.NodesTotal = len(m.mir.nodes)
	for _, v := range m.mir.order {
		if v.Online {
			s.NodesOnline++
		}
	}
	m.mu.RUnlock()
	var hourly []projections.HourStats
	err = pgx.BeginTxFunc(ctx, m.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT status, sum(n) FROM job_counts GROUP BY status`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var status int16
			var n int64
			if err := rows.Scan(&status, &n); err != nil {
				rows.Close()
				return err
			}
			s.JobsTotal += int(n)
			switch domain.JobStatus(status) {
			case domain.JobStatusPending:
				s.JobsPending += int(n)
			case domain.JobStatusAssigned, domain.JobStatusRunning:
				s.JobsRunning += int(n)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		hourly, err = readHours(ctx, tx, hours)
		return err
	})
	if err != nil {
		return projections.NetworkStats{}, fmt.Errorf("postgres read model: network stats: %w", err)
	}
	s.SetHourly(hourly)
	return s, nil
}

// HourlyStats implements projections.StatsQueries.
func (m *Model) HourlyStats(ctx context.Context, from, to time.Time) ([]projections.HourStats, error) {
	hours, err := projections.StatsHours(from, to)
	if err != nil {
		return nil, err
	}
	if err := m.checkReady(); err != nil {
		return nil, err
	}
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres read model: hourly stats: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	out, err := readHours(ctx, tx, hours)
	if err != nil {
		return nil, fmt.Errorf("postgres read model: hourly stats: %w", err)
	}
	return out, nil
}

// readHours returns the stats of hours (StatsHours' answer), empty hours
// included.
func readHours(ctx context.Context, tx pgx.Tx, hours []time.Time) ([]projections.HourStats, error) {
	out := make([]projections.HourStats, len(hours))
	for i, h := range hours {
		out[i] = projections.HourStats{Hour: h}
	}
	if len(hours) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT hour, submitted, completed, failed, cancelled, timed, duration_ms
		FROM hourly_stats WHERE hour >= $1 AND hour <= $2`, hours[0], hours[len(hours)-1])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h time.Time
		var sub, comp, fail, canc, timed, dur int64
		if err := rows.Scan(&h, &sub, &comp, &fail, &canc, &timed, &dur); err != nil {
			return nil, err
		}
		i := int(h.Sub(hours[0]) / time.Hour)
		if i < 0 || i >= len(out) {
			continue
		}
		c := projections.HourCounts{Submitted: int(sub), Completed: int(comp), Failed: int(fail), Cancelled: int(canc),
			Timed: int(timed), DurationMs: dur}
		out[i] = c.Stats(hours[i])
	}
	return out, rows.Err()
}

// RecentActivity implements projections.ActivityQueries; limit is a page
// size (projections.PageSize). The table keeps every line.
func (m *Model) RecentActivity(ctx context.Context, limit int, before uint64) ([]projections.Activity, error) {
	if err := m.checkReady(); err != nil {
		return nil, err
	}
	var w where
	if before > 0 {
		w.add("position < ?::int8", int64(min(before, 1<<63-1)))
	}
	w.args = append(w.args, projections.PageSize(limit))
	rows, err := m.pool.Query(ctx, `SELECT position, at, event, stream, job_id, node_id, actor, summary FROM activity`+
		w.sql()+` ORDER BY position DESC LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres read model: activity: %w", err)
	}
	defer rows.Close()
	out := []projections.Activity{}
	for rows.Next() {
		var a projections.Activity
		var pos int64
		if err := rows.Scan(&pos, &a.At, &a.Event, &a.Stream, &a.JobID, &a.NodeID, &a.Actor, &a.Summary); err != nil {
			return nil, fmt.Errorf("postgres read model: activity: %w", err)
		}
		a.Position, a.At = uint64(pos), a.At.UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres read model: activity: %w", err)
	}
	return out, nil
}

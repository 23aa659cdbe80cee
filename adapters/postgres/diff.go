package postgres

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// table is a read-model table and its key, the canonical order of its rows.
type table struct {
	name string
	keys []keyCol
}

type keyCol struct {
	name    string
	numeric bool // an integer or a timestamptz (compared as ordered text); else text, in byte order
}

// tables lists every table of the read model, the migration bookkeeping
// (goose_db_version: times of applying) aside.
var tables = []table{
	{"checkpoints", []keyCol{{"name", false}}},
	{"jobs", []keyCol{{"id", false}}},
	{"job_counts", []keyCol{{"owner", false}, {"job_type", true}, {"status", true}}},
	{"nodes", []keyCol{{"id", false}}},
	{"node_reservations", []keyCol{{"node_id", false}, {"job_id", false}}},
	{"metric_samples", []keyCol{{"position", true}}},
	{"hourly_stats", []keyCol{{"hour", true}}},
	{"activity", []keyCol{{"position", true}}},
	{"payments", []keyCol{{"job_id", false}}},
}

// MaxDiffs is the most differences Diff lists; it then says how many more
// there were.
const MaxDiffs = 100

// rowCursor streams one table's rows in key order, every column as text
// (PostgreSQL's output format: exact for floats, canonical for jsonb,
// UTC for times).
type rowCursor struct {
	rows  pgx.Rows
	cols  []string
	keyAt []int
	keys  []keyCol
	row   [][]byte // the current row; nil at the end
}

func openCursor(ctx context.Context, m *Model, t table) (*rowCursor, error) {
	order := make([]string, len(t.keys))
	for i, k := range t.keys {
		if k.numeric {
			order[i] = pgx.Identifier{k.name}.Sanitize()
		} else {
			order[i] = pgx.Identifier{k.name}.Sanitize() + ` COLLATE "C"`
		}
	}
	rows, err := m.pool.Query(ctx, `SELECT * FROM `+pgx.Identifier{t.name}.Sanitize()+` ORDER BY `+strings.Join(order, ", "),
		pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.name, err)
	}
	c := &rowCursor{rows: rows, keys: t.keys}
	for _, f := range rows.FieldDescriptions() {
		c.cols = append(c.cols, f.Name)
	}
	for _, k := range t.keys {
		i := -1
		for j, name := range c.cols {
			if name == k.name {
				i = j
			}
		}
		if i < 0 {
			rows.Close()
			return nil, fmt.Errorf("read %s: no key column %s", t.name, k.name)
		}
		c.keyAt = append(c.keyAt, i)
	}
	return c, c.next()
}

// next moves to the next row; c.row is nil after the last.
func (c *rowCursor) next() error {
	if !c.rows.Next() {
		c.row = nil
		c.rows.Close()
		return c.rows.Err()
	}
	raw := c.rows.RawValues()
	c.row = make([][]byte, len(raw))
	for i, v := range raw {
		if v != nil {
			c.row[i] = bytes.Clone(v)
		}
	}
	return nil
}

func (c *rowCursor) close() { c.rows.Close() }

// key renders the current row's key, for messages.
func (c *rowCursor) key() string {
	parts := make([]string, len(c.keys))
	for i, k := range c.keys {
		parts[i] = k.name + "=" + strconv.Quote(string(c.row[c.keyAt[i]]))
	}
	return strings.Join(parts, " ")
}

// compareKeys orders the current rows of a and b by key.
func compareKeys(a, b *rowCursor) int {
	for i, k := range a.keys {
		x, y := a.row[a.keyAt[i]], b.row[b.keyAt[i]]
		var c int
		if k.numeric {
			c = compareNumericText(x, y)
		} else {
			c = bytes.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// compareNumericText orders integers and ISO timestamps (both in UTC) as
// PostgreSQL does: by length-aware value for integers, as text for times.
func compareNumericText(x, y []byte) int {
	xi, errX := strconv.ParseInt(string(x), 10, 64)
	yi, errY := strconv.ParseInt(string(y), 10, 64)
	if errX == nil && errY == nil {
		switch {
		case xi < yi:
			return -1
		case xi > yi:
			return 1
		}
		return 0
	}
	return bytes.Compare(x, y)
}

func show(v []byte) string {
	if v == nil {
		return "NULL"
	}
	s := string(v)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Diff compares every row of every table of two read models (in two
// schemas or databases) and returns the differences, readably: a row only
// one of them has, or a column whose values differ. No difference means
// the two models hold the same views, counters, samples, activity,
// payments and checkpoint. It lists at most MaxDiffs differences, then a
// line counting the rest. `replay --verify` and the crash tests use it.
func Diff(ctx context.Context, a, b *Model) ([]string, error) {
	var out []string
	more := 0
	report := func(format string, args ...any) {
		if len(out) < MaxDiffs {
			out = append(out, fmt.Sprintf(format, args...))
		} else {
			more++
		}
	}
	for _, t := range tables {
		if err := diffTable(ctx, a, b, t, report); err != nil {
			return out, err
		}
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("… and %d more differences", more))
	}
	return out, nil
}

func diffTable(ctx context.Context, a, b *Model, t table, report func(string, ...any)) error {
	ca, err := openCursor(ctx, a, t)
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	defer ca.close()
	cb, err := openCursor(ctx, b, t)
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	defer cb.close()
	if strings.Join(ca.cols, ",") != strings.Join(cb.cols, ",") {
		report("%s: columns differ: (%s) vs (%s)", t.name, strings.Join(ca.cols, ", "), strings.Join(cb.cols, ", "))
		return nil
	}
	for ca.row != nil || cb.row != nil {
		c := 0
		switch {
		case ca.row == nil:
			c = 1
		case cb.row == nil:
			c = -1
		default:
			c = compareKeys(ca, cb)
		}
		switch {
		case c < 0:
			report("%s[%s]: only in the first model", t.name, ca.key())
			err = ca.next()
		case c > 0:
			report("%s[%s]: only in the second model", t.name, cb.key())
			err = cb.next()
		default:
			for i, col := range ca.cols {
				x, y := ca.row[i], cb.row[i]
				if !bytes.Equal(x, y) || (x == nil) != (y == nil) {
					report("%s[%s]: %s = %s, %s", t.name, ca.key(), col, show(x), show(y))
				}
			}
			if err = ca.next(); err == nil {
				err = cb.next()
			}
		}
		if err != nil {
			return fmt.Errorf("diff %s: %w", t.name, err)
		}
	}
	return nil
}

// Dump writes every row of every table in the canonical order of Diff,
// one line a row: the table, then each column as name=value (text, NULL
// for null). Two models are equal when their dumps are.
func Dump(ctx context.Context, m *Model, w io.Writer) error {
	for _, t := range tables {
		c, err := openCursor(ctx, m, t)
		if err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		for c.row != nil {
			var line strings.Builder
			line.WriteString(t.name)
			for i, col := range c.cols {
				line.WriteString(" " + col + "=")
				if c.row[i] == nil {
					line.WriteString("NULL")
				} else {
					line.WriteString(strconv.Quote(string(c.row[i])))
				}
			}
			line.WriteByte('\n')
			if _, err := io.WriteString(w, line.String()); err != nil {
				c.close()
				return err
			}
			if err := c.next(); err != nil {
				return fmt.Errorf("dump %s: %w", t.name, err)
			}
		}
	}
	return nil
}

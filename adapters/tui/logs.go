package tui

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogLine is one log record.
type LogLine struct {
	Seq   uint64
	Time  time.Time
	Level slog.Level
	Text  string // message and attributes, key=value
}

// LogBuffer keeps the newest log lines in memory for the Logs view. It is
// safe for concurrent use, and adding a line never blocks on the console.
type LogBuffer struct {
	mu      sync.Mutex
	lines   []LogLine // ring
	start   int
	seq     uint64
	changes chan struct{}
}

// DefaultLogLines is the capacity of NewLogBuffer(0).
const DefaultLogLines = 5000

// NewLogBuffer keeps up to capacity lines (DefaultLogLines when < 1).
func NewLogBuffer(capacity int) *LogBuffer {
	if capacity < 1 {
		capacity = DefaultLogLines
	}
	return &LogBuffer{lines: make([]LogLine, 0, capacity), changes: make(chan struct{}, 1)}
}

// Add appends a line, dropping the oldest when full.
func (b *LogBuffer) Add(at time.Time, level slog.Level, text string) {
	b.mu.Lock()
	b.seq++
	l := LogLine{Seq: b.seq, Time: at, Level: level, Text: text}
	if len(b.lines) < cap(b.lines) {
		b.lines = append(b.lines, l)
	} else {
		b.lines[b.start] = l
		if b.start++; b.start == len(b.lines) {
			b.start = 0
		}
	}
	b.mu.Unlock()
	select {
	case b.changes <- struct{}{}:
	default:
	}
}

// Changes receives a value after lines were added (one pending value
// stands for any number of lines).
func (b *LogBuffer) Changes() <-chan struct{} { return b.changes }

// Lines returns up to limit of the newest lines at or above min, oldest
// first (limit < 1: all of them).
func (b *LogBuffer) Lines(min slog.Level, limit int) []LogLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []LogLine
	n := len(b.lines)
	for i := n - 1; i >= 0; i-- {
		l := b.lines[(b.start+i)%n]
		if l.Level < min {
			continue
		}
		out = append(out, l)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Len returns how many lines the buffer holds.
func (b *LogBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

// Handler returns a slog.Handler that adds records at or above level to
// the buffer, formatted as slog's text handler does (without time and
// level, which the view shows in its own columns).
func (b *LogBuffer) Handler(level slog.Leveler) slog.Handler {
	return &bufferHandler{buf: b, level: level}
}

type handlerOp struct {
	group string
	attrs []slog.Attr
}

type bufferHandler struct {
	buf   *LogBuffer
	level slog.Leveler
	ops   []handlerOp
}

func (h *bufferHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *bufferHandler) Handle(ctx context.Context, r slog.Record) error {
	var out bytes.Buffer
	var th slog.Handler = slog.NewTextHandler(&out, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	for _, op := range h.ops {
		if op.group != "" {
			th = th.WithGroup(op.group)
		} else {
			th = th.WithAttrs(op.attrs)
		}
	}
	if err := th.Handle(ctx, r); err != nil {
		return err
	}
	text := strings.TrimSuffix(out.String(), "\n")
	text = strings.TrimPrefix(text, "msg=")
	at := r.Time
	if at.IsZero() {
		at = time.Now()
	}
	h.buf.Add(at, r.Level, text)
	return nil
}

func (h *bufferHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.ops = append(append([]handlerOp(nil), h.ops...), handlerOp{attrs: attrs})
	return &c
}

func (h *bufferHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.ops = append(append([]handlerOp(nil), h.ops...), handlerOp{group: name})
	return &c
}

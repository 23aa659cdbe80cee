// Package logbuf keeps the server's newest log lines in memory: a slog
// handler writes them, the console's Logs view and the REST API's
// /api/logs read them.
package logbuf

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Line is one log record.
type Line struct {
	Seq   uint64
	Time  time.Time
	Level slog.Level
	Text  string // message and attributes, key=value
}

// Buffer keeps the newest log lines in memory. It is safe for concurrent
// use, and adding a line never blocks on a reader.
type Buffer struct {
	id      string
	mu      sync.Mutex
	lines   []Line // ring
	start   int
	seq     uint64
	changes chan struct{}
}

// DefaultLines is the capacity of New(0).
const DefaultLines = 5000

// New keeps up to capacity lines (DefaultLines when < 1).
func New(capacity int) *Buffer {
	if capacity < 1 {
		capacity = DefaultLines
	}
	return &Buffer{id: rand.Text(), lines: make([]Line, 0, capacity), changes: make(chan struct{}, 1)}
}

// ID names this buffer (random, made by New): the Seqs of its lines are
// its own, so a reader that finds another ID (the server restarted)
// starts again from 0.
func (b *Buffer) ID() string { return b.id }

// Add appends a line, dropping the oldest when full.
func (b *Buffer) Add(at time.Time, level slog.Level, text string) {
	b.mu.Lock()
	b.seq++
	l := Line{Seq: b.seq, Time: at, Level: level, Text: text}
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
func (b *Buffer) Changes() <-chan struct{} { return b.changes }

// Lines returns up to limit of the newest lines at or above min, oldest
// first (limit < 1: all of them).
func (b *Buffer) Lines(min slog.Level, limit int) []Line {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Line
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

// Since returns up to limit of the oldest lines at or above min whose
// Seq is greater than after, oldest first (limit < 1: all of them): a
// reader that passes the last Seq it saw gets each line once.
func (b *Buffer) Since(min slog.Level, after uint64, limit int) []Line {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Line
	n := len(b.lines)
	for i := range n {
		l := b.lines[(b.start+i)%n]
		if l.Seq <= after || l.Level < min {
			continue
		}
		out = append(out, l)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// Seq returns the Seq of the newest line ever added (0: none yet); a
// line added later has a greater one.
func (b *Buffer) Seq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// Len returns how many lines the buffer holds.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

// Handler returns a slog.Handler that adds records at or above level to
// the buffer, formatted as slog's text handler does (without time and
// level, which the view shows in its own columns).
func (b *Buffer) Handler(level slog.Leveler) slog.Handler {
	return &bufferHandler{buf: b, level: level}
}

type handlerOp struct {
	group string
	attrs []slog.Attr
}

type bufferHandler struct {
	buf   *Buffer
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

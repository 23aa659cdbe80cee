package logbuf

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLogBuffer(t *testing.T) {
	b := New(3)
	log := slog.New(b.Handler(slog.LevelInfo)).With("component", "grpc").WithGroup("req")
	log.Debug("hidden")
	log.Info("one", "n", 1)
	log.Warn("two")
	log.Error("three", "err", "boom")
	log.Info("four")
	select {
	case <-b.Changes():
	default:
		t.Fatal("adding lines did not signal a change")
	}
	all := b.Lines(slog.LevelDebug, 0)
	if len(all) != 3 || all[0].Text != "two component=grpc" || all[2].Text != "four component=grpc" {
		t.Fatalf("lines %+v: want the newest 3, oldest first", all)
	}
	if got := b.Lines(slog.LevelError, 0); len(got) != 1 || got[0].Text != "three component=grpc req.err=boom" {
		t.Fatalf("errors %+v", got)
	}
	if got := b.Lines(slog.LevelDebug, 1); len(got) != 1 || !strings.HasPrefix(got[0].Text, "four") {
		t.Fatalf("limit 1: %+v, want the newest", got)
	}
	if !b.Handler(slog.LevelWarn).Enabled(context.Background(), slog.LevelWarn) || b.Handler(slog.LevelWarn).Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled ignores the level")
	}
	if b.Len() != 3 || b.Seq() != 4 {
		t.Errorf("Len %d, Seq %d; want 3 and 4", b.Len(), b.Seq())
	}
}

func seqs(lines []Line) []uint64 {
	out := []uint64{}
	for _, l := range lines {
		out = append(out, l.Seq)
	}
	return out
}

// TestSince: a reader that passes the last Seq it saw gets each line
// once, oldest first, at or above its level, a page at a time, also
// after the ring wrapped around.
func TestSince(t *testing.T) {
	b := New(4)
	if got := b.Since(slog.LevelDebug, 0, 0); len(got) != 0 || b.Seq() != 0 {
		t.Fatalf("empty buffer: %+v, seq %d", got, b.Seq())
	}
	at := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	levels := []slog.Level{slog.LevelInfo, slog.LevelDebug, slog.LevelWarn, slog.LevelError, slog.LevelInfo, slog.LevelDebug}
	for i, l := range levels { // seq 1..6; the ring keeps 3..6
		b.Add(at.Add(time.Duration(i)*time.Second), l, "line")
	}
	for _, c := range []struct {
		min   slog.Level
		after uint64
		limit int
		want  []uint64
	}{
		{slog.LevelDebug, 0, 0, []uint64{3, 4, 5, 6}}, // 1 and 2 were dropped
		{slog.LevelDebug, 4, 0, []uint64{5, 6}},
		{slog.LevelDebug, 0, 2, []uint64{3, 4}}, // the oldest first: a poller pages forward
		{slog.LevelDebug, 4, 1, []uint64{5}},
		{slog.LevelInfo, 0, 0, []uint64{3, 4, 5}},
		{slog.LevelWarn, 3, 0, []uint64{4}},
		{slog.LevelError, 4, 0, []uint64{}},
		{slog.LevelDebug, 6, 0, []uint64{}},
		{slog.LevelDebug, 99, 0, []uint64{}},
	} {
		if got := seqs(b.Since(c.min, c.after, c.limit)); !slices.Equal(got, c.want) {
			t.Errorf("Since(%s, %d, %d) = %v, want %v", c.min, c.after, c.limit, got, c.want)
		}
	}
	// Polling: each line once.
	var seen []uint64
	after := uint64(0)
	for range 10 {
		page := b.Since(slog.LevelDebug, after, 3)
		if len(page) == 0 {
			break
		}
		seen = append(seen, seqs(page)...)
		after = page[len(page)-1].Seq
	}
	b.Add(at, slog.LevelInfo, "seven")
	seen = append(seen, seqs(b.Since(slog.LevelDebug, after, 3))...)
	if !slices.Equal(seen, []uint64{3, 4, 5, 6, 7}) {
		t.Errorf("polled %v, want each line once", seen)
	}
	if l := b.Since(slog.LevelDebug, 6, 0); len(l) != 1 || l[0].Text != "seven" || !l[0].Time.Equal(at) || l[0].Level != slog.LevelInfo {
		t.Errorf("line 7: %+v", l)
	}
	if b.Seq() != 7 {
		t.Errorf("Seq %d, want 7", b.Seq())
	}
	if id := b.ID(); len(id) < 16 || id == New(1).ID() {
		t.Errorf("ID %q: want a random name per buffer", id)
	}
}

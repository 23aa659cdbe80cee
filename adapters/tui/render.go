package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// blocks are the eight heights of a bar, lowest first.
var blocks = []rune("▁▂▃▄▅▆▇█")

// Bars draws values as one row of block characters, width cells wide
// (values are merged, summed, when there are more than cells), scaled so
// that top is a full block. Zero is drawn as '·' so that an empty minute is
// visibly empty, not missing.
func Bars(values []int, width, top int) string {
	vals := resample(values, width)
	if top <= 0 {
		for _, v := range vals {
			top = max(top, v)
		}
	}
	var b strings.Builder
	for _, v := range vals {
		b.WriteRune(block(float64(v), float64(top)))
	}
	return b.String()
}

// resample sums values into at most width buckets (keeping their order).
func resample(values []int, width int) []int {
	if width <= 0 {
		return nil
	}
	if len(values) <= width {
		return values
	}
	out := make([]int, width)
	for i, v := range values {
		out[i*width/len(values)] += v
	}
	return out
}

func block(v, top float64) rune {
	if v <= 0 || top <= 0 {
		return '·'
	}
	i := int(math.Ceil(v/top*float64(len(blocks)))) - 1
	return blocks[min(max(i, 0), len(blocks)-1)]
}

// Sparkline draws the newest width samples of values (0..top) as block
// characters.
func Sparkline(values []float64, width int, top float64) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	var b strings.Builder
	for _, v := range values {
		if v <= 0 {
			b.WriteRune('▁')
			continue
		}
		b.WriteRune(block(v, top))
	}
	return b.String()
}

// shortID is the first 8 characters of an id, enough to tell ids apart on
// screen (the details show it whole).
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// duration renders an uptime as "3h 42m", "2d 4h", "12s".
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// ago renders the time since t, "" for a zero t.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return duration(d) + " ago"
}

// clock renders t as a UTC time of day, "" for a zero t.
func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("15:04:05")
}

// stamp renders t as a UTC date and time, "" for a zero t.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// emptyTable replaces a table's rows, header included, with a message
// saying what is missing (a header over nothing would size its first
// column to the message).
func emptyTable(t *tview.Table, msg string) {
	t.Clear()
	t.SetCell(0, 0, tview.NewTableCell(msg).SetSelectable(false).SetTextColor(tcell.ColorYellow))
}

// shortStamp renders t as month-day and time, UTC.
func shortStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("01-02 15:04:05")
}

// statusColor is the tview color of a job, node or component state.
func statusColor(s string) string {
	switch s {
	case "ok", "healthy", "completed", "online", "released", "live":
		return "green"
	case "running", "assigned", "in_progress", "memory", "funded", "release_submitted", "refund_submitted":
		return "aqua"
	case "pending", "degraded", "skipped", "disabled", "refunded", "offline":
		return "yellow"
	case "failed", "down", "unhealthy", "cancelled", "banned":
		return "red"
	}
	return "white"
}

// colored wraps s (escaped) in its status color.
func colored(s string) string {
	return "[" + statusColor(s) + "]" + tview.Escape(s) + "[-]"
}

// pct renders a usage sample: fractions (≤ 1) as percentages.
func pct(v float64) string {
	if v <= 1 {
		v *= 100
	}
	return fmt.Sprintf("%3.0f%%", v)
}

// gib renders bytes in GiB.
func gib(b int64) string {
	return fmt.Sprintf("%.0f GiB", float64(b)/(1<<30))
}

// DeviceLabel renders a device as the node lists show it:
// "cuda RTX 4090 24 GiB", "cpu 32 GiB".
func DeviceLabel(typ, name, gpuModel string, vram, memory int64) string {
	parts := []string{typ}
	if gpuModel != "" {
		parts = append(parts, gpuModel)
	} else if name != "" {
		parts = append(parts, name)
	}
	switch {
	case vram > 0:
		parts = append(parts, gib(vram))
	case memory > 0:
		parts = append(parts, gib(memory))
	}
	return strings.Join(parts, " ")
}

// Overall is the server's state from its components, as /api/health
// computes it: unhealthy when the event store or the database is down,
// degraded when anything else is down or degraded.
func Overall(comps []Component) string {
	status := "healthy"
	for _, c := range comps {
		switch c.Status {
		case "down":
			if c.Name == "eventstore" || c.Name == "database" {
				return "unhealthy"
			}
			status = "degraded"
		case "degraded":
			status = "degraded"
		}
	}
	return status
}

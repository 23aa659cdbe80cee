package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// Throughput is the jobs submitted, completed and failed per minute over
// the last hour, oldest minute first (index 59 is the current minute).
type Throughput struct {
	Submitted, Completed, Failed [60]int
	// Partial is set when the hour held more activity than was read: the
	// oldest minutes then count less than happened.
	Partial bool
}

// Totals returns the sums over the hour.
func (t *Throughput) Totals() (submitted, completed, failed int) {
	for i := range 60 {
		submitted += t.Submitted[i]
		completed += t.Completed[i]
		failed += t.Failed[i]
	}
	return
}

// Count adds the activity line a to the minute it happened in, when that
// is within the hour before now; it reports whether a is older.
func (t *Throughput) Count(a Activity, now time.Time) (older bool) {
	age := now.Sub(a.At)
	if age < 0 {
		age = 0
	}
	idx := int(age / time.Minute)
	if idx >= 60 {
		return true
	}
	i := 59 - idx
	switch a.Event {
	case "JobSubmitted":
		t.Submitted[i]++
	case "JobCompleted":
		t.Completed[i]++
	case "JobFailed":
		t.Failed[i]++
	}
	return false
}

// Bounds of the activity read for the throughput chart.
const (
	throughputPage  = 1000 // lines per page when catching up
	throughputPages = 5    // pages per refresh at most
)

// HourLog keeps the activity of the last hour that the throughput chart
// counts, and reads only what is new on each refresh: the newest lines
// down to the last one it has already seen. It is not safe for concurrent
// use (the console's refresher owns it).
type HourLog struct {
	seen    uint64     // newest position read
	lines   []Activity // counted lines within the hour, newest first
	partial time.Time  // until then, the chart misses lines it could not read
}

// Update reads the new activity and returns the throughput at now and
// the newest keep lines of the activity log (every kind of line).
func (h *HourLog) Update(ctx context.Context, src Source, now time.Time, keep int) (Throughput, []Activity, error) {
	var fresh, recent []Activity
	cursor, limit, done := "", max(keep, 1), false
	for page := 0; !done; page++ {
		if page == throughputPages {
			h.partial = now.Add(time.Hour) // the unread lines age out of the chart within the hour
			break
		}
		acts, next, err := src.Activity(ctx, limit, cursor)
		if err != nil {
			return Throughput{}, nil, err
		}
		if page == 0 && len(acts) > 0 && acts[0].Position < h.seen {
			// The log is shorter than what was seen: another server (a
			// fresh data dir) answers now. Start again.
			h.seen, h.lines = 0, nil
		}
		if len(recent) < keep {
			recent = append(recent, acts[:min(len(acts), keep-len(recent))]...)
		}
		for _, a := range acts {
			if a.Position <= h.seen || now.Sub(a.At) >= time.Hour {
				done = true
				break
			}
			switch a.Event {
			case "JobSubmitted", "JobCompleted", "JobFailed":
				fresh = append(fresh, a)
			}
		}
		if next == "" || len(acts) == 0 {
			break
		}
		cursor, limit = next, throughputPage
	}
	if len(recent) > 0 {
		h.seen = max(h.seen, recent[0].Position)
	}
	h.lines = append(fresh, h.lines...)
	for len(h.lines) > 0 && now.Sub(h.lines[len(h.lines)-1].At) >= time.Hour {
		h.lines = h.lines[:len(h.lines)-1]
	}
	var t Throughput
	for _, a := range h.lines {
		t.Count(a, now)
	}
	t.Partial = now.Before(h.partial)
	return t, recent, nil
}

type dashboard struct {
	c        *Console
	hour     HourLog // the refresher's
	root     *tview.Flex
	stats    *tview.TextView
	health   *tview.TextView
	chart    *chart
	nodes    *tview.Table
	activity *tview.TextView
}

func newDashboard(c *Console) *dashboard {
	d := &dashboard{c: c}
	box := func(tv *tview.TextView, title string) *tview.TextView {
		tv.SetDynamicColors(true).SetWrap(false).SetBorder(true).SetTitle(title).SetTitleAlign(tview.AlignLeft)
		return tv
	}
	d.stats = box(tview.NewTextView(), " NETWORK STATS ")
	d.health = box(tview.NewTextView(), " SYSTEM HEALTH ")
	d.activity = box(tview.NewTextView(), " RECENT ACTIVITY ")
	d.chart = &chart{Box: tview.NewBox()}
	d.chart.SetBorder(true).SetTitle(" JOB THROUGHPUT (last hour, per minute) ").SetTitleAlign(tview.AlignLeft)
	d.nodes = tview.NewTable().SetFixed(1, 0).SetSelectable(true, false)
	d.nodes.SetBorder(true).SetTitle(" TOP NODES BY REPUTATION ").SetTitleAlign(tview.AlignLeft)
	d.nodes.SetSelectedFunc(func(row, _ int) {
		if ref := d.nodes.GetCell(row, 0).GetReference(); ref != nil {
			c.show(ViewNodes)
			c.views[ViewNodes].(*nodesView).open(ref.(string))
		}
	})
	top := tview.NewFlex().AddItem(d.stats, 0, 1, false).AddItem(d.health, 0, 1, false)
	bottom := tview.NewFlex().AddItem(d.nodes, 0, 1, true).AddItem(d.activity, 0, 1, false)
	d.root = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(top, 7, 0, false).
		AddItem(d.chart, 6, 0, false).
		AddItem(bottom, 0, 1, true)
	d.stats.SetText("loading…")
	return d
}

func (d *dashboard) title() string                          { return "Dashboard" }
func (d *dashboard) primitive() tview.Primitive             { return d.root }
func (d *dashboard) focus() tview.Primitive                 { return d.nodes }
func (d *dashboard) keys() string                           { return "" }
func (d *dashboard) key(ev *tcell.EventKey) *tcell.EventKey { return ev }
func (d *dashboard) back() bool                             { return false }
func (d *dashboard) filter() bool                           { return false }

func (d *dashboard) fetch(ctx context.Context, now time.Time) func() {
	st, serr := d.c.src.Stats(ctx)
	h, herr := d.c.src.Health(ctx)
	nodes, nerr := d.c.src.Nodes(ctx, 8)
	tp, recent, aerr := d.hour.Update(ctx, d.c.src, now, 40)
	err := errors.Join(serr, herr, nerr, aerr)
	return func() {
		d.c.fail(err)
		if serr == nil {
			d.showStats(st)
		}
		if herr == nil {
			d.showHealth(h)
		}
		if aerr == nil {
			d.chart.data = &tp
			d.showActivity(recent)
		}
		if nerr == nil {
			d.showNodes(nodes)
		}
	}
}

func (d *dashboard) showStats(st Stats) {
	d.stats.SetText(fmt.Sprintf(
		"Active Nodes:    [::b]%d[::-] of %d\nPending Jobs:    [::b]%d[::-]\nRunning Jobs:    [::b]%d[::-]\nCompleted (24h): [::b]%d[::-]\nFailed (24h):    [::b]%d[::-]",
		st.NodesOnline, st.NodesTotal, st.JobsPending, st.JobsRunning, st.JobsCompleted24h, st.JobsFailed24h))
}

// healthOrder lists the components in the seed's order; others follow.
var healthOrder = []struct{ key, label string }{
	{"eventstore", "Event store"}, {"database", "Database"}, {"redis", "Redis"}, {"solana", "Solana"},
}

func (d *dashboard) showHealth(h Health) {
	var b strings.Builder
	seen := map[string]bool{}
	line := func(label string, c Component) {
		fmt.Fprintf(&b, "%-12s [%s]%s[-]", label+":", statusColor(c.Status), tview.Escape(strings.ToUpper(c.Status)))
		if c.Detail != "" {
			fmt.Fprintf(&b, " %s", tview.Escape(c.Detail))
		}
		b.WriteByte('\n')
	}
	for _, o := range healthOrder {
		for _, c := range h.Components {
			if c.Name == o.key {
				line(o.label, c)
				seen[c.Name] = true
			}
		}
	}
	for _, c := range h.Components {
		if !seen[c.Name] {
			line(c.Name, c)
		}
	}
	fmt.Fprintf(&b, "%-12s %s", "Uptime:", duration(h.Uptime))
	d.health.SetText(b.String())
	d.health.SetTitle(fmt.Sprintf(" SYSTEM HEALTH: %s ", strings.ToUpper(h.Status)))
}

func (d *dashboard) showNodes(p NodePage) {
	t := d.nodes
	t.Clear()
	for i, h := range []string{"Node", "Jobs", "Rep.", "Status"} {
		t.SetCell(0, i, tview.NewTableCell(h).SetSelectable(false).SetAttributes(tcell.AttrBold).SetExpansion(btoi(i == 0)))
	}
	if len(p.Nodes) == 0 {
		emptyTable(t, "no nodes yet — register one with cyxwiz-node-sim")
		return
	}
	for i, n := range p.Nodes {
		r := i + 1
		t.SetCell(r, 0, tview.NewTableCell(tview.Escape(n.Name)).SetReference(n.ID))
		t.SetCell(r, 1, tview.NewTableCell(fmt.Sprint(n.JobsCompleted)).SetAlign(tview.AlignRight))
		t.SetCell(r, 2, tview.NewTableCell(fmt.Sprintf("%.2f", n.Reputation)).SetAlign(tview.AlignRight))
		st := nodeState(n)
		t.SetCell(r, 3, tview.NewTableCell(st).SetTextColor(tcellColor(st)))
	}
	if r, _ := t.GetSelection(); r < 1 || r > len(p.Nodes) {
		t.Select(1, 0)
	}
}

func (d *dashboard) showActivity(acts []Activity) {
	if len(acts) == 0 {
		d.activity.SetText("no activity yet — submit a job (JobService.SubmitJob)")
		return
	}
	var b strings.Builder
	for _, a := range acts {
		subject := a.JobID
		kind := "job"
		if subject == "" {
			subject, kind = a.NodeID, "node"
		}
		fmt.Fprintf(&b, "[gray]%s[-] %s %s %s\n", clock(a.At), tview.Escape(a.Event), kind, shortID(subject))
	}
	d.activity.SetText(strings.TrimSuffix(b.String(), "\n"))
}

func nodeState(n Node) string {
	switch {
	case n.Banned:
		return "banned"
	case n.Online:
		return "online"
	}
	return "offline"
}

func tcellColor(state string) tcell.Color {
	return tcell.GetColor(statusColor(state))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// chart draws the throughput bars at whatever width it gets.
type chart struct {
	*tview.Box
	data *Throughput
}

// Draw draws the box, then the bars at the width it has.
func (ch *chart) Draw(screen tcell.Screen) {
	t := ch.data
	top := 0
	title := " JOB THROUGHPUT (last hour, per minute) "
	if t != nil {
		for i := range 60 {
			top = max(top, t.Submitted[i], t.Completed[i], t.Failed[i])
		}
		switch {
		case t.Partial:
			title = " JOB THROUGHPUT (last hour, per minute; older minutes partial: busy hour) "
		case top > 0:
			title = fmt.Sprintf(" JOB THROUGHPUT (last hour, per minute; █ = %d) ", top)
		}
	}
	ch.SetTitle(title)
	ch.Box.DrawForSubclass(screen, ch)
	x, y, w, h := ch.GetInnerRect()
	if w <= 0 || h <= 0 {
		return
	}
	if t == nil {
		tview.Print(screen, "loading…", x, y, w, tview.AlignLeft, tcell.ColorGray)
		return
	}
	const label, total = 10, 6
	bw := w - label - total
	rows := []struct {
		name  string
		color string
		vals  [60]int
	}{{"Submitted", "aqua", t.Submitted}, {"Completed", "green", t.Completed}, {"Failed", "red", t.Failed}}
	for i, r := range rows {
		if i >= h {
			return
		}
		sum := 0
		for _, v := range r.vals {
			sum += v
		}
		line := fmt.Sprintf("%-*s[%s]%s[-]%*d", label, r.name, r.color, stretch(Bars(r.vals[:], max(bw, 0), top), bw/60), total, sum)
		tview.Print(screen, line, x, y+i, w, tview.AlignLeft, tcell.ColorWhite)
	}
	if h > 3 && bw > 12 {
		span := min(bw, 60*max(1, bw/60))
		axis := fmt.Sprintf("%-*s%s%*s", label, "", "-60m", span-4, "now")
		tview.Print(screen, "[gray]"+axis+"[-]", x, y+3, w, tview.AlignLeft, tcell.ColorGray)
	}
}

// stretch repeats each cell of a bar row k times (k ≤ 1: as is), so that
// the hour fills a wide terminal.
func stretch(bars string, k int) string {
	if k <= 1 {
		return bars
	}
	var b strings.Builder
	for _, r := range bars {
		b.WriteString(strings.Repeat(string(r), k))
	}
	return b.String()
}

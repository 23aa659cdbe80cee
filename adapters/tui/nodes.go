package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// nodeListLimit is how many nodes the Nodes view reads.
const nodeListLimit = 500

// metricWindow is how far back the node details read load samples.
const metricWindow = time.Hour

type nodesView struct {
	*listPane
	detail *nodeDetail

	// UI goroutine only.
	page   NodePage
	loaded bool
}

func newNodesView(c *Console) *nodesView {
	v := &nodesView{detail: &nodeDetail{TextView: tview.NewTextView().SetDynamicColors(true).SetWrap(false)}}
	v.listPane = newListPane(c, " NODES ", v.detail, " NODE ", v.render, func(id string) {
		v.detail.SetText("loading " + id + "…")
		v.detail.metrics = nil
	})
	return v
}

func (v *nodesView) title() string                          { return "Nodes" }
func (v *nodesView) primitive() tview.Primitive             { return v.root }
func (v *nodesView) keys() string                           { return "[/] Filter" }
func (v *nodesView) key(ev *tcell.EventKey) *tcell.EventKey { return ev }

func (v *nodesView) fetch(ctx context.Context, now time.Time) func() {
	if id := v.openID(); id != "" {
		n, points, err := v.c.src.Node(ctx, id, now.Add(-metricWindow))
		return func() {
			v.c.fail(err)
			if v.openID() != id {
				return
			}
			if err != nil {
				showError(v.detail.TextView, err)
				return
			}
			v.showDetail(n, points, now)
		}
	}
	page, err := v.c.src.Nodes(ctx, nodeListLimit)
	return func() {
		v.c.fail(err)
		if err == nil {
			v.page, v.loaded = page, true
			v.render()
		}
	}
}

func (n *Node) matches(text string) bool {
	return matchesAny(text, append([]string{n.ID, n.Name, n.Owner, n.Region, nodeState(*n)}, n.Devices...)...)
}

// load renders a node's latest sample, "" before the first.
func load(p *MetricPoint) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("cpu %s gpu %s", pct(p.CPU), pct(p.GPU))
}

func (v *nodesView) render() {
	t := v.table
	selected := v.clearTable("NAME", "ID", "STATUS", "DEVICES", "LOAD", "JOBS", "DONE", "REP.")
	shown := 0
	for _, n := range v.page.Nodes {
		if !n.matches(v.text) {
			continue
		}
		shown++
		r := shown
		st := nodeState(n)
		t.SetCell(r, 0, tview.NewTableCell(tview.Escape(n.Name)).SetReference(n.ID))
		t.SetCell(r, 1, tview.NewTableCell(shortID(n.ID)))
		t.SetCell(r, 2, tview.NewTableCell(st).SetTextColor(tcellColor(st)))
		t.SetCell(r, 3, tview.NewTableCell(tview.Escape(strings.Join(n.Devices, ", "))).SetMaxWidth(28))
		t.SetCell(r, 4, tview.NewTableCell(load(n.Load)))
		t.SetCell(r, 5, tview.NewTableCell(fmt.Sprintf("%d/%d", n.ActiveJobs, n.ActiveJobs+n.FreeSlots)).SetAlign(tview.AlignRight))
		t.SetCell(r, 6, tview.NewTableCell(fmt.Sprint(n.JobsCompleted)).SetAlign(tview.AlignRight))
		t.SetCell(r, 7, tview.NewTableCell(fmt.Sprintf("%.2f", n.Reputation)).SetAlign(tview.AlignRight))
		if n.ID == selected {
			t.Select(r, 0)
		}
	}
	if !v.loaded {
		return
	}
	info := fmt.Sprintf("[::b]%d[::-] online of %d nodes", v.page.Online, v.page.Total)
	switch {
	case v.page.Total == 0:
		emptyTable(t, "no nodes yet — register one with cyxwiz-node-sim (NodeService.RegisterNode)")
	case shown == 0:
		emptyTable(t, "no node matches the filter (Esc clears it)")
	}
	if v.text != "" {
		info += fmt.Sprintf("  %d shown  text %q", shown, v.text)
	}
	v.info.SetText(info)
	v.selectFirst(shown)
}

func (v *nodesView) showDetail(n Node, points []MetricPoint, now time.Time) {
	var b detailFields
	field := b.field
	field("Node", tview.Escape(n.Name)+"  "+tview.Escape(n.ID))
	field("Status", colored(nodeState(n)))
	field("Owner", tview.Escape(n.Owner))
	field("Region", tview.Escape(n.Region))
	field("Version", tview.Escape(n.Version))
	for i, d := range n.Devices {
		k := ""
		if i == 0 {
			k = "Devices"
		}
		fmt.Fprintf(&b, "[gray]%-12s[-] %s\n", k, tview.Escape(d))
	}
	field("Jobs", fmt.Sprintf("%d active, %d free slots, %d completed", n.ActiveJobs, n.FreeSlots, n.JobsCompleted))
	field("Reputation", fmt.Sprintf("%.3f", n.Reputation))
	field("Uptime", fmt.Sprintf("%.1f%% since registration", n.Uptime))
	field("Price", fmt.Sprintf("%g per hour", n.PricePerHour))
	field("Last seen", stamp(n.LastSeen)+"  "+ago(n.LastSeen, now))
	field("Load", load(n.Load))
	fmt.Fprintf(&b, "\n[::b]LOAD, LAST HOUR[::-] (%d samples)\n", len(points))
	if len(points) == 0 {
		b.WriteString("no metric samples yet — nodes report load in heartbeats; the server samples it every scheduler.metrics_sample_interval_seconds\n")
	}
	v.detail.metrics = points
	v.detail.SetText(b.String())
}

// nodeDetail is the details text with the load sparklines drawn below it
// at whatever width the view has.
type nodeDetail struct {
	*tview.TextView
	metrics []MetricPoint
}

// Draw draws the text, then the sparklines under it.
func (d *nodeDetail) Draw(screen tcell.Screen) {
	d.TextView.Draw(screen)
	if len(d.metrics) == 0 {
		return
	}
	x, y, w, h := d.GetInnerRect()
	lines := d.GetOriginalLineCount()
	row, _ := d.GetScrollOffset()
	start := y + lines - row
	series := []struct {
		name string
		get  func(MetricPoint) float64
	}{
		{"CPU", func(p MetricPoint) float64 { return p.CPU }},
		{"GPU", func(p MetricPoint) float64 { return p.GPU }},
		{"Memory", func(p MetricPoint) float64 { return p.Memory }},
	}
	top := 1.0
	for _, p := range d.metrics {
		top = max(top, p.CPU, p.GPU, p.Memory) // fractions stay on 0..1; percentages on 0..100
	}
	if top > 1 {
		top = 100
	}
	for i, s := range series {
		yy := start + i
		if yy < y || yy >= y+h {
			continue
		}
		vals := make([]float64, len(d.metrics))
		for j, p := range d.metrics {
			vals[j] = s.get(p)
		}
		last := vals[len(vals)-1]
		line := fmt.Sprintf("%-8s [aqua]%s[-] %s", s.name, Sparkline(vals, max(w-16, 1), top), pct(last))
		tview.Print(screen, line, x, yy, w, tview.AlignLeft, tcell.ColorWhite)
	}
}

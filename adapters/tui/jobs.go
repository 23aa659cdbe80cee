package tui

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// jobListLimit is how many of the newest jobs the Jobs view reads; the
// header says how many the filter selects in all.
const jobListLimit = 500

type jobsView struct {
	*listPane
	detail *tview.TextView

	mu     sync.Mutex // guards the query: status, typ
	status int        // index in JobStatuses
	typ    int        // index in JobTypes

	// UI goroutine only.
	rows   []Job
	total  int
	loaded bool
}

func newJobsView(c *Console) *jobsView {
	v := &jobsView{detail: tview.NewTextView().SetDynamicColors(true).SetWrap(false)}
	v.listPane = newListPane(c, " JOBS ", v.detail, " JOB ", v.render, func(id string) {
		v.detail.SetText("loading " + id + "…").ScrollToBeginning()
	})
	return v
}

func (v *jobsView) title() string              { return "Jobs" }
func (v *jobsView) primitive() tview.Primitive { return v.root }
func (v *jobsView) keys() string               { return "[/] Filter  [s] Status  [t] Type" }

func (v *jobsView) detailOpen() bool { return v.openID() != "" }

func (v *jobsView) key(ev *tcell.EventKey) *tcell.EventKey {
	if ev.Key() != tcell.KeyRune || v.detailOpen() {
		return ev
	}
	switch ev.Rune() {
	case 's':
		v.mu.Lock()
		v.status = (v.status + 1) % len(JobStatuses)
		v.mu.Unlock()
	case 't':
		v.mu.Lock()
		v.typ = (v.typ + 1) % len(JobTypes)
		v.mu.Unlock()
	default:
		return ev
	}
	v.info.SetText("loading…")
	v.c.Refresh()
	return nil
}

func (v *jobsView) query() (JobQuery, string) {
	v.mu.Lock()
	q := JobQuery{Status: JobStatuses[v.status], Type: JobTypes[v.typ], Limit: jobListLimit}
	v.mu.Unlock()
	return q, v.openID()
}

func (v *jobsView) fetch(ctx context.Context, now time.Time) func() {
	q, id := v.query()
	if id != "" {
		job, events, err := v.c.src.Job(ctx, id)
		return func() {
			v.c.fail(err)
			if _, open := v.query(); open != id {
				return
			}
			if err != nil {
				showError(v.detail, err)
				return
			}
			v.showDetail(job, events, now)
		}
	}
	page, err := v.c.src.Jobs(ctx, q)
	return func() {
		v.c.fail(err)
		if err != nil {
			return
		}
		if cur, _ := v.query(); cur != q {
			return // the filter changed meanwhile: the next refresh shows it
		}
		v.rows, v.total, v.loaded = page.Jobs, page.Total, true
		v.render()
	}
}

// matches reports whether job j contains the text filter.
func (j *Job) matches(text string) bool {
	return matchesAny(text, j.ID, j.Owner, j.Type, j.Status, j.NodeID, j.Model, j.Priority)
}

// render fills the table from the rows and the text filter (UI goroutine).
func (v *jobsView) render() {
	q, _ := v.query()
	t := v.table
	selected := v.clearTable("ID", "STATUS", "TYPE", "PRIORITY", "NODE", "PROGRESS", "OWNER", "SUBMITTED")
	shown := 0
	for _, j := range v.rows {
		if !j.matches(v.text) {
			continue
		}
		shown++
		r := shown
		t.SetCell(r, 0, tview.NewTableCell(shortID(j.ID)).SetReference(j.ID))
		t.SetCell(r, 1, tview.NewTableCell(j.Status).SetTextColor(tcellColor(j.Status)))
		t.SetCell(r, 2, tview.NewTableCell(j.Type))
		t.SetCell(r, 3, tview.NewTableCell(j.Priority))
		t.SetCell(r, 4, tview.NewTableCell(shortID(j.NodeID)))
		t.SetCell(r, 5, tview.NewTableCell(fmt.Sprintf("%3.0f%%", j.Progress*100)).SetAlign(tview.AlignRight))
		t.SetCell(r, 6, tview.NewTableCell(tview.Escape(j.Owner)).SetMaxWidth(16))
		t.SetCell(r, 7, tview.NewTableCell(shortStamp(j.SubmittedAt)))
		if j.ID == selected {
			t.Select(r, 0)
		}
	}
	if !v.loaded {
		return
	}
	label := func(s string) string {
		if s == "" {
			return "all"
		}
		return s
	}
	info := fmt.Sprintf("status [::b]%s[::-]  type [::b]%s[::-]  ", label(q.Status), label(q.Type))
	switch {
	case v.total == 0 && q.Status == "" && q.Type == "":
		emptyTable(t, "no jobs yet — submit one with JobService.SubmitJob (e.g. cyxwiz-load)")
		info += "0 jobs"
	case shown == 0:
		emptyTable(t, "no job matches the filter (s, t, / to change it; Esc clears the text)")
		info += fmt.Sprintf("0 of %d jobs", v.total)
	case v.text != "" || len(v.rows) < v.total:
		info += fmt.Sprintf("%d shown of %d jobs", shown, v.total)
	default:
		info += fmt.Sprintf("%d jobs", v.total)
	}
	if v.text != "" {
		info += fmt.Sprintf("  text %q", v.text)
	}
	v.info.SetText(info)
	v.selectFirst(shown)
}

func (v *jobsView) showDetail(j Job, events []Event, now time.Time) {
	var b detailFields
	field := b.field
	field("Job", tview.Escape(j.ID))
	field("Status", colored(j.Status))
	field("Type", j.Type+" · "+j.Priority+" priority")
	field("Owner", tview.Escape(j.Owner))
	field("Node", tview.Escape(j.NodeID))
	field("Device", j.Device)
	field("Model", tview.Escape(j.Model))
	field("Dataset", tview.Escape(j.Dataset))
	field("Progress", fmt.Sprintf("%.0f%% (epoch %d of %d)", j.Progress*100, j.Epoch, j.Epochs))
	field("Attempts", fmt.Sprintf("%d (requeued %d)", j.Attempts, j.Requeues))
	if j.Payment > 0 {
		field("Payment", fmt.Sprintf("%g", j.Payment))
	}
	field("Submitted", stamp(j.SubmittedAt)+"  "+ago(j.SubmittedAt, now))
	field("Started", stamp(j.StartedAt))
	field("Ended", stamp(j.EndedAt))
	field("Reason", tview.Escape(j.Reason))
	field("Last log", tview.Escape(j.LastLog))
	if len(j.Metrics) > 0 {
		var ms []string
		for _, k := range slices.Sorted(maps.Keys(j.Metrics)) {
			ms = append(ms, fmt.Sprintf("%s=%.4g", k, j.Metrics[k]))
		}
		field("Metrics", tview.Escape(strings.Join(ms, " ")))
	}
	fmt.Fprintf(&b, "\n[::b]EVENT HISTORY[::-] (%d events, oldest first)\n", len(events))
	for _, e := range events {
		fmt.Fprintf(&b, "[gray]#%-3d %s[-] %-14s %s [gray]%s[-]\n", e.Revision, clock(e.Time), e.Name, tview.Escape(e.Summary), tview.Escape(e.Actor))
	}
	b.WriteString("\n[gray]Esc: back to the list[-]")
	row, col := v.detail.GetScrollOffset()
	v.detail.SetText(b.String()).ScrollTo(row, col)
}

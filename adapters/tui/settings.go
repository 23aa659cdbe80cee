package tui

import (
	"context"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

type settingsView struct {
	c     *Console
	root  *tview.Flex
	note  *tview.TextView
	table *tview.Table
}

func newSettingsView(c *Console) *settingsView {
	v := &settingsView{c: c}
	v.note = tview.NewTextView().SetDynamicColors(true).SetWrap(true)
	v.table = tview.NewTable().SetSelectable(true, false).SetFixed(1, 0)
	v.root = tview.NewFlex().SetDirection(tview.FlexRow).AddItem(v.note, 2, 0, false).AddItem(v.table, 0, 1, true)
	v.root.SetBorder(true).SetTitle(" SETTINGS (effective configuration, secrets masked) ").SetTitleAlign(tview.AlignLeft)
	v.note.SetText("loading…")
	return v
}

func (v *settingsView) title() string                          { return "Settings" }
func (v *settingsView) primitive() tview.Primitive             { return v.root }
func (v *settingsView) focus() tview.Primitive                 { return v.table }
func (v *settingsView) keys() string                           { return "" }
func (v *settingsView) key(ev *tcell.EventKey) *tcell.EventKey { return ev }
func (v *settingsView) back() bool                             { return false }
func (v *settingsView) filter() bool                           { return false }

func (v *settingsView) fetch(ctx context.Context, _ time.Time) func() {
	s, err := v.c.src.Settings(ctx)
	return func() {
		v.c.fail(err)
		if err != nil {
			return
		}
		note := s.Note
		if note == "" {
			note = "every key can be overridden with CYXWIZ_<SECTION>_<KEY>; change config.toml and restart to apply"
		}
		v.note.SetText("[gray]" + tview.Escape(note) + "[-]")
		t := v.table
		t.Clear()
		t.SetCell(0, 0, tview.NewTableCell("KEY").SetSelectable(false).SetAttributes(tcell.AttrBold))
		t.SetCell(0, 1, tview.NewTableCell("VALUE").SetSelectable(false).SetAttributes(tcell.AttrBold))
		row, _ := t.GetSelection()
		for i, it := range s.Items {
			t.SetCell(i+1, 0, tview.NewTableCell(tview.Escape(it.Key)).SetTextColor(tcell.ColorAqua))
			t.SetCell(i+1, 1, tview.NewTableCell(tview.Escape(it.Value)))
		}
		if row < 1 || row > len(s.Items) {
			t.Select(1, 0)
			t.ScrollToBeginning()
		}
	}
}

package tui

import (
	"fmt"
	"strings"
	"sync"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// listPane is what the Jobs and Nodes views share: a bordered list (an
// info line, the `/` text filter that Esc clears, a table whose Enter
// opens the row's id) over a details page, and which id is open. The
// view fills the table (render) and the details page; each row's first
// cell holds its id as the reference.
type listPane struct {
	c      *Console
	root   *tview.Pages // "list" and "detail"
	info   *tview.TextView
	input  *tview.InputField
	table  *tview.Table
	detail tview.Primitive
	// opened resets the details page for the id just opened (UI goroutine).
	opened func(id string)

	detailMu sync.Mutex
	detailID string // "" = the list is shown

	// UI goroutine only.
	text string // the `/` filter
}

// boxedPage is a details page: a primitive drawn in a box.
type boxedPage interface {
	tview.Primitive
	SetBorder(show bool) *tview.Box
}

// newListPane builds the pane titled listTitle over detail (its box titled
// detailTitle); render fills the table and runs whenever the text filter
// changes.
func newListPane(c *Console, listTitle string, detail boxedPage, detailTitle string, render func(), opened func(id string)) *listPane {
	p := &listPane{c: c, detail: detail, opened: opened}
	p.info = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	p.input = tview.NewInputField().SetLabel("/ ").SetFieldBackgroundColor(tcell.ColorDarkSlateGray)
	p.input.SetChangedFunc(func(text string) { p.text = text; render() })
	p.input.SetDoneFunc(func(key tcell.Key) {
		if key == tcell.KeyEsc {
			p.input.SetText("")
		}
		c.app.SetFocus(p.table)
	})
	p.table = tview.NewTable().SetFixed(1, 0).SetSelectable(true, false)
	p.table.SetSelectedFunc(func(row, _ int) {
		if ref := p.table.GetCell(row, 0).GetReference(); ref != nil {
			p.open(ref.(string))
		}
	})
	list := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(p.info, 1, 0, false).AddItem(p.input, 1, 0, false).AddItem(p.table, 0, 1, true)
	list.SetBorder(true).SetTitle(listTitle).SetTitleAlign(tview.AlignLeft)
	detail.SetBorder(true).SetTitle(detailTitle).SetTitleAlign(tview.AlignLeft)
	p.root = tview.NewPages().AddPage("list", list, true, true).AddPage("detail", detail, true, false)
	p.info.SetText("loading…")
	return p
}

// openID is the id whose details are shown, "" when the list is.
func (p *listPane) openID() string {
	p.detailMu.Lock()
	defer p.detailMu.Unlock()
	return p.detailID
}

func (p *listPane) setOpen(id string) {
	p.detailMu.Lock()
	p.detailID = id
	p.detailMu.Unlock()
}

func (p *listPane) focus() tview.Primitive {
	if p.openID() != "" {
		return p.detail
	}
	return p.table
}

// open shows the details of id (UI goroutine).
func (p *listPane) open(id string) {
	p.setOpen(id)
	p.opened(id)
	p.root.SwitchToPage("detail")
	p.c.app.SetFocus(p.detail)
	p.c.Refresh()
}

// filter leaves the details, if open, and puts the cursor in the text
// filter, keeping what it holds (UI goroutine).
func (p *listPane) filter() bool {
	if p.openID() != "" {
		p.back()
	}
	p.c.app.SetFocus(p.input)
	return true
}

// back closes the details, else clears the text filter; false when there
// is neither (UI goroutine).
func (p *listPane) back() bool {
	if p.openID() != "" {
		p.setOpen("")
		p.root.SwitchToPage("list")
		p.c.app.SetFocus(p.table)
		return true
	}
	if p.text != "" {
		p.input.SetText("") // calls render
		return true
	}
	return false
}

// clearTable empties the table for a new fill and writes the header row;
// it returns the id of the row selected before, "" for none.
func (p *listPane) clearTable(header ...string) (selected string) {
	t := p.table
	if r, _ := t.GetSelection(); r > 0 {
		if ref := t.GetCell(r, 0).GetReference(); ref != nil {
			selected = ref.(string)
		}
	}
	t.Clear()
	for i, h := range header {
		t.SetCell(0, i, tview.NewTableCell(h).SetSelectable(false).SetAttributes(tcell.AttrBold))
	}
	return selected
}

// selectFirst selects the first row when none is and shown rows are.
func (p *listPane) selectFirst(shown int) {
	if r, _ := p.table.GetSelection(); r < 1 && shown > 0 {
		p.table.Select(1, 0)
	}
}

// showError shows a failed details query on the details page.
func showError(detail *tview.TextView, err error) {
	detail.SetText("[red]" + tview.Escape(err.Error()) + "[-]")
}

// matchesAny reports whether one of fields contains text, ignoring case;
// every field matches "".
func matchesAny(text string, fields ...string) bool {
	if text == "" {
		return true
	}
	text = strings.ToLower(text)
	for _, s := range fields {
		if strings.Contains(strings.ToLower(s), text) {
			return true
		}
	}
	return false
}

// detailFields writes a details page's "Key  value" lines, leaving out
// those with no value.
type detailFields struct{ strings.Builder }

func (b *detailFields) field(k, val string) {
	if val != "" {
		fmt.Fprintf(b, "[gray]%-12s[-] %s\n", k, val)
	}
}

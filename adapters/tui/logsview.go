package tui

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// logViewLines is how many of the newest lines the Logs view shows.
const logViewLines = 1000

// logLevels are the level filters the Logs view cycles through.
var logLevels = []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

type logsView struct {
	c     *Console
	root  *tview.Flex
	info  *tview.TextView
	input *tview.InputField
	text  *tview.TextView

	level int // index in logLevels; UI goroutine only (fetch reads the buffer whole)
	match string
	lines []logbuf.Line
}

func newLogsView(c *Console) *logsView {
	v := &logsView{c: c}
	v.info = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	v.input = tview.NewInputField().SetLabel("/ ").SetFieldBackgroundColor(tcell.ColorDarkSlateGray)
	v.input.SetChangedFunc(func(text string) { v.match = text; v.render() })
	v.input.SetDoneFunc(func(key tcell.Key) {
		if key == tcell.KeyEsc {
			v.input.SetText("")
		}
		c.app.SetFocus(v.text)
	})
	v.text = tview.NewTextView().SetDynamicColors(true).SetWrap(false).SetMaxLines(logViewLines)
	v.root = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(v.info, 1, 0, false).AddItem(v.input, 1, 0, false).AddItem(v.text, 0, 1, true)
	v.root.SetBorder(true).SetTitle(" LOGS ").SetTitleAlign(tview.AlignLeft)
	v.level = 1 // info
	return v
}

func (v *logsView) title() string              { return "Logs" }
func (v *logsView) primitive() tview.Primitive { return v.root }
func (v *logsView) focus() tview.Primitive     { return v.text }
func (v *logsView) keys() string               { return "[/] Filter  [l] Level" }

func (v *logsView) back() bool {
	if v.match != "" {
		v.input.SetText("")
		return true
	}
	return false
}

func (v *logsView) filter() bool {
	v.c.app.SetFocus(v.input)
	return true
}

func (v *logsView) key(ev *tcell.EventKey) *tcell.EventKey {
	if ev.Key() == tcell.KeyRune && ev.Rune() == 'l' {
		v.level = (v.level + 1) % len(logLevels)
		v.render()
		return nil
	}
	return ev
}

func (v *logsView) fetch(context.Context, time.Time) func() {
	lines := v.c.src.Logs().Lines(slog.LevelDebug, logViewLines*4)
	return func() {
		v.lines = lines
		v.render()
	}
}

func levelColor(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "red"
	case l >= slog.LevelWarn:
		return "yellow"
	case l >= slog.LevelInfo:
		return "white"
	}
	return "gray"
}

func (v *logsView) render() {
	min := logLevels[v.level]
	var b strings.Builder
	shown := 0
	var kept []logbuf.Line
	for _, l := range v.lines {
		if l.Level < min || (v.match != "" && !strings.Contains(strings.ToLower(l.Text), strings.ToLower(v.match))) {
			continue
		}
		kept = append(kept, l)
	}
	if len(kept) > logViewLines {
		kept = kept[len(kept)-logViewLines:]
	}
	for _, l := range kept {
		shown++
		fmt.Fprintf(&b, "[gray]%s[-] [%s]%-5s[-] %s\n", l.Time.UTC().Format("15:04:05.000"), levelColor(l.Level), l.Level.String(), tview.Escape(l.Text))
	}
	info := fmt.Sprintf("level ≥ [::b]%s[::-]  %d lines", min.String(), shown)
	if v.match != "" {
		info += fmt.Sprintf("  text %q", v.match)
	}
	v.info.SetText(info)
	if shown == 0 {
		if len(v.lines) == 0 {
			b.WriteString("no log lines yet")
		} else {
			b.WriteString("no line matches the filter ([l] level, [/] text, Esc clears)")
		}
	}
	follow := true
	if row, _ := v.text.GetScrollOffset(); row > 0 && v.c.app.GetFocus() == v.text {
		// Stay where the operator scrolled unless they were at the end.
		_, _, _, h := v.text.GetInnerRect()
		follow = row+h >= v.text.GetOriginalLineCount()
	}
	v.text.SetText(strings.TrimSuffix(b.String(), "\n"))
	if follow {
		v.text.ScrollToEnd()
	}
}

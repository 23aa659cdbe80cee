package tui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// Options tune a Console; zero fields take defaults.
type Options struct {
	// Screen is where the console draws; nil = the terminal. Tests pass a
	// tcell.SimulationScreen.
	Screen tcell.Screen
	// Interval is the shortest time between two refreshes (default
	// 250 ms): changes within it coalesce into one fetch and one redraw.
	Interval time.Duration
	// Periodic refreshes the current view even without a change, for the
	// values that move with the clock (uptime, "last 24 h"); default 30 s,
	// negative = never.
	Periodic time.Duration
	// Timeout bounds one refresh's queries (default 5 s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Version is shown in the header.
	Version string
}

// View numbers, in tab order.
const (
	ViewDashboard = iota
	ViewJobs
	ViewNodes
	ViewBlockchain
	ViewLogs
	ViewSettings
)

// view is one screen of the console.
type view interface {
	title() string
	primitive() tview.Primitive
	// fetch reads what the view shows; it runs off the UI goroutine and
	// returns the function that shows it, run on the UI goroutine.
	fetch(ctx context.Context, now time.Time) func()
	// keys lists the view's own keys for the status bar.
	keys() string
	// key handles a key the console did not; nil = consumed.
	key(ev *tcell.EventKey) *tcell.EventKey
	// back leaves a detail page or a filter; false when there is nothing to leave.
	back() bool
	// filter starts the `/` text filter; false when the view has none.
	filter() bool
	// focus is the primitive to focus when the view is shown.
	focus() tview.Primitive
}

// Console is the operator console.
type Console struct {
	src  Source
	opts Options
	app  *tview.Application

	header *tview.TextView
	status *tview.TextView
	pages  *tview.Pages
	views  []view
	help   bool

	cur       atomic.Int32 // current view; written on the UI goroutine
	wake      chan struct{}
	draws     atomic.Uint64
	refreshes atomic.Uint64
	errMu     sync.Mutex
	lastErr   string

	cancel  context.CancelFunc
	stopped chan struct{}
	once    sync.Once
}

// New builds a console over src.
func New(src Source, opts Options) *Console {
	if opts.Interval <= 0 {
		opts.Interval = 250 * time.Millisecond
	}
	if opts.Periodic == 0 {
		opts.Periodic = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Console{src: src, opts: opts, app: tview.NewApplication(), wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	if opts.Screen != nil {
		c.app.SetScreen(opts.Screen)
	}
	c.header = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	c.status = tview.NewTextView().SetWrap(false) // plain: "[q]" is text, not a color tag
	c.status.SetTextColor(tcell.ColorBlack).SetBackgroundColor(tcell.ColorLightGray)
	c.views = []view{
		newDashboard(c), newJobsView(c), newNodesView(c), newChainView(c), newLogsView(c), newSettingsView(c),
	}
	c.pages = tview.NewPages()
	for i, v := range c.views {
		c.pages.AddPage(v.title(), v.primitive(), true, i == 0)
	}
	c.pages.AddPage("help", helpModal(), true, false)
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(c.header, 2, 0, false).
		AddItem(c.pages, 0, 1, true).
		AddItem(c.status, 1, 0, false)
	c.app.SetRoot(root, true).SetInputCapture(c.capture)
	c.app.SetAfterDrawFunc(func(tcell.Screen) { c.draws.Add(1) })
	c.app.SetFocus(c.views[0].focus())
	c.drawChrome()
	return c
}

// Run shows the console until Stop, q or Ctrl-C.
func (c *Console) Run() error {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.refresher(ctx)
	}()
	err := c.app.Run()
	cancel()
	<-done
	c.once.Do(func() { close(c.stopped) })
	return err
}

// Stop ends Run.
func (c *Console) Stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.app.Stop()
}

// Stopped is closed once Run has returned.
func (c *Console) Stopped() <-chan struct{} { return c.stopped }

// Draws counts the screen redraws so far.
func (c *Console) Draws() uint64 { return c.draws.Load() }

// Refreshes counts the fetches so far.
func (c *Console) Refreshes() uint64 { return c.refreshes.Load() }

// QueueEvent injects a terminal event (tests: a resize after
// SimulationScreen.SetSize).
func (c *Console) QueueEvent(ev tcell.Event) { c.app.QueueEvent(ev) }

// Refresh asks for a refresh of the current view.
func (c *Console) Refresh() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// refresher turns changes into refreshes: at most one per Interval, none
// while nothing changes. A refresh fetches the current view off the UI
// goroutine, then shows it with one QueueUpdateDraw and waits for it, so
// a slow terminal slows only the console: changes meanwhile coalesce.
func (c *Console) refresher(ctx context.Context) {
	timer := time.NewTimer(0) // the first refresh, at once
	pending := true
	var periodic <-chan time.Time
	if c.opts.Periodic > 0 {
		t := time.NewTicker(c.opts.Periodic)
		defer t.Stop()
		periodic = t.C
	}
	var last time.Time
	dirty := false
	for {
		if dirty && !pending {
			timer.Reset(max(0, c.opts.Interval-time.Since(last)))
			pending = true
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-c.src.Changes():
			dirty = true
		case <-c.src.Logs().Changes():
			if c.cur.Load() == ViewLogs {
				dirty = true
			}
		case <-c.wake:
			dirty = true
		case <-periodic:
			dirty = true
		case <-timer.C:
			pending, dirty, last = false, false, time.Now()
			if !c.refresh(ctx) {
				return
			}
		}
	}
}

// refresh fetches the current view and shows it; false once ctx ends.
func (c *Console) refresh(ctx context.Context) bool {
	c.refreshes.Add(1)
	v := c.views[c.cur.Load()]
	fctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	apply := v.fetch(fctx, c.opts.Now())
	cancel()
	return c.onUI(ctx.Done(), func() {
		if c.views[c.cur.Load()] == v && apply != nil {
			apply()
		}
		c.drawChrome()
		c.app.ForceDraw() // the one redraw of this refresh
	})
}

// onUI runs f on the UI goroutine and waits for it, or for stop; false on
// stop. tview's QueueUpdate waits for f, and nothing runs f once the
// application stopped, so the wait happens on a helper goroutine, which is
// left behind (blocked, harmless) when the console stops meanwhile.
func (c *Console) onUI(stop <-chan struct{}, f func()) bool {
	done := make(chan struct{})
	go func() {
		c.app.QueueUpdate(f)
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-stop:
		return false
	}
}

// fail records a query error for the header ("" clears it).
func (c *Console) fail(err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if err == nil {
		c.lastErr = ""
		return
	}
	c.lastErr = err.Error()
}

// drawChrome draws the header and the status bar (UI goroutine).
func (c *Console) drawChrome() {
	cur := int(c.cur.Load())
	conn := c.src.Conn()
	state := "[green]● live[-]"
	if conn.Position > 0 {
		state += fmt.Sprintf(" [gray]event #%d[-]", conn.Position)
	}
	if !conn.Live {
		state = "[red]○ " + tview.Escape(conn.Detail) + "[-]"
	}
	c.errMu.Lock()
	if c.lastErr != "" {
		state += " [red]" + tview.Escape(c.lastErr) + "[-]"
	}
	c.errMu.Unlock()
	var tabs strings.Builder
	for i, v := range c.views {
		if i == cur {
			fmt.Fprintf(&tabs, "[black:aqua] %d %s [-:-]", i+1, v.title())
		} else {
			fmt.Fprintf(&tabs, " %d %s ", i+1, v.title())
		}
	}
	version := c.opts.Version
	if version == "" {
		version = "dev"
	}
	c.header.SetText(fmt.Sprintf("[::b]CyxWiz Central Server %s[::-]  %s  %s\n%s",
		tview.Escape(version), tview.Escape(conn.Mode), state, tabs.String()))
	// The seed's keys first, so that 80 columns show them all.
	keys := "[q] Quit  [Tab] Switch View  [j/k] Navigate  [Enter] Details  [?] Help  "
	if k := c.views[cur].keys(); k != "" {
		keys += k + "  "
	}
	c.status.SetText(keys + "[Esc] Back  [r] Refresh")
}

// show switches to view i (UI goroutine).
func (c *Console) show(i int) {
	n := len(c.views)
	i = ((i % n) + n) % n
	c.cur.Store(int32(i))
	c.pages.SwitchToPage(c.views[i].title())
	c.app.SetFocus(c.views[i].focus())
	c.drawChrome()
	c.Refresh()
}

// capture handles the console's keys before the focused widget.
func (c *Console) capture(ev *tcell.EventKey) *tcell.EventKey {
	if _, typing := c.app.GetFocus().(*tview.InputField); typing {
		return ev // the filter line takes every key; Enter and Esc leave it
	}
	if c.help {
		switch {
		case ev.Key() == tcell.KeyEsc, ev.Key() == tcell.KeyRune && (ev.Rune() == '?' || ev.Rune() == 'q'):
			c.help = false
			c.pages.HidePage("help")
			c.app.SetFocus(c.views[c.cur.Load()].focus())
		}
		return nil
	}
	v := c.views[c.cur.Load()]
	switch ev.Key() {
	case tcell.KeyTab:
		c.show(int(c.cur.Load()) + 1)
		return nil
	case tcell.KeyBacktab:
		c.show(int(c.cur.Load()) - 1)
		return nil
	case tcell.KeyEsc:
		if v.back() {
			c.Refresh()
		}
		return nil
	case tcell.KeyRune:
		switch r := ev.Rune(); {
		case r == 'q':
			c.Stop()
			return nil
		case r >= '1' && r <= '0'+rune(len(c.views)):
			c.show(int(r - '1'))
			return nil
		case r == '?':
			c.help = true
			c.pages.ShowPage("help")
			return nil
		case r == 'r':
			c.Refresh()
			return nil
		case r == '/':
			v.filter()
			return nil
		}
	}
	return v.key(ev)
}

func helpModal() tview.Primitive {
	text := `Keys
  Tab / Shift-Tab   next / previous view
  1 … 6             Dashboard, Jobs, Nodes, Blockchain, Logs, Settings
  j / k, ↑ / ↓      move in a list (g / G: first / last)
  Enter             details of the selected job or node
  Esc               back from details; clear a filter
  /                 filter by text (Enter keeps it, Esc clears it)
  s / t             Jobs: cycle the status / type filter
  l                 Logs: cycle the level filter
  r                 refresh now
  ?                 this help
  q, Ctrl-C         quit

Everything shown comes from the event log's read model; the screen
refreshes within a second of a new event.`
	tv := tview.NewTextView().SetText(text)
	tv.SetBorder(true).SetTitle(" Help (Esc to close) ")
	return tview.NewFlex().
		AddItem(nil, 0, 1, false).
		AddItem(tview.NewFlex().SetDirection(tview.FlexRow).
			AddItem(nil, 0, 1, false).
			AddItem(tv, 19, 0, true).
			AddItem(nil, 0, 1, false), 76, 0, true).
		AddItem(nil, 0, 1, false)
}

// Do runs f on the UI goroutine, between draws, and waits for it; false
// when the console did not run it within timeout (not running).
func (c *Console) Do(f func(), timeout time.Duration) bool {
	stop := make(chan struct{})
	t := time.AfterFunc(timeout, func() { close(stop) })
	defer t.Stop()
	return c.onUI(stop, f)
}

// Text returns what the console shows on a simulation screen, one line
// per row with trailing blanks cut, read between draws (tests, and the
// README's capture).
func (c *Console) Text(s tcell.SimulationScreen) string {
	// A channel, not a variable: when Do gives up, f may still run later.
	text := make(chan string, 1)
	c.Do(func() { text <- ScreenText(s) }, 2*time.Second)
	select {
	case out := <-text:
		return out
	default:
		return ""
	}
}

// ScreenText renders a simulation screen's cells as text; call it where
// nothing draws (Console.Text does).
func ScreenText(s tcell.SimulationScreen) string {
	cells, w, h := s.GetContents()
	var b strings.Builder
	for y := range h {
		var line strings.Builder
		for x := range w {
			c := cells[y*w+x]
			if len(c.Runes) == 0 {
				line.WriteByte(' ')
				continue
			}
			line.WriteString(string(c.Runes))
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

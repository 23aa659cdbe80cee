// Package attach is the console's Source for a server elsewhere: snapshot
// queries go to the REST API, and the Server-Sent Events stream
// (/api/events/stream) says when something changed. When the stream
// breaks (the server restarts, the network drops) it reconnects with
// backoff, resuming after the last event it saw (Last-Event-ID), and the
// console refreshes everything once it is back.
//
// The server's own log lines are polled from /api/logs into the Logs
// view's buffer (each line once, marked "[server]", continuing after the
// last one seen across reconnections), next to the console's own lines
// ("[console]"); /api/config gives the Settings view and the Blockchain
// view's network and escrow wallet.
package attach

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/adapters/tui"
)

// Options tune a Source; zero fields take defaults.
type Options struct {
	// Client makes the snapshot requests (default: a client with a 10 s
	// timeout). The stream uses its transport without a timeout.
	Client *http.Client
	// MinBackoff and MaxBackoff bound the wait between reconnections
	// (default 250 ms and 10 s); it doubles after each failure.
	MinBackoff, MaxBackoff time.Duration
	// Logs receives the server's lines (from /api/logs) and the
	// console's own (connections, errors).
	Logs *logbuf.Buffer
	// LogPoll is the interval between polls of /api/logs (default 1 s).
	LogPoll time.Duration
}

// Prefixes of the Logs view's lines: whose they are.
const (
	ServerLine  = "[server] "
	ConsoleLine = "[console] "
)

// Source is the attached tui.Source.
type Source struct {
	base  *url.URL
	token string
	opts  Options
	http  *http.Client
	sse   *http.Client
	logs  *logbuf.Buffer

	changes chan struct{}
	pos     atomic.Uint64 // the last event the stream delivered
	recheck atomic.Bool   // a refresh is scheduled for an answer that lagged the stream
	// rechecks counts the refreshes scheduled for the stream's position
	// recheckPos (under mu): a read model that never reaches it (another
	// log behind the same address) is not polled forever.
	rechecks   int
	recheckPos uint64
	mu         sync.Mutex
	live       bool
	detail     string

	logSeq atomic.Uint64 // the server's last log line seen (/api/logs' last_seq)
	logID  string        // the log those seqs count in (pollLogs' goroutine only)
}

var _ tui.Source = (*Source)(nil)

// New returns a source for the server at api (http://host:8080) that
// presents token, an operator's or admin's user token. Call Run to follow
// the event stream.
func New(api, token string, opts Options) (*Source, error) {
	u, err := url.Parse(strings.TrimRight(api, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--api %q: want the REST API's base URL, e.g. http://127.0.0.1:8080", api)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.Logs == nil {
		opts.Logs = logbuf.New(0)
	}
	if opts.LogPoll <= 0 {
		opts.LogPoll = time.Second
	}
	sse := *opts.Client
	sse.Timeout = 0
	s := &Source{base: u, token: token, opts: opts, http: opts.Client, sse: &sse, logs: opts.Logs,
		changes: make(chan struct{}, 1), detail: "connecting…"}
	s.note(slog.LevelInfo, "console attached to "+u.String()+"; lines marked [server] are the server's (from /api/logs), [console] the console's own")
	return s, nil
}

// note adds one of the console's own lines.
func (s *Source) note(level slog.Level, text string) {
	s.logs.Add(time.Now(), level, ConsoleLine+text)
}

func (s *Source) signal() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

func (s *Source) setState(live bool, detail string) {
	s.mu.Lock()
	changed := s.live != live || s.detail != detail
	s.live, s.detail = live, detail
	s.mu.Unlock()
	if changed {
		s.signal() // the header shows the state; a reconnection resyncs every view
	}
}

// Run follows the event stream and polls the server's log lines until ctx
// ends, reconnecting with backoff.
func (s *Source) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.pollLogs(ctx) })
	defer wg.Wait()
	backoff := s.opts.MinBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := s.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 5*time.Second {
			backoff = s.opts.MinBackoff // it was up a while: retry soon
		}
		msg := "stream ended"
		if err != nil {
			msg = err.Error()
		}
		s.setState(false, fmt.Sprintf("reconnecting in %s: %s", backoff.Round(time.Millisecond), msg))
		s.note(slog.LevelWarn, "event stream: "+msg+"; reconnecting in "+backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// follow reads the stream once, until it breaks.
func (s *Source) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base.String()+"/api/events/stream", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Accept", "text/event-stream")
	if p := s.pos.Load(); p > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(p, 10))
	}
	resp, err := s.sse.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	s.setState(true, "")
	s.note(slog.LevelInfo, fmt.Sprintf("event stream open (after position %d)", s.pos.Load()))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	event := false
	for sc.Scan() {
		line := sc.Bytes() // only looked at, never kept: no copy of the payloads
		switch {
		case len(line) == 0:
			if event {
				s.signal()
				event = false
			}
		case bytes.HasPrefix(line, []byte("id:")):
			if n, err := strconv.ParseUint(string(bytes.TrimSpace(line[3:])), 10, 64); err == nil {
				s.pos.Store(n)
			}
		case bytes.HasPrefix(line, []byte("data:")):
			event = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.EOF
}

// Changes implements tui.Source.
func (s *Source) Changes() <-chan struct{} { return s.changes }

// Logs implements tui.Source: the server's lines and the console's own.
func (s *Source) Logs() *logbuf.Buffer { return s.logs }

// pollLogs copies the server's new log lines into the buffer every
// LogPoll until ctx ends. It asks for the lines after the last one it saw,
// so each comes once, also across a lost connection; when the server
// restarted (another log_id: its lines are numbered again) it starts over
// from its first.
func (s *Source) pollLogs(ctx context.Context) {
	failing := ""
	for {
		err := s.pullLogs(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && err.Error() != failing:
			failing = err.Error()
			s.note(slog.LevelWarn, "the server's log lines: "+failing+"; retrying every "+s.opts.LogPoll.String())
		case err == nil && failing != "":
			failing = ""
			s.note(slog.LevelInfo, "the server's log lines are back")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.LogPoll):
		}
	}
}

// pullLogs reads every line the server has after the last one seen.
func (s *Source) pullLogs(ctx context.Context) error {
	for ctx.Err() == nil {
		after := s.logSeq.Load()
		var page rest.LogListJSON
		v := url.Values{"level": {"debug"}, "after": {strconv.FormatUint(after, 10)}, "limit": {strconv.Itoa(rest.MaxLimit)}}
		if err := s.get(ctx, "/api/logs", v, &page); err != nil {
			return err
		}
		if page.LogID != s.logID || page.LastSeq < after {
			known := s.logID
			s.logID = page.LogID
			if known != "" || after > 0 { // not the first answer: the server restarted
				s.note(slog.LevelWarn, "the server restarted; its log lines start again")
				s.logSeq.Store(0)
				continue
			}
		}
		for _, l := range page.Lines {
			s.logs.Add(l.Time, parseLevel(l.Level), ServerLine+l.Text)
		}
		s.logSeq.Store(page.LastSeq)
		if len(page.Lines) < rest.MaxLimit {
			return nil
		}
	}
	return ctx.Err()
}

func parseLevel(name string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(name)) != nil {
		return slog.LevelInfo
	}
	return l
}

// Conn implements tui.Source.
func (s *Source) Conn() tui.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tui.Conn{Mode: "attached to " + s.base.String(), Live: s.live, Detail: s.detail, Position: s.pos.Load()}
}

// get reads path?query into out.
func (s *Source) get(ctx context.Context, path string, query url.Values, out any) error {
	u := s.base.String() + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && !(path == "/api/health" && resp.StatusCode == http.StatusServiceUnavailable) {
		return apiError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	s.refreshIfBehind(resp.Header.Get(rest.ReadPositionHeader))
	return nil
}

// recheckAfter is how soon the views are refreshed again after an answer
// that may miss an event the stream already delivered; maxRechecks bounds
// those refreshes for one streamed position.
const (
	recheckAfter = 100 * time.Millisecond
	maxRechecks  = 20
)

// refreshIfBehind schedules one more refresh when an answer came from a
// read model that had not yet applied the last streamed event: the stream
// reads the log, the answers the read model, and the event that woke the
// refresh can reach the console before the read model applies it.
func (s *Source) refreshIfBehind(header string) {
	applied, err := strconv.ParseUint(header, 10, 64)
	last := s.pos.Load()
	if err != nil || applied >= last {
		return
	}
	s.mu.Lock()
	if s.recheckPos != last {
		s.recheckPos, s.rechecks = last, 0
	}
	give := s.rechecks < maxRechecks
	s.mu.Unlock()
	if !give || !s.recheck.CompareAndSwap(false, true) {
		return
	}
	s.mu.Lock()
	s.rechecks++
	s.mu.Unlock()
	time.AfterFunc(recheckAfter, func() {
		s.recheck.Store(false)
		s.signal()
	})
}

// apiError reads the API's {"error":{"code","message"}} answer.
func apiError(resp *http.Response) error {
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &body) == nil && body.Error.Message != "" {
		msg = body.Error.Message
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		msg += " (mint an operator token on the server: cyxwiz-central token --sub NAME --role operator)"
	}
	return fmt.Errorf("%s %s: %d %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, msg)
}

func at(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Stats implements tui.Source.
func (s *Source) Stats(ctx context.Context) (tui.Stats, error) {
	var st rest.StatsJSON
	if err := s.get(ctx, "/api/stats", nil, &st); err != nil {
		return tui.Stats{}, err
	}
	return tui.Stats{NodesTotal: st.NodesTotal, NodesOnline: st.NodesOnline, JobsTotal: st.JobsTotal, JobsPending: st.JobsPending,
		JobsRunning: st.JobsRunning, JobsCompleted24h: st.JobsCompleted24h, JobsFailed24h: st.JobsFailed24h}, nil
}

// Health implements tui.Source.
func (s *Source) Health(ctx context.Context) (tui.Health, error) {
	var h rest.HealthJSON
	if err := s.get(ctx, "/api/health", nil, &h); err != nil {
		return tui.Health{}, err
	}
	out := tui.Health{Status: h.Status, Uptime: time.Duration(h.UptimeSeconds) * time.Second, Version: h.Version}
	for name, st := range h.Components {
		out.Components = append(out.Components, tui.Component{Name: name, Status: st, Detail: h.Details[name]})
	}
	sort.Slice(out.Components, func(i, j int) bool { return out.Components[i].Name < out.Components[j].Name })
	return out, nil
}

// Jobs implements tui.Source.
func (s *Source) Jobs(ctx context.Context, q tui.JobQuery) (tui.JobPage, error) {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(min(q.Limit, rest.MaxLimit)))
	}
	var page rest.JobListJSON
	if err := s.get(ctx, "/api/jobs", v, &page); err != nil {
		return tui.JobPage{}, err
	}
	out := tui.JobPage{Jobs: make([]tui.Job, len(page.Jobs)), Total: page.Total}
	for i := range page.Jobs {
		out.Jobs[i] = job(&page.Jobs[i])
	}
	return out, nil
}

func job(j *rest.JobJSON) tui.Job {
	return tui.Job{
		ID: j.ID, Owner: j.Owner, Type: j.Type, Priority: j.Priority, Status: j.Status, NodeID: j.NodeID,
		Device: j.Spec.RequiredDevice, Model: j.Spec.ModelDefinition, Dataset: j.Spec.DatasetURI,
		Progress: j.Progress, Epoch: j.Epoch, Epochs: j.Spec.Epochs, Attempts: j.Attempts, Requeues: j.Requeues,
		Payment: j.Spec.PaymentAmount, SubmittedAt: at(j.SubmittedAt), StartedAt: at(j.StartedAt), EndedAt: at(j.EndedAt),
		Reason: j.Reason, LastLog: j.LastLog, Metrics: j.Metrics,
	}
}

// Job implements tui.Source.
func (s *Source) Job(ctx context.Context, id string) (tui.Job, []tui.Event, error) {
	var j rest.JobJSON
	if err := s.get(ctx, "/api/jobs/"+url.PathEscape(id), nil, &j); err != nil {
		return tui.Job{}, nil, err
	}
	var hist rest.EventListJSON
	if err := s.get(ctx, "/api/jobs/"+url.PathEscape(id)+"/events", url.Values{"limit": {strconv.Itoa(rest.MaxLimit)}}, &hist); err != nil {
		return tui.Job{}, nil, err
	}
	events := make([]tui.Event, len(hist.Events))
	for i, e := range hist.Events {
		events[i] = tui.Event{Position: e.Position, Revision: e.Revision, Time: parseTime(e.Time), Name: e.Event, Actor: e.Actor, Summary: e.Summary}
		if e.DecodeError != "" {
			events[i].Summary = "(unreadable: " + e.DecodeError + ")"
		}
	}
	return job(&j), events, nil
}

func node(n *rest.NodeJSON) tui.Node {
	out := tui.Node{
		ID: n.ID, Name: n.Name, Owner: n.Owner, Region: n.Region, Version: n.Version, Online: n.Online, Banned: n.Banned,
		Reputation: n.Reputation, ActiveJobs: n.ActiveJobs, FreeSlots: n.FreeSlots, JobsCompleted: n.JobsCompleted,
		PricePerHour: n.Pricing.PricePerHour, Uptime: n.UptimePercent, LastSeen: at(n.LastSeen),
	}
	for _, d := range n.Devices {
		out.Devices = append(out.Devices, tui.DeviceLabel(d.Type, d.Name, d.GPUModel, d.VRAMTotalBytes, d.MemoryTotalBytes))
	}
	if m := n.LastMetrics; m != nil {
		p := metric(m)
		out.Load = &p
	}
	return out
}

func metric(m *rest.MetricPointJSON) tui.MetricPoint {
	return tui.MetricPoint{At: parseTime(m.At), CPU: m.CPUUsage, GPU: m.GPUUsage, Memory: m.MemoryUsage, ActiveJobs: m.ActiveJobs}
}

// Nodes implements tui.Source.
func (s *Source) Nodes(ctx context.Context, limit int) (tui.NodePage, error) {
	v := url.Values{"sort": {"reputation"}, "order": {"desc"}}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(min(limit, rest.MaxLimit)))
	}
	var page rest.NodeListJSON
	if err := s.get(ctx, "/api/nodes", v, &page); err != nil {
		return tui.NodePage{}, err
	}
	out := tui.NodePage{Nodes: make([]tui.Node, len(page.Nodes)), Total: page.Total, Online: page.Online}
	for i := range page.Nodes {
		out.Nodes[i] = node(&page.Nodes[i])
	}
	return out, nil
}

// Node implements tui.Source.
func (s *Source) Node(ctx context.Context, id string, from time.Time) (tui.Node, []tui.MetricPoint, error) {
	var n rest.NodeJSON
	if err := s.get(ctx, "/api/nodes/"+url.PathEscape(id), nil, &n); err != nil {
		return tui.Node{}, nil, err
	}
	v := url.Values{"limit": {strconv.Itoa(rest.MaxLimit)}}
	if !from.IsZero() {
		v.Set("from", from.UTC().Format(time.RFC3339Nano))
	}
	var ms rest.MetricListJSON
	if err := s.get(ctx, "/api/nodes/"+url.PathEscape(id)+"/metrics", v, &ms); err != nil {
		return tui.Node{}, nil, err
	}
	points := make([]tui.MetricPoint, len(ms.Metrics))
	for i := range ms.Metrics {
		points[i] = metric(&ms.Metrics[i])
	}
	return node(&n), points, nil
}

// Activity implements tui.Source; its cursor is the API's.
func (s *Source) Activity(ctx context.Context, limit int, cursor string) ([]tui.Activity, string, error) {
	v := url.Values{"limit": {strconv.Itoa(min(max(limit, 1), rest.MaxLimit))}}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	var page rest.ActivityListJSON
	if err := s.get(ctx, "/api/activity", v, &page); err != nil {
		return nil, "", err
	}
	out := make([]tui.Activity, len(page.Activity))
	for i, a := range page.Activity {
		out[i] = tui.Activity{Position: a.Position, At: parseTime(a.Time), Event: a.Event, JobID: a.JobID, NodeID: a.NodeID, Actor: a.Actor, Summary: a.Summary}
	}
	return out, page.NextCursor, nil
}

// Payments implements tui.Source.
func (s *Source) Payments(ctx context.Context, limit int) ([]tui.Payment, error) {
	var page rest.PaymentListJSON
	if err := s.get(ctx, "/api/payments", url.Values{"limit": {strconv.Itoa(min(max(limit, 1), rest.MaxLimit))}}, &page); err != nil {
		return nil, err
	}
	out := make([]tui.Payment, len(page.Payments))
	for i := range page.Payments {
		out[i] = payment(&page.Payments[i])
	}
	return out, nil
}

func payment(p *rest.PaymentJSON) tui.Payment {
	return tui.Payment{
		JobID: p.JobID, Status: p.Status, Amount: p.Amount, Lamports: p.Lamports, Payer: p.Payer,
		NodeID: p.NodeID, Payee: p.Payee, PayoutLamports: p.PayoutLamports, FeeLamports: p.FeeLamports,
		RefundLamports: p.RefundLamports, EscrowSignature: p.EscrowSignature, Signature: p.Signature,
		Reason: p.Reason, CreatedAt: at(p.CreatedAt), UpdatedAt: at(p.UpdatedAt), SettledAt: at(p.SettledAt),
	}
}

// serverConfig reads /api/config: each section's keys, the escrow
// address and the version.
type serverConfig struct {
	sections map[string]map[string]any
	escrow   string
	version  string
}

func (s *Source) config(ctx context.Context) (serverConfig, error) {
	var raw map[string]json.RawMessage
	if err := s.get(ctx, "/api/config", nil, &raw); err != nil {
		return serverConfig{}, err
	}
	c := serverConfig{sections: map[string]map[string]any{}}
	for k, v := range raw {
		switch k {
		case "escrow_address":
			_ = json.Unmarshal(v, &c.escrow)
		case "version":
			_ = json.Unmarshal(v, &c.version)
		default:
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			var sec map[string]any
			if dec.Decode(&sec) == nil {
				c.sections[k] = sec
			}
		}
	}
	return c, nil
}

// value is a key's value as the Settings view shows it ("" when absent).
func (c serverConfig) value(key string) string {
	sec, name, _ := strings.Cut(key, ".")
	switch v := c.sections[sec][name].(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		items := make([]string, len(v))
		for i, it := range v {
			items[i] = fmt.Sprint(it)
		}
		return fmt.Sprint(items)
	default:
		return fmt.Sprint(v)
	}
}

// keys lists the configuration's keys as "section.key": config.toml's
// order, then any this console does not know, sorted.
func (c serverConfig) keys() []string {
	var out []string
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k] = true
		sec, name, _ := strings.Cut(k, ".")
		if _, ok := c.sections[sec][name]; ok {
			out = append(out, k)
		}
	}
	var extra []string
	for sec, keys := range c.sections {
		for name := range keys {
			if !known[sec+"."+name] {
				extra = append(extra, sec+"."+name)
			}
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

// Chain implements tui.Source from /api/config (network, escrow wallet,
// treasury) and /api/health's solana component (state and detail:
// pending settlements, the chain's errors).
func (s *Source) Chain(ctx context.Context) (tui.Chain, error) {
	h, err := s.Health(ctx)
	if err != nil {
		return tui.Chain{}, err
	}
	c := tui.Chain{Status: "unknown", Note: "the server's health check has no solana component"}
	for _, comp := range h.Components {
		if comp.Name == "solana" {
			c.Status, c.Detail, c.Note = comp.Status, comp.Detail, ""
		}
	}
	cfg, cerr := s.config(ctx)
	if cerr != nil {
		// A server without /api/config: what the health check says.
		switch c.Status {
		case "disabled":
			c.Network = "disabled"
		case "unknown": // Network "": the view says it is unknown
		default:
			c.Enabled, c.Network = true, "unknown"
			c.Note = "the network and the escrow wallet are unknown: " + cerr.Error()
		}
		return c, nil
	}
	b := config.Blockchain{Network: cfg.value("blockchain.network"), SolanaRPCURL: cfg.value("blockchain.solana_rpc_url")}
	c.Enabled, c.Network = b.Enabled(), b.Network
	if !c.Enabled {
		c.Network = config.NetworkDisabled
		return c, nil
	}
	c.RPC = b.RPCEndpoint() // redacted by the server
	c.Escrow, c.Treasury, c.Confirmation = cfg.escrow, cfg.value("blockchain.treasury_address"), cfg.value("blockchain.confirmation")
	c.FeePercent, _ = strconv.Atoi(cfg.value("blockchain.platform_fee_percent"))
	if c.Escrow == "" {
		c.Note = "the server does not report its escrow wallet's address"
	}
	return c, nil
}

// Settings implements tui.Source: the server's configuration from
// /api/config (secrets masked by the server), then the console's own.
func (s *Source) Settings(ctx context.Context) (tui.Settings, error) {
	own := []tui.Setting{
		{Key: "console.api", Value: s.base.String()},
		{Key: "console.token", Value: config.Mask},
	}
	cfg, err := s.config(ctx)
	if err != nil {
		if h, herr := s.Health(ctx); herr == nil {
			own = append(own, tui.Setting{Key: "server.version", Value: h.Version})
		}
		return tui.Settings{Items: own,
			Note: "the server's configuration is not available (" + err.Error() + "); these are the console's settings"}, nil
	}
	var items []tui.Setting
	for _, k := range cfg.keys() {
		items = append(items, tui.Setting{Key: k, Value: cfg.value(k)})
	}
	if cfg.escrow != "" {
		items = append(items, tui.Setting{Key: "blockchain.escrow_address", Value: cfg.escrow})
	}
	items = append(items, tui.Setting{Key: "server.version", Value: cfg.version})
	return tui.Settings{Items: append(items, own...),
		Note: "the configuration of the server at " + s.base.String() + " (GET /api/config), secrets masked; the console.* keys are this console's"}, nil
}

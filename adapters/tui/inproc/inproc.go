// Package inproc is the console's Source inside the server's process: it
// reads the read model's query ports and the event store directly, and
// learns of new events from the projection runner (Observe), without ever
// blocking it.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/logbuf"
	"github.com/cyxwiz/central-server/adapters/tui"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
)

// Deps are the ports the console reads. Jobs, Nodes, Stats, Activity,
// Store and Codec are required.
type Deps struct {
	Jobs     projections.JobQueries
	Nodes    projections.NodeQueries
	Stats    projections.StatsQueries
	Activity projections.ActivityQueries
	Payments projections.PaymentQueries // nil: no payments
	// Store and Codec read a job's history.
	Store eventstore.Store
	Codec projections.Codec
	// Health reports each component; nil: the event store only.
	Health func(ctx context.Context) []tui.Component
	// Config is the effective configuration (Settings, Chain).
	Config config.Config
	// EscrowAddress is the escrow wallet's address (the settlement chain's
	// EscrowAddress); "" with the blockchain disabled.
	EscrowAddress string
	// Logs holds the server's log lines (nil: a fresh, empty buffer).
	Logs *logbuf.Buffer
	// MaxJobsPerNode is scheduler.max_jobs_per_node, for free slots.
	MaxJobsPerNode int
	Version        string
	Started        time.Time // for uptime (default: New's time)
	Now            func() time.Time
}

// Source is the in-process tui.Source.
type Source struct {
	d       Deps
	changes chan struct{}
	pos     atomic.Uint64
}

var _ tui.Source = (*Source)(nil)

// New returns the source; call Observe after every batch the read model
// applies.
func New(d Deps) *Source {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Started.IsZero() {
		d.Started = d.Now()
	}
	if d.Logs == nil {
		d.Logs = logbuf.New(0)
	}
	if d.MaxJobsPerNode <= 0 {
		d.MaxJobsPerNode = projections.DefaultMaxJobsPerNode
	}
	return &Source{d: d, changes: make(chan struct{}, 1)}
}

// Observe is told of each batch once it is visible to queries. It never
// blocks: a pending signal already stands for this batch.
func (s *Source) Observe(batch []projections.Envelope) {
	if len(batch) == 0 {
		return
	}
	s.pos.Store(batch[len(batch)-1].Position)
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// Changes implements tui.Source.
func (s *Source) Changes() <-chan struct{} { return s.changes }

// Logs implements tui.Source.
func (s *Source) Logs() *logbuf.Buffer { return s.d.Logs }

// Conn implements tui.Source: in process, the feed is always live.
func (s *Source) Conn() tui.Conn {
	return tui.Conn{Mode: "in-process", Live: true, Position: s.pos.Load()}
}

// Stats implements tui.Source.
func (s *Source) Stats(ctx context.Context) (tui.Stats, error) {
	st, err := s.d.Stats.NetworkStats(ctx, s.d.Now())
	if err != nil {
		return tui.Stats{}, err
	}
	return tui.Stats{
		NodesTotal: st.NodesTotal, NodesOnline: st.NodesOnline, JobsTotal: st.JobsTotal,
		JobsPending: st.JobsPending, JobsRunning: st.JobsRunning,
		JobsCompleted24h: st.JobsCompleted24h, JobsFailed24h: st.JobsFailed24h,
	}, nil
}

// Health implements tui.Source.
func (s *Source) Health(ctx context.Context) (tui.Health, error) {
	var comps []tui.Component
	if s.d.Health != nil {
		comps = s.d.Health(ctx)
	} else {
		c := tui.Component{Name: "eventstore", Status: "ok"}
		if _, err := s.d.Store.ReadStream(ctx, "$health-probe", 0, 1); err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
			c.Status, c.Detail = "down", err.Error()
		}
		comps = []tui.Component{c}
	}
	sort.Slice(comps, func(i, j int) bool { return comps[i].Name < comps[j].Name })
	return tui.Health{Status: tui.Overall(comps), Components: comps, Uptime: s.d.Now().Sub(s.d.Started), Version: s.d.Version}, nil
}

var statuses = map[string][]domain.JobStatus{
	"pending":     {domain.JobStatusPending},
	"assigned":    {domain.JobStatusAssigned},
	"running":     {domain.JobStatusRunning},
	"completed":   {domain.JobStatusCompleted},
	"failed":      {domain.JobStatusFailed},
	"cancelled":   {domain.JobStatusCancelled},
	"in_progress": projections.InProgress,
}

var types = map[string]domain.JobType{
	"training": domain.JobTypeTraining, "inference": domain.JobTypeInference,
	"evaluation": domain.JobTypeEvaluation, "preprocessing": domain.JobTypePreprocessing,
	"unknown": domain.JobTypeUnknown,
}

// Jobs implements tui.Source.
func (s *Source) Jobs(ctx context.Context, q tui.JobQuery) (tui.JobPage, error) {
	f := projections.JobFilter{PageSize: q.Limit}
	if q.Status != "" {
		st, ok := statuses[q.Status]
		if !ok {
			return tui.JobPage{}, fmt.Errorf("unknown job status %q", q.Status)
		}
		f.Statuses = st
	}
	if q.Type != "" {
		t, ok := types[q.Type]
		if !ok {
			return tui.JobPage{}, fmt.Errorf("unknown job type %q", q.Type)
		}
		f.Type = &t
	}
	jobs, _, total, err := s.d.Jobs.ListJobs(ctx, f)
	if err != nil {
		return tui.JobPage{}, err
	}
	out := tui.JobPage{Jobs: make([]tui.Job, len(jobs)), Total: total}
	for i := range jobs {
		out.Jobs[i] = JobOf(&jobs[i])
	}
	return out, nil
}

// JobOf converts a read-model job.
func JobOf(v *projections.JobView) tui.Job {
	return tui.Job{
		ID: v.ID, Owner: v.Owner, Type: v.Spec.Type.String(), Priority: v.Spec.Priority.String(), Status: v.Status.String(),
		NodeID: v.NodeID, Device: v.Spec.RequiredDevice.String(), Model: v.Spec.ModelDefinition, Dataset: v.Spec.DatasetURI,
		Progress: v.Progress, Epoch: v.Epoch, Epochs: v.Spec.Epochs, Attempts: v.Attempts, Requeues: v.Requeues,
		Payment: v.Spec.PaymentAmount, SubmittedAt: v.SubmittedAt, StartedAt: v.StartedAt, EndedAt: v.EndedAt,
		Reason: v.Reason, LastLog: v.LastLog, Metrics: v.Metrics,
	}
}

// historyLimit bounds the events a job's details read.
const historyLimit = 1000

// Job implements tui.Source.
func (s *Source) Job(ctx context.Context, id string) (tui.Job, []tui.Event, error) {
	v, found, err := s.d.Jobs.GetJob(ctx, id)
	if err != nil {
		return tui.Job{}, nil, err
	}
	if !found {
		return tui.Job{}, nil, fmt.Errorf("no job %s (or it was deleted; `cyxwiz-central audit job %s` prints its history)", id, id)
	}
	recs, err := s.d.Store.ReadStream(ctx, domain.JobStream(id), 0, historyLimit)
	if err != nil {
		return tui.Job{}, nil, err
	}
	events := make([]tui.Event, len(recs))
	for i := range recs {
		events[i] = s.event(&recs[i])
	}
	return JobOf(&v), events, nil
}

func (s *Source) event(r *eventstore.RecordedEvent) tui.Event {
	e := tui.Event{Position: r.Position, Revision: r.Revision, Time: r.Recorded, Name: r.Type, Actor: r.Metadata.Actor}
	v, err := s.d.Codec.Decode(r.Type, r.Data)
	if err != nil {
		e.Summary = "(unreadable: " + err.Error() + ")"
		return e
	}
	if ev, ok := v.(domain.Event); ok {
		e.Name, e.Summary = ev.EventName(), projections.Describe(ev)
	}
	return e
}

// Nodes implements tui.Source.
func (s *Source) Nodes(ctx context.Context, limit int) (tui.NodePage, error) {
	now := s.d.Now()
	p, err := s.d.Nodes.ListNodes(ctx, projections.NodeListFilter{Sort: projections.SortByReputation, Descending: true, PageSize: limit, Now: now})
	if err != nil {
		return tui.NodePage{}, err
	}
	out := tui.NodePage{Nodes: make([]tui.Node, len(p.Nodes)), Total: p.Total, Online: p.Online}
	for i := range p.Nodes {
		out.Nodes[i] = NodeOf(&p.Nodes[i], now, s.d.MaxJobsPerNode)
	}
	return out, nil
}

// NodeOf converts a read-model node.
func NodeOf(v *projections.NodeView, now time.Time, maxJobs int) tui.Node {
	n := tui.Node{
		ID: v.ID, Name: v.Spec.Name, Owner: v.Owner, Region: v.Spec.Region, Version: v.Spec.Version,
		Online: v.Online, Banned: v.Banned, Reputation: v.Reputation,
		ActiveJobs: v.ActiveJobs(), FreeSlots: v.FreeSlots(maxJobs), JobsCompleted: v.JobsCompleted,
		PricePerHour: v.Spec.Pricing.PricePerHour, Uptime: v.Uptime(now), LastSeen: v.LastSeen,
	}
	for _, d := range v.Spec.Devices {
		n.Devices = append(n.Devices, tui.DeviceLabel(d.Type.String(), d.Name, d.GPUModel, d.VRAMTotal, d.MemoryTotal))
	}
	if v.LastMetrics != nil {
		p := point(v.LastMetricsAt, v.LastMetrics)
		n.Load = &p
	}
	return n
}

func point(at time.Time, m *domain.MetricSample) tui.MetricPoint {
	return tui.MetricPoint{At: at, CPU: m.CPUUsage, GPU: m.GPUUsage, Memory: m.MemoryUsage, ActiveJobs: m.ActiveJobs}
}

// Node implements tui.Source.
func (s *Source) Node(ctx context.Context, id string, from time.Time) (tui.Node, []tui.MetricPoint, error) {
	v, found, err := s.d.Nodes.GetNode(ctx, id)
	if err != nil {
		return tui.Node{}, nil, err
	}
	if !found {
		return tui.Node{}, nil, fmt.Errorf("no node %s", id)
	}
	ms, err := s.d.Nodes.NodeMetrics(ctx, id, from, time.Time{})
	if err != nil {
		return tui.Node{}, nil, err
	}
	points := make([]tui.MetricPoint, len(ms))
	for i := range ms {
		points[i] = point(ms[i].At, &ms[i].Sample)
	}
	return NodeOf(&v, s.d.Now(), s.d.MaxJobsPerNode), points, nil
}

// Activity implements tui.Source.
// Its cursor is the position to read before, in decimal.
func (s *Source) Activity(ctx context.Context, limit int, cursor string) ([]tui.Activity, string, error) {
	var before uint64
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("bad activity cursor %q", cursor)
		}
		before = n
	}
	acts, err := s.d.Activity.RecentActivity(ctx, limit, before)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(acts) > 0 && len(acts) >= projections.PageSize(limit) && acts[len(acts)-1].Position > 1 {
		next = strconv.FormatUint(acts[len(acts)-1].Position, 10)
	}
	out := make([]tui.Activity, len(acts))
	for i, a := range acts {
		out[i] = tui.Activity{Position: a.Position, At: a.At, Event: a.Event, JobID: a.JobID, NodeID: a.NodeID, Actor: a.Actor, Summary: a.Summary}
	}
	return out, next, nil
}

// Payments implements tui.Source.
func (s *Source) Payments(ctx context.Context, limit int) ([]tui.Payment, error) {
	if s.d.Payments == nil {
		return nil, nil
	}
	ps, err := s.d.Payments.ListPayments(ctx, "", limit, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]tui.Payment, len(ps))
	for i := range ps {
		out[i] = PaymentOf(&ps[i])
	}
	return out, nil
}

// PaymentOf converts a read-model payment.
func PaymentOf(p *projections.PaymentView) tui.Payment {
	return tui.Payment{
		JobID: p.JobID, Status: p.Status, Amount: p.Amount, Lamports: p.Lamports, Payer: p.Payer,
		NodeID: p.NodeID, Payee: p.Payee, PayoutLamports: p.PayoutLamports, FeeLamports: p.FeeLamports,
		RefundLamports: p.RefundLamports, EscrowSignature: p.EscrowSignature, Signature: p.Signature,
		Reason: p.Reason, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, SettledAt: p.SettledAt,
	}
}

// Chain implements tui.Source, from the configuration, the escrow
// address and the health check.
func (s *Source) Chain(ctx context.Context) (tui.Chain, error) {
	b := s.d.Config.Blockchain
	c := tui.Chain{Enabled: b.Enabled(), Network: b.Network, Status: "disabled"}
	if c.Enabled {
		c.RPC = config.Config{Blockchain: b}.Redacted().Blockchain.RPCEndpoint()
		c.Escrow, c.Treasury, c.FeePercent, c.Confirmation = s.d.EscrowAddress, b.TreasuryAddress, b.PlatformFeePercent, b.Confirmation
		if c.Escrow == "" {
			c.Note = "the escrow wallet's address is unknown (its keypair is at " + b.PayerKeypairPath + ")"
		}
	}
	if h, err := s.Health(ctx); err == nil {
		for _, comp := range h.Components {
			if comp.Name == "solana" {
				c.Status, c.Detail = comp.Status, comp.Detail
			}
		}
	}
	return c, nil
}

// Settings implements tui.Source: the configuration, redacted.
func (s *Source) Settings(context.Context) (tui.Settings, error) {
	return tui.Settings{Items: Settings(s.d.Config)}, nil
}

// Settings lists every key of cfg with its value, secrets masked
// (config.Config.Redacted).
func Settings(cfg config.Config) []tui.Setting {
	var out []tui.Setting
	for _, sec := range cfg.LogValue().Group() { // LogValue redacts
		for _, a := range sec.Value.Group() {
			v := a.Value.Resolve()
			val := v.String()
			if v.Kind() == slog.KindAny {
				if items, ok := v.Any().([]string); ok {
					val = fmt.Sprint(items)
				}
			}
			out = append(out, tui.Setting{Key: sec.Key + "." + a.Key, Value: val})
		}
	}
	return out
}

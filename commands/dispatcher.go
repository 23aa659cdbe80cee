package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// Order is an assignment pushed to a node.
type Order struct {
	NodeID       string
	JobID        string
	Spec         domain.JobSpec
	Token        string // the P2P token the job's client will present to the node
	TokenExpires time.Time
}

// NodeClient pushes an assignment to a node's control endpoint (the node's
// own NodeService.AssignJob). An error means the node could not be reached
// or answered garbage; a refusal is accepted=false with the node's reason.
type NodeClient interface {
	AssignJob(ctx context.Context, address string, o Order) (accepted bool, reason string, err error)
}

// ErrAddressRefused marks a node address the server's address policy
// refuses to push to: a push there is refused at once, not retried.
var ErrAddressRefused = errors.New("node address refused by the address policy")

// P2PTokens mints the token a client presents to the node running its job.
// Minting for the same assignment must give the same token.
type P2PTokens interface {
	P2PToken(jobID, nodeID, owner string, assignedAt time.Time) (token string, expires time.Time, err error)
}

// DispatchConfig tunes the dispatcher.
type DispatchConfig struct {
	PortOffset  int           // control port = advertised port + offset
	Attempts    int           // tries per assignment before giving up
	Backoff     time.Duration // first pause between tries; doubles
	CallTimeout time.Duration
}

// Dispatcher pushes assignments to nodes: acceptance records JobAccepted;
// a refusal, or a node unreachable after every attempt, records
// JobRejected and puts the job back in the queue.
type Dispatcher struct {
	h      *Handler
	client NodeClient
	tokens P2PTokens
	cfg    DispatchConfig
	log    *slog.Logger
	wg     sync.WaitGroup
	sleep  func(ctx context.Context, d time.Duration) error
}

// NewDispatcher builds a Dispatcher.
func NewDispatcher(h *Handler, client NodeClient, tokens P2PTokens, cfg DispatchConfig, log *slog.Logger) *Dispatcher {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 1
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{h: h, client: client, tokens: tokens, cfg: cfg, log: log, sleep: sleepCtx}
}

// ControlAddress is where a node listens for AssignJob: its advertised
// address with the port moved by offset.
func ControlAddress(spec domain.NodeSpec, offset int) string {
	return net.JoinHostPort(spec.IPAddress, strconv.Itoa(int(spec.Port)+offset))
}

// Dispatch pushes the job's assignment in the background.
func (d *Dispatcher) Dispatch(ctx context.Context, jobID, nodeID string) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.DispatchNow(ctx, jobID, nodeID); err != nil && ctx.Err() == nil {
			d.log.Warn("dispatch", "job", jobID, "node", nodeID, "err", err)
		}
	}()
}

// Wait blocks until every background dispatch has finished.
func (d *Dispatcher) Wait() { d.wg.Wait() }

// DispatchNow pushes the assignment and records the outcome.
func (d *Dispatcher) DispatchNow(ctx context.Context, jobID, nodeID string) error {
	job, err := d.h.LoadJob(ctx, jobID)
	if err != nil {
		return err
	}
	if job.Node() != nodeID || job.Accepted() || job.Status() != domain.JobStatusAssigned {
		return nil // the assignment moved on before we got to it
	}
	node, err := d.h.LoadNode(ctx, nodeID)
	if err != nil {
		return err
	}
	token, expires, err := d.tokens.P2PToken(jobID, nodeID, job.Owner(), job.AssignedAt())
	if err != nil {
		return fmt.Errorf("mint p2p token: %w", err)
	}
	assignment := job.Attempts()
	order := Order{NodeID: nodeID, JobID: jobID, Spec: job.Spec(), Token: token, TokenExpires: expires}
	addr := ControlAddress(node.Spec(), d.cfg.PortOffset)

	var lastErr error
	backoff := d.cfg.Backoff
	for try := 1; try <= d.cfg.Attempts; try++ {
		callCtx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		accepted, reason, err := d.client.AssignJob(callCtx, addr, order)
		cancel()
		if err == nil {
			if accepted {
				_, _, err = d.h.AcceptAttempt(ctx, jobID, nodeID, assignment)
				return ignoreMovedOn(err)
			}
			if reason == "" {
				reason = "the node declined"
			}
			_, _, err = d.h.RejectAttempt(ctx, jobID, nodeID, assignment, reason)
			return ignoreMovedOn(err)
		}
		lastErr = err
		if errors.Is(err, ErrAddressRefused) {
			_, _, err = d.h.RejectAttempt(ctx, jobID, nodeID, assignment, fmt.Sprintf("not pushed to %s: %v", addr, err))
			return ignoreMovedOn(err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if try < d.cfg.Attempts {
			if err := d.sleep(ctx, backoff); err != nil {
				return err
			}
			backoff *= 2
		}
	}
	_, _, err = d.h.RejectAttempt(ctx, jobID, nodeID, assignment, fmt.Sprintf("unreachable at %s after %d attempts: %v", addr, d.cfg.Attempts, lastErr))
	return ignoreMovedOn(err)
}

// ignoreMovedOn drops errors saying the job moved on meanwhile (cancelled,
// reported on, requeued): the outcome we wanted to record no longer applies.
func ignoreMovedOn(err error) error {
	if errors.Is(err, domain.ErrFailedPrecondition) || errors.Is(err, domain.ErrPermissionDenied) {
		return nil
	}
	return err
}

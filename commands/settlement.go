package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
)

// SettlementConfig tunes the settlement saga.
type SettlementConfig struct {
	Treasury     string        // receives the platform fee
	FeePercent   int           // platform fee, whole percent of each payout
	Confirmation string        // level a settlement must reach: processed, confirmed (default) or finalized
	Interval     time.Duration // how often pending settlements are driven (default 1s)
	MaxBackoff   time.Duration // longest pause after chain failures (default 30s)
	Workers      int           // settlements driven concurrently (default 32)
	// Leading reports whether this replica drives settlements (nil =
	// always). Every replica follows the log, so a new leader starts
	// from where it already is, not from the log's start.
	Leading func() bool
}

// SettlementHealth is the saga's view of the chain for health checks.
type SettlementHealth struct {
	Degraded bool   // the last chain call failed
	Detail   string // why, or how many settlements are pending
	Pending  int    // settlements not yet confirmed
}

// Settlement is the settlement saga: a process manager that follows the
// log (from its start, so a restart resumes every unfinished settlement)
// and settles each escrowed job once it ends — on JobCompleted it pays the
// node's wallet its share and the treasury the fee in one transaction with
// a Memo naming the job; on JobFailed or JobCancelled it refunds the payer.
//
// Exactly once: the signed transaction, its signature and its last valid
// block height are recorded (PaymentReleaseSubmitted, RefundSubmitted)
// before the first broadcast; the same bytes are broadcast again until the
// signature reaches the confirmation level (PaymentReleased,
// PaymentRefunded). Only once the chain's block height has passed the last
// valid block height and the signature is still unknown — so it can never
// land — is a new transaction signed and recorded in its place. The
// payment aggregate refuses a refund of a payment being released and the
// reverse, and the store's expected revisions keep concurrent sagas from
// both submitting.
type Settlement struct {
	h     *Handler
	chain Chain
	cfg   SettlementConfig
	log   *slog.Logger

	mu       sync.Mutex
	funded   map[string]bool      // payment streams funded and not settled
	due      map[string]bool      // funded jobs that ended or have a transaction out
	next     map[string]time.Time // earliest next drive of a job (backoff)
	fails    map[string]int       // consecutive chain failures of a job
	inflight map[string]bool
	live     bool // the subscription caught up with the log
	chainErr error
	kick     chan struct{}
}

// NewSettlement builds the saga over chain (which must not be nil).
func NewSettlement(h *Handler, chain Chain, cfg SettlementConfig, log *slog.Logger) *Settlement {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.Confirmation == "" {
		cfg.Confirmation = domain.ConfirmationConfirmed
	}
	return &Settlement{h: h, chain: chain, cfg: cfg, log: log,
		funded: map[string]bool{}, due: map[string]bool{}, next: map[string]time.Time{},
		fails: map[string]int{}, inflight: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// Health reports whether the chain answered the saga's last call.
func (s *Settlement) Health() SettlementHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := SettlementHealth{Pending: len(s.due)}
	switch {
	case s.chainErr != nil:
		h.Degraded, h.Detail = true, fmt.Sprintf("%d settlement(s) waiting: %v", len(s.due), s.chainErr)
	case !s.live:
		h.Detail = "reading the log for unfinished settlements"
	default:
		h.Detail = fmt.Sprintf("%d settlement(s) pending", len(s.due))
	}
	return h
}

// Pending returns the jobs whose settlement is not yet confirmed.
func (s *Settlement) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.due)
}

// Run follows the log and drives settlements until ctx ends.
func (s *Settlement) Run(ctx context.Context) error {
	sub, err := s.h.store.SubscribeAll(ctx, 0)
	if err != nil {
		return fmt.Errorf("settlement: subscribe: %w", err)
	}
	defer sub.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.drive(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-sub.C():
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					return fmt.Errorf("settlement: subscription: %w", err)
				}
				return nil
			}
			if m.CaughtUp {
				s.mu.Lock()
				s.live = true
				s.mu.Unlock()
				s.Kick()
				continue
			}
			if s.observe(m.Event) {
				s.Kick()
			}
		}
	}
}

// Kick asks for a drive of due settlements soon; it never blocks.
func (s *Settlement) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// observe folds one recorded event into the saga's work list; it reports
// whether there is new work.
func (s *Settlement) observe(rec *eventstore.RecordedEvent) bool {
	var job string
	switch rec.Type {
	case "EscrowFunded", "PaymentReleaseSubmitted", "RefundSubmitted", "PaymentReleased", "PaymentRefunded",
		"PaymentFailed", "JobCompleted", "JobFailed", "JobCancelled",
		"DepositRefundRequested", "DepositRefundSubmitted", "DepositRefunded", "DepositRefundFailed":
	default:
		return false
	}
	v, err := s.h.codec.Decode(rec.Type, rec.Data)
	if err != nil {
		s.log.Error("settlement: undecodable event", "stream", rec.Stream, "type", rec.Type, "err", err)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := v.(type) {
	case domain.EscrowFunded:
		s.funded[e.JobID] = true
		return false
	case domain.JobCompleted:
		job = e.JobID
	case domain.JobFailed:
		job = e.JobID
	case domain.JobCancelled:
		job = e.JobID
	case domain.PaymentReleaseSubmitted:
		job = e.JobID
	case domain.RefundSubmitted:
		job = e.JobID
	case domain.PaymentReleased:
		s.settled(e.JobID)
		return false
	case domain.PaymentRefunded:
		s.settled(e.JobID)
		return false
	case domain.PaymentFailed:
		s.settled(e.JobID)
		return false
	case domain.DepositRefundRequested, domain.DepositRefundSubmitted:
		return s.depositDue(rec.Stream)
	case domain.DepositRefunded, domain.DepositRefundFailed:
		s.settled(rec.Stream)
		return false
	default:
		return false
	}
	if !s.funded[job] || s.due[job] {
		return false
	}
	s.due[job] = true
	return true
}

func (s *Settlement) settled(jobID string) {
	delete(s.funded, jobID)
	delete(s.due, jobID)
	delete(s.next, jobID)
	delete(s.fails, jobID)
}

// drive settles due jobs on every kick and tick until ctx ends.
func (s *Settlement) drive(ctx context.Context) {
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	var lastProbe time.Time
	probeEvery := max(5*time.Second, s.cfg.Interval)
	runEvery(ctx, s.cfg.Interval, s.kick, func(ctx context.Context) {
		if s.cfg.Leading != nil && !s.cfg.Leading() {
			return
		}
		now := time.Now()
		s.mu.Lock()
		var jobs []string
		for id := range s.due {
			if !s.inflight[id] && !now.Before(s.next[id]) {
				s.inflight[id] = true
				jobs = append(jobs, id)
			}
		}
		idle := len(s.inflight) == 0
		s.mu.Unlock()
		if idle && now.Sub(lastProbe) >= probeEvery {
			// Nothing to settle: ask the chain anyway, so health tells an
			// operator about an outage before the next payout meets it.
			lastProbe = now
			s.probe(ctx)
		}
		for _, id := range jobs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				s.mu.Lock()
				for _, id := range jobs {
					delete(s.inflight, id)
				}
				s.mu.Unlock()
				return
			}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				s.step(ctx, id)
			}()
		}
	})
}

// probe reads the chain's block height to keep Health current.
func (s *Settlement) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := s.chain.BlockHeight(ctx)
	if ctx.Err() != nil && err != nil && !errors.Is(err, ErrChainUnavailable) {
		err = fmt.Errorf("%w: %v", ErrChainUnavailable, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, ErrChainUnavailable):
		s.chainErr = err
	case err == nil:
		s.chainErr = nil
	}
}

// step drives one settlement one step and books the outcome; jobID is the
// work list's key: a job id, or a deposit's stream (deposit-<signature>).
func (s *Settlement) step(ctx context.Context, jobID string) {
	var done bool
	var err error
	if sig, ok := strings.CutPrefix(jobID, depositStreamPrefix); ok {
		done, err = s.RefundDeposit(ctx, sig)
	} else {
		done, err = s.Settle(ctx, jobID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, jobID)
	switch {
	case err != nil && ctx.Err() != nil:
	case errors.Is(err, ErrChainUnavailable):
		s.chainErr = err
		s.fails[jobID]++
		s.next[jobID] = time.Now().Add(s.backoff(s.fails[jobID]))
		s.log.Warn("settlement: chain unavailable; retrying", "job", jobID, "in", s.backoff(s.fails[jobID]), "err", err)
	case err != nil:
		s.fails[jobID]++
		s.next[jobID] = time.Now().Add(s.backoff(s.fails[jobID]))
		s.log.Warn("settlement step failed; retrying", "job", jobID, "err", err)
	default:
		s.chainErr = nil
		delete(s.fails, jobID)
		delete(s.next, jobID)
		if done {
			delete(s.due, jobID)
		}
	}
}

// backoff is the pause after n consecutive failures: Interval doubled per
// failure, at most MaxBackoff.
func (s *Settlement) backoff(n int) time.Duration {
	d := s.cfg.Interval
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// Settle takes one step in jobID's settlement: it submits the payout or
// the refund once the job has ended, rebroadcasts a submitted transaction,
// records its confirmation, or re-signs it after it expired unlanded. done
// is true once there is nothing left to do for the job (settled, never
// funded, or not ended yet).
func (s *Settlement) Settle(ctx context.Context, jobID string) (done bool, err error) {
	p, err := s.h.LoadPayment(ctx, jobID)
	if err != nil {
		return false, err
	}
	switch p.Status() {
	case domain.PaymentStatusFunded:
		job, err := s.h.LoadJob(ctx, jobID)
		if err != nil {
			return false, err
		}
		switch job.Status() {
		case domain.JobStatusCompleted:
			err = s.submitRelease(ctx, p, job, domain.PendingTx{})
		case domain.JobStatusFailed, domain.JobStatusCancelled:
			err = s.submitRefund(ctx, p, job.Status().String()+": "+job.Reason(), domain.PendingTx{})
		default:
			return true, nil // not ended: its terminal event puts it back
		}
		if err != nil {
			return false, err
		}
		// A chain that confirms fast has confirmed already: look once now
		// rather than a poll interval later.
		if p, err = s.h.LoadPayment(ctx, jobID); err != nil {
			return false, err
		}
		if pt, ok := p.Pending(); ok {
			return s.advance(ctx, p, pt)
		}
		return p.Status().Terminal(), nil
	case domain.PaymentStatusReleasing, domain.PaymentStatusRefunding:
		pt, _ := p.Pending()
		return s.advance(ctx, p, pt)
	}
	return true, nil
}

// reached reports whether st satisfies the configured confirmation level.
func (s *Settlement) reached(st TxStatus) bool {
	switch s.cfg.Confirmation {
	case domain.ConfirmationFinalized:
		return st == TxFinalized
	case "processed":
		return st == TxProcessed || st == TxConfirmed || st == TxFinalized
	}
	return st == TxConfirmed || st == TxFinalized
}

// advance drives a job's submitted payout or refund (see drivePending).
func (s *Settlement) advance(ctx context.Context, p *domain.Payment, pt domain.PendingTx) (bool, error) {
	return s.drivePending(ctx, pendingSettlement{key: p.JobID(), pt: pt,
		confirm: func(ctx context.Context) error {
			_, _, err := s.h.updatePayment(ctx, p.JobID(), func(p *domain.Payment) ([]domain.Event, error) {
				return p.Confirm(pt.Signature, s.cfg.Confirmation, s.h.now())
			})
			return err
		},
		fail: func(ctx context.Context, reason string) error {
			_, _, err := s.h.updatePayment(ctx, p.JobID(), func(p *domain.Payment) ([]domain.Event, error) {
				return p.Fail(reason, s.h.now())
			})
			return err
		},
		resign: func(ctx context.Context) error {
			if pt.Kind == domain.SettleRefund {
				return s.submitRefund(ctx, p, pt.Reason, pt)
			}
			return s.submitRelease(ctx, p, nil, pt)
		},
	})
}

// pendingSettlement is a signed, recorded settlement transaction being
// driven to confirmation — a job's payout or refund, or a deposit's refund
// — with the decisions that record its outcome.
type pendingSettlement struct {
	key     string // the job id, or the deposit's stream
	pt      domain.PendingTx
	confirm func(context.Context) error
	fail    func(ctx context.Context, reason string) error
	resign  func(context.Context) error
}

// drivePending moves a submitted transaction on: confirmed → recorded;
// failed on chain → failed; unknown but still valid → broadcast the same
// bytes again; unknown and expired → re-sign.
func (s *Settlement) drivePending(ctx context.Context, ps pendingSettlement) (bool, error) {
	pt := ps.pt
	st, err := s.chain.Status(ctx, pt.Signature)
	if err != nil {
		return false, err
	}
	switch {
	case s.reached(st):
		err := ps.confirm(ctx)
		if err == nil {
			s.log.Info("settlement confirmed", "settlement", ps.key, "kind", pt.Kind, "signature", pt.Signature, "attempt", pt.Attempt)
		}
		return err == nil, err
	case st == TxFailed:
		err := ps.fail(ctx, fmt.Sprintf("the %s transaction %s failed on chain; no funds moved", pt.Kind, pt.Signature))
		if err == nil {
			s.log.Error("settlement failed on chain: needs an operator", "settlement", ps.key, "kind", pt.Kind, "signature", pt.Signature)
		}
		return err == nil, err
	case st != TxNotFound:
		return false, nil // landed; waiting for the confirmation level
	}
	height, err := s.chain.BlockHeight(ctx)
	if err != nil {
		return false, err
	}
	if height <= pt.LastValidBlockHeight {
		// Still valid: send the same bytes again (the chain dedupes).
		if err := s.chain.Broadcast(ctx, pt.Tx); err != nil {
			if errors.Is(err, ErrChainUnavailable) {
				return false, err
			}
			s.log.Warn("settlement rebroadcast refused", "settlement", ps.key, "signature", pt.Signature, "err", err)
		}
		return false, nil
	}
	// Expired by height: if the signature is still unknown now, read after
	// the height, it can never land — sign a new transaction in its place.
	if st, err = s.chain.Status(ctx, pt.Signature); err != nil || st != TxNotFound {
		return false, err
	}
	s.log.Info("settlement transaction expired unlanded; re-signing", "settlement", ps.key, "kind", pt.Kind,
		"signature", pt.Signature, "last_valid_block_height", pt.LastValidBlockHeight, "block_height", height)
	return false, ps.resign(ctx)
}

// submitRelease signs the payout, records it, then broadcasts it. With
// prev set it re-signs prev's transfers in its place; otherwise the split
// is computed from the job's node and the fee.
func (s *Settlement) submitRelease(ctx context.Context, p *domain.Payment, job *domain.Job, prev domain.PendingTx) error {
	ev := domain.PaymentReleaseSubmitted{JobID: p.JobID(), NodeID: p.NodeID(), Payee: prev.Payee, Treasury: prev.Treasury,
		PayoutLamports: prev.PayoutLamports, FeeLamports: prev.FeeLamports, Transfers: prev.Transfers, Memo: prev.Memo, Replaces: prev.Signature}
	if prev.Signature == "" {
		node, err := s.h.LoadNode(ctx, job.Node())
		if err != nil {
			return err
		}
		wallet := node.Spec().WalletAddress
		if werr := s.chain.ValidAddress(wallet); wallet == "" || werr != nil {
			_, _, err := s.h.updatePayment(ctx, p.JobID(), func(p *domain.Payment) ([]domain.Event, error) {
				return p.Fail(fmt.Sprintf("node %s has no valid wallet_address (%q) to pay; the escrow stays put", job.Node(), wallet), s.h.now())
			})
			return err
		}
		payout, fee := domain.SplitPayout(p.Lamports(), s.cfg.FeePercent)
		ev.NodeID, ev.Payee, ev.Treasury, ev.PayoutLamports, ev.FeeLamports = job.Node(), wallet, s.cfg.Treasury, payout, fee
		ev.Transfers = []domain.PaymentTransfer{{To: wallet, Lamports: payout}}
		if fee > 0 {
			ev.Transfers = append(ev.Transfers, domain.PaymentTransfer{To: s.cfg.Treasury, Lamports: fee})
		}
		ev.Memo = "cyxwiz job " + p.JobID() + " payout"
	}
	tx, err := s.chain.SignTransfers(ctx, toTransfers(ev.Transfers), ev.Memo)
	if err != nil {
		return err
	}
	ev.Signature, ev.Tx, ev.LastValidBlockHeight, ev.At = tx.Signature, tx.Raw, tx.LastValidBlockHeight, s.h.now()
	return s.submit(ctx, p.JobID(), tx, func(p *domain.Payment) ([]domain.Event, error) { return p.SubmitRelease(ev) })
}

// submitRefund signs a refund of the whole escrow to the payer, records
// it, then broadcasts it (re-signing prev when set).
func (s *Settlement) submitRefund(ctx context.Context, p *domain.Payment, reason string, prev domain.PendingTx) error {
	ev := domain.RefundSubmitted{JobID: p.JobID(), Payer: p.Payer(), RefundLamports: p.Lamports(), Reason: reason,
		Transfers: []domain.PaymentTransfer{{To: p.Payer(), Lamports: p.Lamports()}},
		Memo:      "cyxwiz job " + p.JobID() + " refund", Replaces: prev.Signature}
	tx, err := s.chain.SignTransfers(ctx, toTransfers(ev.Transfers), ev.Memo)
	if err != nil {
		return err
	}
	ev.Signature, ev.Tx, ev.LastValidBlockHeight, ev.At = tx.Signature, tx.Raw, tx.LastValidBlockHeight, s.h.now()
	return s.submit(ctx, p.JobID(), tx, func(p *domain.Payment) ([]domain.Event, error) { return p.SubmitRefund(ev) })
}

// submit records a signed transaction and only then broadcasts it. If the
// decision is refused (another saga got there first), the transaction is
// dropped unsent: it was never broadcast, so it can never land.
func (s *Settlement) submit(ctx context.Context, jobID string, tx SignedTx, decide func(*domain.Payment) ([]domain.Event, error)) error {
	return s.recordThenBroadcast(ctx, jobID, tx, func() (uint64, error) {
		_, res, err := s.h.updatePayment(ctx, jobID, decide)
		return res.Position, err
	})
}

// recordThenBroadcast runs record (the append of the Submitted event
// holding tx) and broadcasts tx only once it is recorded; a refused record
// drops tx unsent.
func (s *Settlement) recordThenBroadcast(ctx context.Context, key string, tx SignedTx, record func() (uint64, error)) error {
	pos, err := record()
	if err != nil {
		if errors.Is(err, domain.ErrFailedPrecondition) {
			s.log.Info("settlement changed under us; dropping an unsent transaction", "settlement", key, "signature", tx.Signature, "err", err)
			return nil
		}
		return err
	}
	if pos == 0 {
		return nil
	}
	if err := s.chain.Broadcast(ctx, tx.Raw); err != nil {
		// Recorded: the next step broadcasts it again, or re-signs it.
		if errors.Is(err, ErrChainUnavailable) {
			return err
		}
		s.log.Warn("settlement broadcast refused", "settlement", key, "signature", tx.Signature, "err", err)
	}
	return nil
}

func toTransfers(ts []domain.PaymentTransfer) []Transfer {
	out := make([]Transfer, len(ts))
	for i, t := range ts {
		out[i] = Transfer{To: t.To, Lamports: t.Lamports}
	}
	return out
}

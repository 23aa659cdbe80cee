package memory

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"time"

	"github.com/cyxwiz/central-server/projections"
)

// payments is the payments part of the model: every payment view by job,
// and the jobs each wallet paid or was paid for.
type payments struct {
	views   map[string]*projections.PaymentView
	wallets map[string]map[string]struct{} // wallet → job ids it is payer or payee of
}

func newPayments() payments {
	return payments{views: make(map[string]*projections.PaymentView), wallets: make(map[string]map[string]struct{})}
}

// apply folds e (a payment event of job) under the model's write lock.
func (p *payments) apply(job string, e *projections.Envelope) {
	v := p.views[job]
	opens := projections.OpensPayment(e.Event)
	switch {
	case v == nil && !opens, v != nil && opens:
		return // an event of a payment never opened, or a stream opened twice
	case v == nil:
		v = &projections.PaymentView{}
		p.views[job] = v
	}
	projections.ApplyPayment(v, *e)
	p.index(v.Payer, job)
	p.index(v.Payee, job)
}

func (p *payments) index(wallet, job string) {
	if wallet == "" {
		return
	}
	jobs := p.wallets[wallet]
	if jobs == nil {
		jobs = make(map[string]struct{})
		p.wallets[wallet] = jobs
	}
	jobs[job] = struct{}{}
}

// ListPayments implements projections.PaymentQueries: newest first by
// UpdatedAt (then job id, descending), updated strictly before before
// (zero: from the newest). It scans every payment, keeping the page's
// worth in a heap: O(n log limit), copying only the page.
func (m *Model) ListPayments(_ context.Context, status string, limit int, before time.Time) ([]projections.PaymentView, error) {
	if err := projections.CheckPaymentStatus(status); err != nil {
		return nil, err
	}
	size := projections.PageSize(limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	h := &newestPayments{}
	for _, v := range m.payments.views {
		if (status != "" && v.Status != status) || (!before.IsZero() && !v.UpdatedAt.Before(before)) {
			continue
		}
		switch {
		case h.Len() < size:
			heap.Push(h, v)
		case paymentNewer(v, (*h)[0]):
			(*h)[0] = v
			heap.Fix(h, 0)
		}
	}
	out := make([]projections.PaymentView, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = *heap.Pop(h).(*projections.PaymentView)
	}
	return out, nil
}

// paymentNewer orders ListPayments: a before b.
func paymentNewer(a, b *projections.PaymentView) bool {
	if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
		return c > 0
	}
	return a.JobID > b.JobID
}

// newestPayments is a heap whose root is the oldest payment it keeps.
type newestPayments []*projections.PaymentView

func (h newestPayments) Len() int           { return len(h) }
func (h newestPayments) Less(i, j int) bool { return paymentNewer(h[j], h[i]) }
func (h newestPayments) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *newestPayments) Push(x any)        { *h = append(*h, x.(*projections.PaymentView)) }
func (h *newestPayments) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// WalletPayments implements projections.WalletQueries.
func (m *Model) WalletPayments(_ context.Context, wallet string, limit, offset int) ([]projections.WalletPayment, int, error) {
	if err := projections.CheckOffset(offset); err != nil {
		return nil, 0, err
	}
	size := projections.PageSize(limit)
	m.mu.RLock()
	var all []projections.WalletPayment
	for job := range m.payments.wallets[wallet] {
		v := m.payments.views[job]
		for _, role := range []projections.PaymentRole{projections.RolePayer, projections.RolePayee} {
			if projections.InWalletHistory(v, wallet, role) {
				all = append(all, projections.WalletPayment{Role: role, Payment: *v})
			}
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(all, func(a, b projections.WalletPayment) int {
		if c := cmp.Compare(b.Payment.OpenedPosition, a.Payment.OpenedPosition); c != 0 {
			return c
		}
		return cmp.Compare(a.Role, b.Role)
	})
	lo := min(offset, len(all))
	return slices.Clip(all[lo:min(lo+size, len(all))]), len(all), nil
}

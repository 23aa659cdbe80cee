package rest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"

	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// TestPaymentsFromTheReadModel: /api/payments shows the folded settlement
// history of a real read model, every field.
func TestPaymentsFromTheReadModel(t *testing.T) {
	envs, want := readmodeltest.PaymentHistory()
	model := memory.New(memory.Config{})
	if err := model.Apply(t.Context(), envs, envs[len(envs)-1].Position); err != nil {
		t.Fatal(err)
	}
	x := newEnv(t, func(d *rest.Deps, _ *rest.Options) { d.Payments = model })

	var page rest.PaymentListJSON
	x.get("/api/payments?status=released", http.StatusOK, &page)
	if len(page.Payments) != 1 {
		t.Fatalf("released payments: %+v", page.Payments)
	}
	p, w := page.Payments[0], want["pay-1"]
	if p.JobID != "pay-1" || p.Amount != 1.5 || p.Lamports != 1_500_000_000 || p.Payer != readmodeltest.WalletAlice ||
		p.NodeID != "n1" || p.Payee != readmodeltest.WalletN1 || p.PayoutLamports != 1_350_000_000 || p.FeeLamports != 150_000_000 ||
		p.RefundLamports != 0 || p.EscrowSignature != "dep-1" || p.Signature != "rel-1b" || p.Reason != "" ||
		p.CreatedAt == nil || !p.CreatedAt.Equal(w.CreatedAt) || p.SettledAt == nil || !p.SettledAt.Equal(w.SettledAt) ||
		p.UpdatedAt == nil || !p.UpdatedAt.Equal(w.UpdatedAt) {
		t.Fatalf("pay-1 = %+v\nwant %+v", p, w)
	}

	var ids []string
	payPages(x, 3, func(pg rest.PaymentListJSON) {
		for _, p := range pg.Payments {
			ids = append(ids, p.JobID)
			if p.Status == "refunded" && (p.RefundLamports != 250_000_000 || p.Reason != "job cancelled: typo" || p.SettledAt == nil) {
				t.Fatalf("pay-2 = %+v", p)
			}
		}
	})
	if wantIDs := []string{"pay-7", "pay-6", "pay-4", "pay-1", "pay-5", "pay-2", "pay-3", "pay-8"}; !slices.Equal(ids, wantIDs) {
		t.Fatalf("payments %v; want %v", ids, wantIDs)
	}
}

// TestPaymentsPagingAcrossTies: payments updated at the same instant are
// never lost between pages, whatever the page size.
func TestPaymentsPagingAcrossTies(t *testing.T) {
	h := readmodeltest.NewHistory()
	var envs []projections.Envelope
	var all []string
	for i := range 23 {
		id := fmt.Sprintf("tie-%02d", i)
		all = append(all, id)
		// Runs of 1, 2, 3, 4, 5, 8 payments at one instant.
		var at time.Time
		for k, end := range []int{1, 3, 6, 10, 15, 23} {
			if i < end {
				at = readmodeltest.At(time.Duration(k) * time.Second)
				break
			}
		}
		envs = append(envs, h.Envelope(domain.EscrowFunded{JobID: id, Payer: "w", Lamports: 1, DepositSignature: "d" + id, At: at}))
	}
	model := memory.New(memory.Config{})
	if err := model.Apply(t.Context(), envs, envs[len(envs)-1].Position); err != nil {
		t.Fatal(err)
	}
	x := newEnv(t, func(d *rest.Deps, _ *rest.Options) { d.Payments = model })
	for limit := 1; limit <= 10; limit++ {
		var ids []string
		payPages(x, limit, func(pg rest.PaymentListJSON) {
			for _, p := range pg.Payments {
				ids = append(ids, p.JobID)
			}
		})
		slices.Sort(ids)
		if !slices.Equal(ids, all) {
			t.Fatalf("limit %d: paged through %v; want every payment once", limit, ids)
		}
	}
}

// TestPaymentsPageStopsAtTheByteBudget: /api/payments stops a page before
// limits.max_reply_bytes (payments with the longest reasons, runs of ties
// among them) and hands out the cursor of the next; paging still returns
// every payment once.
func TestPaymentsPageStopsAtTheByteBudget(t *testing.T) {
	h := readmodeltest.NewHistory()
	var envs []projections.Envelope
	var all []string
	reason := strings.Repeat("r", domain.MaxPaymentReasonBytes)
	for i := range 23 {
		id := fmt.Sprintf("big-%02d", i)
		all = append(all, id)
		at := readmodeltest.At(time.Duration(i/3) * time.Second) // runs of 3 ties
		envs = append(envs, h.Envelope(domain.PaymentSkipped{JobID: id, Payer: "w", Reason: reason, At: at}))
	}
	model := memory.New(memory.Config{})
	if err := model.Apply(t.Context(), envs, envs[len(envs)-1].Position); err != nil {
		t.Fatal(err)
	}
	for _, budget := range []int{1, 4 << 10, 10 << 10} {
		x := newEnv(t, func(d *rest.Deps, o *rest.Options) { d.Payments, o.MaxReplyBytes = model, budget })
		var ids []string
		pages := 0
		payPages(x, 100, func(pg rest.PaymentListJSON) {
			pages++
			size := 0
			for _, p := range pg.Payments {
				ids = append(ids, p.JobID)
				b, _ := json.Marshal(p)
				size += len(b) + 1
			}
			if size > budget && len(pg.Payments) > 3 { // over the budget only for one run of ties
				t.Fatalf("budget %d: a page of %d payments holds %d bytes", budget, len(pg.Payments), size)
			}
		})
		slices.Sort(ids)
		if !slices.Equal(ids, all) {
			t.Fatalf("budget %d: paged through %v; want every payment once", budget, ids)
		}
		if pages < 3 {
			t.Fatalf("budget %d: %d pages of %d payments of over 1 KiB; want the pages cut by bytes", budget, pages, len(all))
		}
	}
}

// payPages reads /api/payments?limit=limit page by page to the last,
// passing each page to page.
func payPages(x *env, limit int, page func(rest.PaymentListJSON)) {
	x.t.Helper()
	cursor := ""
	for range 40 {
		path := fmt.Sprintf("/api/payments?limit=%d", limit)
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var pg rest.PaymentListJSON
		x.get(path, http.StatusOK, &pg)
		page(pg)
		if cursor = pg.NextCursor; cursor == "" {
			return
		}
	}
	x.t.Fatalf("/api/payments?limit=%d: no last page after 40", limit)
}

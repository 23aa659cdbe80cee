package rest_test

import (
	"net/http"
	"slices"
	"testing"

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
	cursor := ""
	for range 10 {
		path := "/api/payments?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var pg rest.PaymentListJSON
		x.get(path, http.StatusOK, &pg)
		for _, p := range pg.Payments {
			ids = append(ids, p.JobID)
			if p.Status == "refunded" && (p.RefundLamports != 250_000_000 || p.Reason != "job cancelled: typo" || p.SettledAt == nil) {
				t.Fatalf("pay-2 = %+v", p)
			}
		}
		if cursor = pg.NextCursor; cursor == "" {
			break
		}
	}
	if wantIDs := []string{"pay-7", "pay-6", "pay-4", "pay-1", "pay-5", "pay-2", "pay-3", "pay-8"}; !slices.Equal(ids, wantIDs) {
		t.Fatalf("payments %v; want %v", ids, wantIDs)
	}
}

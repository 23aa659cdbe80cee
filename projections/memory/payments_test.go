package memory_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// TestListPaymentsMatchesASort: the heap selection gives what sorting
// every payment would, with many ties, for every page size and bound.
func TestListPaymentsMatchesASort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := readmodeltest.NewHistory()
	var envs []projections.Envelope
	for i := range 400 {
		id := fmt.Sprintf("p-%03d", rng.IntN(1000)) // a few opened twice: ignored
		at := readmodeltest.At(time.Duration(rng.IntN(40)) * time.Second)
		envs = append(envs, h.Envelope(domain.EscrowFunded{JobID: id, Payer: "w", Lamports: uint64(i + 1), DepositSignature: "d", At: at}))
		if rng.IntN(3) == 0 {
			envs = append(envs, h.Envelope(domain.PaymentFailed{JobID: id, Reason: "x", At: at.Add(time.Duration(rng.IntN(3)) * time.Second)}))
		}
	}
	m := memory.New(memory.Config{})
	if err := m.Apply(t.Context(), envs, envs[len(envs)-1].Position); err != nil {
		t.Fatal(err)
	}
	every, err := m.ListPayments(t.Context(), "", projections.MaxPageSize, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	oracle := slices.Clone(every)
	rng.Shuffle(len(oracle), func(i, j int) { oracle[i], oracle[j] = oracle[j], oracle[i] })
	slices.SortFunc(oracle, func(a, b projections.PaymentView) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.JobID, a.JobID)
	})
	if !reflect.DeepEqual(every, oracle) || len(every) < 300 {
		t.Fatalf("ListPayments of %d payments is not in order", len(every))
	}
	for _, status := range []string{"", projections.PaymentFunded, projections.PaymentFailed} {
		for _, limit := range []int{1, 2, 7, 50, 1000} {
			for _, before := range []time.Time{{}, readmodeltest.At(20 * time.Second), readmodeltest.At(time.Second)} {
				var want []projections.PaymentView
				for _, p := range oracle {
					if (status == "" || p.Status == status) && (before.IsZero() || p.UpdatedAt.Before(before)) && len(want) < limit {
						want = append(want, p)
					}
				}
				got, err := m.ListPayments(t.Context(), status, limit, before)
				if err != nil || len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
					t.Fatalf("ListPayments(%q, %d, %v): %d payments (err %v), want %d", status, limit, before, len(got), err, len(want))
				}
			}
		}
	}
}

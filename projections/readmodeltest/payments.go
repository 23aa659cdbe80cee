package readmodeltest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// Wallets of the payment history.
const (
	WalletAlice = "wallet-alice"
	WalletBob   = "wallet-bob"
	WalletN1    = "wallet-n1" // node n1's, which also pays for a job of its own
	WalletN2    = "wallet-n2"
)

// PaymentHistory is a known settlement history and the payment views it
// must give, by job id. m(n) is T0 + n minutes, the events' own times.
//
//	pay-1  funded by alice 1.5 SOL, payout signed, re-signed, released
//	pay-2  funded by bob 0.25 SOL, refund signed, refunded
//	pay-3  skipped (chain disabled); alice offered 1 SOL
//	pay-4  funded by alice 2 SOL, payout signed to n2, failed on chain
//	pay-5  funded by bob 0.5 SOL (funded again by someone else: ignored)
//	pay-6  funded by n1's wallet, payout to n1's wallet signed
//	pay-7  funded by bob 0.1 SOL, refund signed, then failed
//	pay-8  skipped, with no time of its own (UpdatedAt = recorded time)
//
// plus a deposit claim, a job event and a payout of a payment never
// funded, which change no payment view.
func PaymentHistory() ([]projections.Envelope, map[string]projections.PaymentView) {
	h := NewHistory()
	m := func(n int) time.Time { return At(time.Duration(n) * time.Minute) }
	const sol = 1_000_000_000
	release := func(job, node, payee, sig string, payout, fee uint64, attempt int, at time.Time) domain.Event {
		return domain.PaymentReleaseSubmitted{JobID: job, NodeID: node, Payee: payee, Treasury: "wallet-treasury",
			PayoutLamports: payout, FeeLamports: fee, Memo: "cyxwiz job " + job, Signature: sig, Tx: []byte("signed bytes of " + sig),
			Transfers:            []domain.PaymentTransfer{{To: payee, Lamports: payout}, {To: "wallet-treasury", Lamports: fee}},
			LastValidBlockHeight: 150, Attempt: attempt, At: at}
	}
	events := []domain.Event{
		domain.JobSubmitted{JobID: "pay-1", Owner: "alice", Spec: JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceAny, 0), At: m(0)},
		domain.EscrowFunded{JobID: "pay-1", Payer: WalletAlice, EscrowAddress: "wallet-escrow", Lamports: 1_500_000_000,
			DepositLamports: 1_600_000_000, DepositSignature: "dep-1", DepositSlot: 7, At: m(1)}, // 1
		domain.DepositClaimed{Signature: "dep-1", JobID: "pay-1", Payer: WalletAlice, Lamports: 1_600_000_000, At: m(1)},
		domain.EscrowFunded{JobID: "pay-2", Payer: WalletBob, Lamports: sol / 4, DepositLamports: sol / 4, DepositSignature: "dep-2", At: m(2)}, // 3
		domain.PaymentSkipped{JobID: "pay-3", Reason: "blockchain disabled", Payer: WalletAlice, Lamports: sol, At: m(3)},                       // 4
		domain.EscrowFunded{JobID: "pay-4", Payer: WalletAlice, Lamports: 2 * sol, DepositLamports: 2 * sol, DepositSignature: "dep-4", At: m(4)},
		release("pay-1", "n1", WalletN1, "rel-1a", 1_350_000_000, 150_000_000, 1, m(5)),
		domain.RefundSubmitted{JobID: "pay-2", Payer: WalletBob, RefundLamports: sol / 4, Reason: "job cancelled: typo",
			Transfers: []domain.PaymentTransfer{{To: WalletBob, Lamports: sol / 4}}, Signature: "ref-2", Tx: []byte("x"), Attempt: 1, At: m(6)},
		domain.EscrowFunded{JobID: "pay-5", Payer: WalletBob, Lamports: sol / 2, DepositLamports: sol / 2, DepositSignature: "dep-5", At: m(8)}, // 8
		domain.PaymentRefunded{JobID: "pay-2", Signature: "ref-2", Confirmation: domain.ConfirmationFinalized, At: m(8)},                        // 9
		release("pay-1", "n1", WalletN1, "rel-1b", 1_350_000_000, 150_000_000, 2, m(9)),
		release("pay-4", "n2", WalletN2, "rel-4", 1_800_000_000, 200_000_000, 1, m(10)),
		domain.PaymentReleased{JobID: "pay-1", Signature: "rel-1b", Confirmation: domain.ConfirmationFinalized, At: m(11)}, // 12
		domain.PaymentFailed{JobID: "pay-4", Reason: "transaction failed on chain", Signature: "rel-4", At: m(12)},         // 13
		domain.EscrowFunded{JobID: "pay-6", Payer: WalletN1, Lamports: sol, DepositLamports: sol, DepositSignature: "dep-6", At: m(13)},
		release("pay-6", "n1", WalletN1, "rel-6", 900_000_000, 100_000_000, 1, m(14)), // 15
		domain.EscrowFunded{JobID: "pay-7", Payer: WalletBob, Lamports: sol / 10, DepositLamports: sol / 10, DepositSignature: "dep-7", At: m(15)},
		domain.RefundSubmitted{JobID: "pay-7", Payer: WalletBob, RefundLamports: sol / 10, Reason: "job failed: out of retries",
			Signature: "ref-7", Tx: []byte("y"), Attempt: 1, At: m(16)},
		domain.PaymentFailed{JobID: "pay-7", Reason: "refund failed on chain", At: m(17)},                                     // 18
		domain.PaymentReleased{JobID: "ghost", Signature: "rel-ghost", At: m(18)},                                             // never funded: ignored
		domain.EscrowFunded{JobID: "pay-5", Payer: "wallet-mallory", Lamports: 9 * sol, DepositSignature: "dep-x", At: m(19)}, // opened twice: ignored
		domain.PaymentSkipped{JobID: "pay-8", Reason: "unpaid job"},                                                           // 21
	}
	envs := h.Envelopes(events...)
	pos := func(i int) uint64 { return envs[i].Position }
	want := map[string]projections.PaymentView{
		"pay-1": {JobID: "pay-1", Status: projections.PaymentReleased, Amount: 1.5, Lamports: 1_500_000_000, Payer: WalletAlice,
			NodeID: "n1", Payee: WalletN1, PayoutLamports: 1_350_000_000, FeeLamports: 150_000_000, EscrowSignature: "dep-1",
			Signature: "rel-1b", CreatedAt: m(1), UpdatedAt: m(11), SettledAt: m(11), OpenedPosition: pos(1), Revision: 3, Position: pos(12)},
		"pay-2": {JobID: "pay-2", Status: projections.PaymentRefunded, Amount: 0.25, Lamports: sol / 4, Payer: WalletBob,
			RefundLamports: sol / 4, EscrowSignature: "dep-2", Signature: "ref-2", Reason: "job cancelled: typo",
			CreatedAt: m(2), UpdatedAt: m(8), SettledAt: m(8), OpenedPosition: pos(3), Revision: 2, Position: pos(9)},
		"pay-3": {JobID: "pay-3", Status: projections.PaymentSkipped, Amount: 1, Lamports: sol, Payer: WalletAlice,
			Reason: "blockchain disabled", CreatedAt: m(3), UpdatedAt: m(3), OpenedPosition: pos(4), Revision: 0, Position: pos(4)},
		"pay-4": {JobID: "pay-4", Status: projections.PaymentFailed, Amount: 2, Lamports: 2 * sol, Payer: WalletAlice,
			NodeID: "n2", Payee: WalletN2, PayoutLamports: 1_800_000_000, FeeLamports: 200_000_000, EscrowSignature: "dep-4",
			Signature: "rel-4", Reason: "transaction failed on chain", CreatedAt: m(4), UpdatedAt: m(12),
			OpenedPosition: pos(5), Revision: 2, Position: pos(13)},
		"pay-5": {JobID: "pay-5", Status: projections.PaymentFunded, Amount: 0.5, Lamports: sol / 2, Payer: WalletBob,
			EscrowSignature: "dep-5", CreatedAt: m(8), UpdatedAt: m(8), OpenedPosition: pos(8), Revision: 0, Position: pos(8)},
		"pay-6": {JobID: "pay-6", Status: projections.PaymentReleaseSubmitted, Amount: 1, Lamports: sol, Payer: WalletN1,
			NodeID: "n1", Payee: WalletN1, PayoutLamports: 900_000_000, FeeLamports: 100_000_000, EscrowSignature: "dep-6",
			Signature: "rel-6", CreatedAt: m(13), UpdatedAt: m(14), OpenedPosition: pos(14), Revision: 1, Position: pos(15)},
		"pay-7": {JobID: "pay-7", Status: projections.PaymentFailed, Amount: 0.1, Lamports: sol / 10, Payer: WalletBob,
			RefundLamports: sol / 10, EscrowSignature: "dep-7", Signature: "ref-7", Reason: "refund failed on chain",
			CreatedAt: m(15), UpdatedAt: m(17), OpenedPosition: pos(16), Revision: 2, Position: pos(18)},
		"pay-8": {JobID: "pay-8", Status: projections.PaymentSkipped, Reason: "unpaid job",
			CreatedAt: envs[21].Recorded, UpdatedAt: envs[21].Recorded, OpenedPosition: pos(21), Revision: 0, Position: pos(21)},
	}
	return envs, want
}

// NormPayment returns v with its times in UTC, for reflect.DeepEqual.
func NormPayment(v projections.PaymentView) projections.PaymentView {
	v.CreatedAt, v.UpdatedAt, v.SettledAt = normTime(v.CreatedAt), normTime(v.UpdatedAt), normTime(v.SettledAt)
	return v
}

func diffPayments(t *testing.T, what string, got []projections.PaymentView, want ...projections.PaymentView) {
	t.Helper()
	g := make([]projections.PaymentView, len(got))
	for i := range got {
		g[i] = NormPayment(got[i])
	}
	w := make([]projections.PaymentView, len(want))
	for i := range want {
		w[i] = NormPayment(want[i])
	}
	if !reflect.DeepEqual(g, w) {
		var b strings.Builder
		for i := range max(len(g), len(w)) {
			var gi, wi any = "-", "-"
			if i < len(g) {
				gi = g[i]
			}
			if i < len(w) {
				wi = w[i]
			}
			fmt.Fprintf(&b, "\n %d:  got %+v\n    want %+v", i, gi, wi)
		}
		t.Fatalf("%s: %d payments, want %d:%s", what, len(g), len(w), b.String())
	}
}

func testPaymentsEmpty(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	envs, _ := activityHistory() // a job completed and one cancelled: no payment event
	apply(t, m, envs...)
	for _, status := range append([]string{""}, projections.PaymentStatuses...) {
		got, err := m.ListPayments(ctx(t), status, 10, time.Time{})
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("ListPayments(%q) = %v, err %v; want an empty list", status, got, err)
		}
	}
	if got, err := m.ListPayments(ctx(t), "", 0, T0); err != nil || len(got) != 0 {
		t.Fatalf("ListPayments before T0 = %v, err %v; want an empty list", got, err)
	}
	if _, err := m.ListPayments(ctx(t), "paid", 10, time.Time{}); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("ListPayments of an unknown status: err %v, want ErrInvalidArgument", err)
	}
	if got, total, err := m.WalletPayments(ctx(t), WalletAlice, 10, 0); err != nil || len(got) != 0 || total != 0 {
		t.Fatalf("WalletPayments of an empty model = %v, %d, %v; want nothing", got, total, err)
	}
}

// testPayments folds the known history in batches of every size, and
// again (a replayed batch), and lists every payment.
func testPayments(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	envs, want := PaymentHistory()
	order := []string{"pay-7", "pay-6", "pay-4", "pay-1", "pay-5", "pay-2", "pay-3", "pay-8"} // UpdatedAt desc, then job id desc
	views := func(ids ...string) []projections.PaymentView {
		out := make([]projections.PaymentView, len(ids))
		for i, id := range ids {
			out[i] = want[id]
		}
		return out
	}
	for _, tc := range []struct {
		name string
		feed func(*testing.T, projections.ReadModel)
	}{
		{"one batch", func(t *testing.T, m projections.ReadModel) { apply(t, m, envs...) }},
		{"batches of every size", func(t *testing.T, m projections.ReadModel) { applyInBatches(t, m, envs) }},
		{"one event a batch, then all again", func(t *testing.T, m projections.ReadModel) {
			for i := range envs {
				apply(t, m, envs[i])
			}
			apply(t, m, envs...) // below the checkpoint: changes nothing
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t)
			tc.feed(t, m)
			got, err := m.ListPayments(ctx(t), "", 100, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			diffPayments(t, "ListPayments", got, views(order...)...)
		})
	}

	m := newModel(t)
	applyInBatches(t, m, envs)
	tests := []struct {
		name   string
		status string
		limit  int
		before time.Time
		want   []string
	}{
		{"a page", "", 2, time.Time{}, order[:2]},
		{"before excludes its own time", "", 100, want["pay-1"].UpdatedAt, order[4:]},
		{"before a tie", "", 100, want["pay-5"].UpdatedAt.Add(time.Millisecond), order[4:]},
		{"released", projections.PaymentReleased, 10, time.Time{}, []string{"pay-1"}},
		{"failed", projections.PaymentFailed, 10, time.Time{}, []string{"pay-7", "pay-4"}},
		{"skipped", projections.PaymentSkipped, 10, time.Time{}, []string{"pay-3", "pay-8"}},
		{"funded", projections.PaymentFunded, 10, time.Time{}, []string{"pay-5"}},
		{"release submitted", projections.PaymentReleaseSubmitted, 10, time.Time{}, []string{"pay-6"}},
		{"refund submitted: none", projections.PaymentRefundSubmitted, 10, time.Time{}, nil},
		{"a status and before", projections.PaymentFailed, 10, want["pay-7"].UpdatedAt, []string{"pay-4"}},
		{"the default page", "", 0, time.Time{}, order},
	}
	for _, tc := range tests {
		got, err := m.ListPayments(ctx(t), tc.status, tc.limit, tc.before)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		diffPayments(t, tc.name, got, views(tc.want...)...)
	}

	// The activity log names the payment's job (and the node paid).
	lines, err := m.RecentActivity(ctx(t), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range lines {
		if a.Event == "PaymentReleaseSubmitted" && a.JobID == "pay-4" {
			found = a.NodeID == "n2" && strings.Contains(a.Summary, "payout signed: 1.8 SOL to node n2, fee 0.2 SOL")
			if !found {
				t.Fatalf("activity line of pay-4's payout: %+v", a)
			}
		}
	}
	if !found {
		t.Fatal("no activity line for pay-4's payout")
	}
}

// testPaymentsPaging walks ListPayments with before = the last UpdatedAt
// of the previous page, over payments that share update times.
func testPaymentsPaging(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	var envs []projections.Envelope
	for i := range 30 {
		envs = append(envs, h.Envelope(domain.EscrowFunded{JobID: fmt.Sprintf("page-%02d", i), Payer: WalletBob,
			Lamports: uint64(i + 1), DepositSignature: fmt.Sprintf("dep-%02d", i), At: At(time.Duration(i) * time.Second)}))
	}
	apply(t, m, envs...)
	var seen []string
	before := time.Time{}
	for range 40 {
		page, err := m.ListPayments(ctx(t), "", 7, before)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			seen = append(seen, p.JobID)
		}
		before = page[len(page)-1].UpdatedAt
	}
	if len(seen) != 30 || seen[0] != "page-29" || seen[29] != "page-00" {
		t.Fatalf("paged through %v; want page-29 … page-00", seen)
	}
}

// testWalletPayments lists each wallet's history of PaymentHistory.
func testWalletPayments(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	envs, want := PaymentHistory()
	m := newModel(t)
	applyInBatches(t, m, envs)
	type entry struct {
		job  string
		role projections.PaymentRole
	}
	payer, payee := projections.RolePayer, projections.RolePayee
	tests := []struct {
		name          string
		wallet        string
		limit, offset int
		want          []entry
		total         int
	}{
		{"alice: her deposits, not the skipped one", WalletAlice, 10, 0, []entry{{"pay-4", payer}, {"pay-1", payer}}, 2},
		{"bob", WalletBob, 10, 0, []entry{{"pay-7", payer}, {"pay-5", payer}, {"pay-2", payer}}, 3},
		{"bob, a page", WalletBob, 2, 1, []entry{{"pay-5", payer}, {"pay-2", payer}}, 3},
		{"bob, the last page", WalletBob, 2, 2, []entry{{"pay-2", payer}}, 3},
		{"bob, past the end", WalletBob, 2, 3, nil, 3},
		{"bob, far past the end", WalletBob, 2, 1000, nil, 3},
		{"n1 pays itself, payer first", WalletN1, 10, 0, []entry{{"pay-6", payer}, {"pay-6", payee}, {"pay-1", payee}}, 3},
		{"n1 from the middle of a payment", WalletN1, 1, 1, []entry{{"pay-6", payee}}, 3},
		{"n2: a failed payout", WalletN2, 0, 0, []entry{{"pay-4", payee}}, 1},
		{"a wallet ignored (opened twice)", "wallet-mallory", 10, 0, nil, 0},
		{"an unknown wallet", "wallet-nobody", 10, 0, nil, 0},
		{"no wallet", "", 10, 0, nil, 0},
	}
	for _, tc := range tests {
		got, total, err := m.WalletPayments(ctx(t), tc.wallet, tc.limit, tc.offset)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if total != tc.total {
			t.Fatalf("%s: total %d, want %d", tc.name, total, tc.total)
		}
		var gotE []entry
		for _, e := range got {
			gotE = append(gotE, entry{e.Payment.JobID, e.Role})
			if w := want[e.Payment.JobID]; !reflect.DeepEqual(NormPayment(e.Payment), NormPayment(w)) {
				t.Fatalf("%s: payment %+v\nwant %+v", tc.name, e.Payment, w)
			}
		}
		if !reflect.DeepEqual(gotE, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, gotE, tc.want)
		}
	}
	if _, _, err := m.WalletPayments(ctx(t), WalletBob, 10, -1); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("a negative offset: err %v, want ErrInvalidArgument", err)
	}
}

// RealisticPaid is Realistic(n, nodes, seed) with the settlement of every
// job, as the saga records it, after the job event that causes it: three
// jobs in four funded by their owner's wallet ("wallet-<owner>") at
// submission, the others skipped; a completed job's payout (90 % to
// "wallet-<node>", 10 % fee; every fifth re-signed once) then released; a
// failed or cancelled job's refund then refunded, or failed (every
// seventh). Payments of jobs still open stay funded. Positions and
// recorded times are renumbered.
func RealisticPaid(n, nodes int, seed uint64) []projections.Envelope {
	h := NewHistory()
	src := Realistic(n, nodes, seed)
	out := make([]projections.Envelope, 0, len(src)+len(src)/4)
	type paid struct {
		payer    string
		lamports uint64
		index    int
	}
	funded := map[string]paid{}
	add := func(e domain.Event) { out = append(out, h.Envelope(e)) }
	jobs := 0
	for _, env := range src {
		add(env.Event)
		switch ev := env.Event.(type) {
		case domain.JobSubmitted:
			jobs++
			lamports := uint64(jobs%9+1) * 100_000_000
			if jobs%4 == 0 {
				add(domain.PaymentSkipped{JobID: ev.JobID, Reason: "blockchain disabled", Payer: "wallet-" + ev.Owner, Lamports: lamports, At: ev.At})
				continue
			}
			p := paid{payer: "wallet-" + ev.Owner, lamports: lamports, index: jobs}
			funded[ev.JobID] = p
			add(domain.EscrowFunded{JobID: ev.JobID, Payer: p.payer, EscrowAddress: "wallet-escrow", Lamports: lamports,
				DepositLamports: lamports, DepositSignature: "dep-" + ev.JobID, At: ev.At})
		case domain.JobCompleted:
			p, ok := funded[ev.JobID]
			if !ok {
				continue
			}
			fee := p.lamports / 10
			release := domain.PaymentReleaseSubmitted{JobID: ev.JobID, NodeID: ev.NodeID, Payee: "wallet-" + ev.NodeID,
				Treasury: "wallet-treasury", PayoutLamports: p.lamports - fee, FeeLamports: fee, Signature: "rel-" + ev.JobID,
				Tx: []byte{1, 2, 3}, LastValidBlockHeight: 150, Attempt: 1, At: ev.At}
			add(release)
			if p.index%5 == 0 {
				release.Attempt, release.Replaces, release.Signature = 2, release.Signature, "rel2-"+ev.JobID
				add(release)
			}
			add(domain.PaymentReleased{JobID: ev.JobID, Signature: release.Signature, Confirmation: domain.ConfirmationFinalized, At: ev.At})
		case domain.JobFailed, domain.JobCancelled:
			id, _ := projections.JobIDOf(ev)
			at := env.Recorded
			if f, ok := ev.(domain.JobFailed); ok {
				at = f.At
			} else if c, ok := ev.(domain.JobCancelled); ok {
				at = c.At
			}
			p, ok := funded[id]
			if !ok {
				continue
			}
			add(domain.RefundSubmitted{JobID: id, Payer: p.payer, RefundLamports: p.lamports, Reason: ev.EventName(),
				Signature: "ref-" + id, Tx: []byte{4}, Attempt: 1, At: at})
			if p.index%7 == 0 {
				add(domain.PaymentFailed{JobID: id, Reason: "refund failed on chain", Signature: "ref-" + id, At: at})
			} else {
				add(domain.PaymentRefunded{JobID: id, Signature: "ref-" + id, Confirmation: domain.ConfirmationConfirmed, At: at})
			}
		}
	}
	return out
}

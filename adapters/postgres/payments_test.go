package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// TestPaymentRows: the known settlement history gives the rows a person
// querying the table expects, the same whatever the batches; Diff (what
// `replay --verify` runs) and Dump cover every payment column.
func TestPaymentRows(t *testing.T) {
	ctx := context.Background()
	envs, _ := readmodeltest.PaymentHistory()
	a, b := newTestModel(t), newTestModel(t)
	applyBatches(t, a, envs, 1)
	applyBatches(t, b, envs, len(envs))
	mustEqual(t, "one event a batch and one batch", a, b)

	q := func(sql string) string {
		t.Helper()
		var s string
		if err := a.Pool().QueryRow(ctx, sql).Scan(&s); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return s
	}
	checks := []struct{ sql, want string }{
		{`SELECT string_agg(job_id || ':' || status, ' ' ORDER BY job_id) FROM payments`,
			"pay-1:released pay-2:refunded pay-3:skipped pay-4:failed pay-5:funded pay-6:release_submitted pay-7:failed pay-8:skipped"},
		{`SELECT amount || ' ' || lamports || ' ' || payer || ' ' || node_id || ' ' || payee || ' ' || payout_lamports || ' ' ||
			fee_lamports || ' ' || refund_lamports || ' ' || escrow_signature || ' ' || signature || ' ' || opened_position || ' ' ||
			revision || ' ' || position FROM payments WHERE job_id = 'pay-1'`,
			"1.5 1500000000 wallet-alice n1 wallet-n1 1350000000 150000000 0 dep-1 rel-1b 2 3 13"},
		{`SELECT to_char(created_at, 'HH24:MI:SS') || ' ' || to_char(updated_at, 'HH24:MI:SS') || ' ' || to_char(settled_at, 'HH24:MI:SS')
			FROM payments WHERE job_id = 'pay-2'`, "15:11:26 15:17:26 15:17:26"},
		{`SELECT reason || ' / ' || (settled_at IS NULL) FROM payments WHERE job_id = 'pay-7'`, "refund failed on chain / true"},
		{`SELECT count(*)::text FROM payments WHERE payee = 'wallet-n1'`, "2"},
	}
	for _, c := range checks {
		if got := q(c.sql); got != c.want {
			t.Errorf("%s\n got %q\nwant %q", strings.Join(strings.Fields(c.sql), " "), got, c.want)
		}
	}

	var dump strings.Builder
	if err := Dump(ctx, a, &dump); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), `payments job_id="pay-6" status="release_submitted" amount="1" payer="wallet-n1" payee="wallet-n1" signature="rel-6"`) ||
		!strings.Contains(dump.String(), `fee_lamports="100000000"`) {
		t.Fatalf("Dump lacks pay-6's row:\n%s", dump.String())
	}

	for _, tamper := range []struct{ sql, want string }{
		{`UPDATE payments SET signature = 'forged' WHERE job_id = 'pay-1'`, `payments[job_id="pay-1"]: signature = rel-1b, forged`},
		{`UPDATE payments SET fee_lamports = 0 WHERE job_id = 'pay-4'`, `payments[job_id="pay-4"]: fee_lamports = 200000000, 0`},
		{`DELETE FROM payments WHERE job_id = 'pay-8'`, `payments[job_id="pay-8"]: only in the first model`},
	} {
		if _, err := b.Pool().Exec(ctx, tamper.sql); err != nil {
			t.Fatal(err)
		}
		diffs, err := Diff(ctx, a, b)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range diffs {
			found = found || d == tamper.want
		}
		if !found {
			t.Fatalf("after %s, Diff reports:\n%s\nwant %q", tamper.sql, joinLines(diffs), tamper.want)
		}
	}
}

// TestPaymentsMigrationDown: 00003 rolls back to the payments table of
// 00001 and forward again.
func TestPaymentsMigrationDown(t *testing.T) {
	ctx := context.Background()
	m := newTestModel(t)
	columns := func() int {
		t.Helper()
		var n int
		if err := m.Pool().QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'payments'`,
			m.Schema()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := columns(); n != 19 {
		t.Fatalf("payments has %d columns after the migrations, want 19", n)
	}
	p, done, err := m.provider()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if _, err := p.DownTo(ctx, 2); err != nil {
		t.Fatalf("down to 2: %v", err)
	}
	if n := columns(); n != 8 {
		t.Fatalf("payments has %d columns after rolling 00003 back, want 8", n)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if n := columns(); n != 19 {
		t.Fatalf("payments has %d columns after migrating again, want 19", n)
	}
}
